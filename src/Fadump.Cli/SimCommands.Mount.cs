using System.CommandLine;
using System.Runtime.InteropServices;
using Fadump.Cli.Mount;
using Fadump.Formats.IO;

namespace Fadump.Cli;

internal static partial class SimCommands
{
    /// <summary>`fadump sim mount DIR [machine options]`: the simulated machine's /proc, /sys and /dev/mem as a FUSE mount.</summary>
    private static Command Mount(TextWriter stdout, TextWriter stderr)
    {
        var m = new MachineOptions(RunMemory);
        var dir = new Argument<string>("DIR") { Description = "an empty directory to mount the machine on (DIR/proc, DIR/sys, DIR/dev)" };
        var cmd = new Command("mount", "Mount a simulated machine over FUSE: DIR/proc, DIR/sys and DIR/dev/mem as its running kernel serves them; `echo c > DIR/proc/sysrq-trigger` crashes it into the capture kernel. Runs until Ctrl-C, SIGTERM or `fusermount3 -u DIR`") { dir };
        m.AddTo(cmd);
        cmd.SetAction(p => RunMount(Path.GetFullPath(p.GetValue(dir)!), m.Options(p), stderr));
        return cmd;
    }

    private static int RunMount(string dir, Simulation.DemoOptions options, TextWriter stderr)
    {
        if (MountCheck(dir) is { } refusal)
        {
            stderr.WriteLine("fadump: sim mount: " + refusal);
            return FadumpCommand.ExitFailure;
        }

        MountedMachine machine;
        try
        {
            machine = MountedMachine.Boot(options);
        }
        catch (Kernel.KernelPanicException e)
        {
            stderr.WriteLine("fadump: the simulated kernel did not boot: " + e.Message);
            return FadumpCommand.ExitFailure;
        }

        bool poweredOff = false;
        var tree = new KernelTree(() => machine.Kernel, (_, _) => stderr.WriteLine("fadump: " + machine.State()), () => machine.PoweredOff, () =>
        {
            poweredOff = true;
            stderr.WriteLine("fadump: the machine powered off (sysrq o); unmounting");
            // From another thread: the unmount waits for the write in progress, which runs on a FUSE worker.
            ThreadPool.QueueUserWorkItem(_ => FuseHost.RequestUnmount());
        }, stderr);
        string[] fuseOptions =
        [
            "fsname=fadump", "subtype=fadump", "default_permissions", "auto_unmount",
            "attr_timeout=1", "entry_timeout=0", "negative_timeout=0",
        ];
        int signal = 0;
        var registrations = new List<PosixSignalRegistration>();
        foreach (var (sig, number) in (ReadOnlySpan<(PosixSignal, int)>)[(PosixSignal.SIGINT, 2), (PosixSignal.SIGTERM, 15), (PosixSignal.SIGHUP, 1)])
        {
            registrations.Add(PosixSignalRegistration.Create(sig, ctx =>
            {
                ctx.Cancel = true;
                Interlocked.CompareExchange(ref signal, number, 0);
                FuseHost.RequestUnmount();
            }));
        }

        try
        {
            bool served = FuseHost.Serve(tree, dir, fuseOptions, () =>
                stderr.WriteLine($"fadump: mounted the {machine.Description} on {dir}; {machine.State()}. fusermount3 -u {dir}, Ctrl-C or SIGTERM unmounts it"),
                out string? error);
            if (!served)
            {
                stderr.WriteLine($"fadump: sim mount: {dir}: {error}");
                return FadumpCommand.ExitFailure;
            }
        }
        catch (DllNotFoundException)
        {
            stderr.WriteLine($"fadump: sim mount needs libfuse3 ({LibFuse.Library}; Debian: apt-get install fuse3)");
            return FadumpCommand.ExitFailure;
        }
        finally
        {
            foreach (var r in registrations)
            {
                r.Dispose();
            }
        }

        stderr.WriteLine($"fadump: unmounted {dir}" + (signal != 0 ? $" ({Signals.Name(signal)})" : poweredOff ? " (powered off)" : ""));
        return FadumpCommand.ExitOk;
    }

    /// <summary>Why DIR cannot take the mount (null: it can): missing, not a directory, already a mount point, not empty, no /dev/fuse.</summary>
    private static string? MountCheck(string dir)
    {
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux) || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            return "FUSE mounts are built for Linux on x86_64 only (the binding lays out struct stat as x86_64 does)";
        }

        if (MountPoints().Contains(dir))
        {
            return $"{dir} is already a mount point; unmount it first (fusermount3 -u {dir}, or fusermount3 -u -z {dir} if its server is gone)";
        }

        switch (PosixFile.Kind(dir, followSymlinks: true))
        {
            case FileKind.Missing:
                return $"{dir}: No such file or directory";
            case FileKind.Directory:
                break;
            default:
                return $"{dir}: Not a directory";
        }

        if (Directory.EnumerateFileSystemEntries(dir).Any())
        {
            return $"{dir} is not empty: the mount would hide what is in it";
        }

        if (PosixFile.Kind("/dev/fuse", followSymlinks: true) is not FileKind.CharacterDevice)
        {
            return "/dev/fuse is missing: load the fuse module (modprobe fuse) or, in a container, pass the device in (--device /dev/fuse)";
        }

        return null;
    }

    /// <summary>The mount points of this mount namespace (/proc/self/mountinfo's fifth field, octal escapes undone).</summary>
    private static HashSet<string> MountPoints()
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            foreach (string line in File.ReadLines("/proc/self/mountinfo"))
            {
                var fields = line.Split(' ');
                if (fields.Length > 4)
                {
                    set.Add(System.Text.RegularExpressions.Regex.Replace(fields[4], @"\\([0-7]{3})", x => ((char)Convert.ToInt32(x.Groups[1].Value, 8)).ToString()));
                }
            }
        }
        catch (IOException)
        {
        }

        return set;
    }
}
