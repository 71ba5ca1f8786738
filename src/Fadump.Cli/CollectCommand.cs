using System.CommandLine;
using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;

namespace Fadump.Cli;

/// <summary>
/// <c>fadump collect [--root DIR] [--config FILE] [--error-handler]</c>: the dump service (DESIGN.md §4). Exit
/// status 0 when there was nothing to collect or the dump was saved, verified, released and re-armed; 1
/// otherwise; 128 + the signal when SIGINT, SIGTERM or SIGHUP stopped it (after the failure action).
/// </summary>
internal static class CollectCommand
{
    public const string DefaultConfig = "/etc/kdump.conf";

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var root = new Option<string>("--root") { HelpName = "DIR", Description = "the root holding proc/ and sys/ of the capture kernel; unless it is /, the final and failure actions act on the machine behind it (reboot: echo b > DIR/proc/sysrq-trigger)", DefaultValueFactory = _ => "/" };
        var config = new Option<string?>("--config") { HelpName = "FILE", Description = $"kdump.conf to read (default {DefaultConfig}; kdump-utils' defaults when it does not exist)" };
        var printActions = new Option<bool>("--print-actions") { Description = "print the failure and final actions instead of executing them" };
        var sshOptions = new Option<string[]>("--ssh-option") { HelpName = "OPTION", Description = "an ssh -o option (Port=2222, UserKnownHostsFile=...), before the service's own; repeatable" };
        var errorHandler = new Option<bool>("--error-handler")
        {
            Description = "what kdump-utils' kdump-error-handler does when the dump service died (OnFailure=): kdump_post 1, failure_action, final_action",
        };
        var rootFs = new Option<string>("--rootfs")
        {
            HelpName = "DIR",
            Description = "the root file system failure_action dump_to_rootfs saves under (kdump-utils mounts it on /sysroot)",
            DefaultValueFactory = _ => "/",
        };
        var releaseChunk = new Option<string?>("--release-chunk")
        {
            HelpName = "SIZE",
            Description = "phyp dump: give the reserved memory back through release_region in chunks of SIZE (K/M/G suffixes; default 1G)",
        };
        var syncEvery = new Option<string?>("--sync-every")
        {
            HelpName = "SIZE",
            Description = "fsync the output and report how far it is durable every SIZE written (default 64M); phyp dump releases what is durable",
        };
        var cmd = new Command("collect", "The dump service: save vmcore-dmesg.txt and the vmcore as kdump.conf says, verify, release the memory, re-register, then the final action")
        {
            root, config, printActions, sshOptions, errorHandler, rootFs, releaseChunk, syncEvery,
        };

        // makedumpfile's options, out of habit on collect's command line: not in the help, and refused with what to do.
        var makedumpfileFlags = new[] { "-c", "-l", "-p", "-z", "-E", "-F" }.Select(n => new Option<bool>(n) { Hidden = true }).ToList();
        var makedumpfileLevel = new Option<string?>("-d") { HelpName = "LEVEL", Hidden = true };
        makedumpfileFlags.ForEach(cmd.Options.Add);
        cmd.Options.Add(makedumpfileLevel);
        cmd.SetAction(p =>
        {
            RefuseMakedumpfileOptions([.. makedumpfileFlags.Where(o => p.GetValue(o)).Select(o => o.Name), .. p.GetValue(makedumpfileLevel) is { } d ? [$"-d {d}"] : Array.Empty<string>()]);
            // SIGINT, SIGTERM, SIGHUP stop the save, which keeps its -incomplete name, and the failure action
            // runs; the exit status is then 128 + the signal. SIGKILL leaves that to --error-handler.
            using var cooperate = Signals.Cooperate();

            // Usage errors first: nothing runs, not even the failure action, on a command line that is wrong.
            long chunk = PositiveSize(p.GetValue(releaseChunk), (long)PhypReleaser.DefaultChunkBytes, "--release-chunk");
            long sync = PositiveSize(p.GetValue(syncEvery), 64L << 20, "--sync-every");
            string rootDir = p.GetValue(root)!;
            var rootKind = Fadump.Formats.IO.PosixFile.Kind(rootDir, followSymlinks: true);
            if (rootKind != Fadump.Formats.IO.FileKind.Directory)
            {
                stderr.WriteLine(rootKind == Fadump.Formats.IO.FileKind.Missing
                    ? $"fadump: {rootDir}: No such file or directory"
                    : $"fadump: {rootDir}: Not a directory (--root is {Fadump.Formats.IO.PosixFile.Describe(rootKind)})");
                return FadumpCommand.ExitFailure;
            }

            // The actions act on the machine behind the root: the host itself for /, else through the root's sysrq-trigger.
            bool hostRoot = Path.GetFullPath(rootDir) == "/";
            IActionRunner actions = p.GetValue(printActions) ? new PrintingActionRunner(stdout, hostRoot ? null : a => SysrqActionRunner.Command(rootDir, a))
                : hostRoot ? new SystemActionRunner(stdout)
                : new SysrqActionRunner(new DirectorySysroot(rootDir), stdout);
            KdumpConfig cfg;
            try
            {
                cfg = LoadConfig(p.GetValue(config), stdout);
            }
            catch (Exception e) when (e is KdumpConfigException or IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"fadump: {(e is KdumpConfigException ? e.Message : FadumpCommand.Describe(e))}");
                return UnusableConfig(new DirectorySysroot(rootDir), actions, stdout, stderr);
            }

            var service = new CollectService(cfg, new CollectOptions
            {
                Actions = actions,
                Log = stdout,
                SshOptions = p.GetValue(sshOptions) ?? [],
                RootFs = p.GetValue(rootFs)!,
                CancellationToken = Signals.Token,
                ReleaseChunkBytes = (ulong)chunk,
                Writer = new DumpSaverWriter { DurableReportBytes = sync },
            });
            var sysroot = new DirectorySysroot(rootDir);
            var result = p.GetValue(errorHandler) ? service.RunErrorHandler(sysroot) : service.Run(sysroot);
            foreach (var e in result.Errors)
            {
                stderr.WriteLine($"fadump: {e}");
            }

            return result.ExitCode;
        });
        return cmd;
    }

    /// <summary>
    /// makedumpfile options given to collect (fadump collect -c -l): a usage error. Two compressions, or -E with one,
    /// get fadump save's own message for them; anything else, where such options go (kdump.conf's core_collector).
    /// </summary>
    private static void RefuseMakedumpfileOptions(IReadOnlyList<string> given)
    {
        if (given.Count == 0)
        {
            return;
        }

        int compressions = given.Count(n => n is "-c" or "-l" or "-p" or "-z");
        string options = string.Join(' ', given);
        if (compressions > 1)
        {
            throw new UsageException(CoreCollectorParser.MixedCompression);
        }

        if (compressions == 1 && given.Contains("-E"))
        {
            throw new UsageException(CoreCollectorParser.ElfCompressed);
        }

        throw new UsageException($"{options}: collect reads makedumpfile's options from kdump.conf: give them on its core_collector line (core_collector makedumpfile {options})");
    }

    /// <summary>
    /// kdump.conf cannot be read. With no dump under the root (someone testing a config on a running system)
    /// that is the whole story: exit 1. With one, the dump service may still not end without a way out: it runs
    /// kdump-utils' defaults, failure_action reboot (then nothing: the machine reboots); the memory still holds
    /// the dump, which the next capture kernel boot with a mended kdump.conf can save.
    /// </summary>
    private static long PositiveSize(string? text, long fallback, string option)
    {
        if (text is null)
        {
            return fallback;
        }

        long v = Sizes.Parse(text);
        return v > 0 ? v : throw new UsageException($"{option} {text}: expected a size above 0");
    }

    private static int UnusableConfig(ISysroot root, IActionRunner actions, TextWriter stdout, TextWriter stderr)
    {
        DetectedDump detected;
        try
        {
            detected = DumpDetector.Detect(root);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            detected = new DetectedDump(DumpMechanism.None, e.Message);
        }

        if (detected.Mechanism == DumpMechanism.None)
        {
            return FadumpCommand.ExitFailure;
        }

        stdout.WriteLine(detected.Reason);
        stderr.WriteLine("fadump: kdump.conf is unusable: the dump is not saved; executing kdump-utils' default failure_action reboot");
        try
        {
            actions.Run(SystemAction.Reboot, "failure_action, the default");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
        {
            stderr.WriteLine($"fadump: failure_action reboot failed: {e.Message}");
        }

        return FadumpCommand.ExitFailure;
    }

    private static KdumpConfig LoadConfig(string? path, TextWriter log)
    {
        if (path is not null)
        {
            return KdumpConfigParser.ParseFile(path);
        }

        if (File.Exists(DefaultConfig))
        {
            return KdumpConfigParser.ParseFile(DefaultConfig);
        }

        log.WriteLine($"{DefaultConfig} not found: using kdump-utils' defaults (path {KdumpConfig.DefaultPath}, core_collector {KdumpConfig.DefaultCoreCollector})");
        return new KdumpConfig();
    }
}
