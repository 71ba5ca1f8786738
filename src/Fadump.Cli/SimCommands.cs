using System.CommandLine;
using Fadump.Cli.Simulation;
using Fadump.Firmware.Rtas;
using Fadump.Kernel;
using Fadump.Machine;
using Fadump.Kernel.Platforms;

namespace Fadump.Cli;

/// <summary>`fadump demo` and `fadump sim run`: the simulated pSeries LPAR through a whole FADump lifecycle.</summary>
internal static class SimCommands
{
    private sealed class MachineOptions
    {
        public Option<string> Platform { get; } = new("--platform") { Description = "pseries (powernv, power6 and x86_64 are not simulated yet)", DefaultValueFactory = _ => "pseries" };

        public Option<string> Memory { get; } = new("--memory") { Description = "RAM size (K/M/G/T suffixes)", DefaultValueFactory = _ => "64G" };

        public Option<int> Cpus { get; } = new("--cpus") { Description = "number of CPUs", DefaultValueFactory = _ => 16 };

        public Option<string> Cmdline { get; } = new("--cmdline") { Description = "kernel command line", DefaultValueFactory = _ => "root=/dev/sda2 fadump=on" };

        public Option<string> Workload { get; } = new("--workload") { Description = "database or idle", DefaultValueFactory = _ => "database" };

        public Option<ulong> Seed { get; } = new("--seed") { Description = "seed of the procedural memory contents", DefaultValueFactory = _ => 42UL };

        public Option<string[]> Holes { get; } = new("--hole") { Description = "a memory hole START:SIZE (repeatable)", AllowMultipleArgumentsPerToken = false };

        public Option<string[]> ReservedRanges { get; } = new("--reserved-range") { Description = "firmware reserved-range START:SIZE (repeatable)" };

        public void AddTo(Command c)
        {
            c.Options.Add(Platform);
            c.Options.Add(Memory);
            c.Options.Add(Cpus);
            c.Options.Add(Cmdline);
            c.Options.Add(Workload);
            c.Options.Add(Seed);
            c.Options.Add(Holes);
            c.Options.Add(ReservedRanges);
        }

        public LparSpec Build(ParseResult p)
        {
            string platform = p.GetValue(Platform)!;
            if (platform != "pseries")
            {
                throw new UsageException($"platform '{platform}' is not simulated yet: only pseries is");
            }

            long mem = Sizes.Parse(p.GetValue(Memory)!);
            if (mem < (256L << 20) || mem > (64L << 40) || mem % (64 << 10) != 0)
            {
                throw new UsageException("--memory must be a multiple of 64K between 256M and 64T");
            }

            int cpus = p.GetValue(Cpus);
            if (cpus is < 1 or > 2048)
            {
                throw new UsageException("--cpus must be between 1 and 2048");
            }

            var spec = new LparSpec
            {
                MemoryBytes = (ulong)mem,
                Cpus = cpus,
                CommandLine = p.GetValue(Cmdline)!,
                Workload = p.GetValue(Workload) is "database" or "idle" ? p.GetValue(Workload)! : throw new UsageException("--workload must be database or idle"),
                Seed = p.GetValue(Seed),
                Holes = Ranges(p.GetValue(Holes)),
                Firmware = new RtasOptions { ReservedRanges = Ranges(p.GetValue(ReservedRanges)) },
            };
            if (spec.Validate() is { } error)
            {
                throw new UsageException(error);
            }

            return spec;
        }

        private static List<MemoryRange> Ranges(string[]? specs)
        {
            var list = new List<MemoryRange>();
            foreach (var s in specs ?? [])
            {
                var parts = s.Split(':');
                if (parts.Length != 2)
                {
                    throw new UsageException($"'{s}' is not START:SIZE");
                }

                long start = Sizes.Parse(parts[0]), size = Sizes.Parse(parts[1]);
                if (start % (64 << 10) != 0 || size % (64 << 10) != 0 || size == 0)
                {
                    throw new UsageException($"'{s}': START and SIZE must be non-zero multiples of 64K (the kernel's page size)");
                }

                list.Add(new MemoryRange((ulong)start, (ulong)size));
            }

            return list;
        }
    }

    public static IEnumerable<Command> All(TextWriter stdout, TextWriter stderr)
    {
        yield return Demo(stdout, stderr);
        var sim = new Command("sim", "The simulated platform");
        sim.Subcommands.Add(Run(stdout, stderr));
        yield return sim;
    }

    private static CrashKind ParseCrash(string s) => s switch
    {
        "panic" => CrashKind.Panic,
        "oops" => CrashKind.Oops,
        "sysrq" => CrashKind.Sysrq,
        "fw-terminate" => CrashKind.FirmwareTerminate,
        _ => throw new UsageException($"--crash must be panic, oops, sysrq or fw-terminate, not '{s}'"),
    };

    private static Command Demo(TextWriter stdout, TextWriter stderr)
    {
        var m = new MachineOptions();
        var outDir = new Option<string?>("--out") { Description = "directory for the saved dump and the SVG pictures" };
        var json = new Option<bool>("--json") { Description = "print the run as JSON" };
        var cmd = new Command("demo", "Boot, register, crash, capture, save, release and re-register on a simulated pSeries LPAR (64 GiB, 16 CPUs by default)") { outDir, json };
        m.AddTo(cmd);
        cmd.SetAction(p => RunAndReport(new DemoOptions { Lpar = m.Build(p), OutDir = FullPath(p.GetValue(outDir)) }, p.GetValue(json), stdout, stderr));
        return cmd;
    }

    private static Command Run(TextWriter stdout, TextWriter stderr)
    {
        var m = new MachineOptions();
        var crash = new Option<string>("--crash") { Description = "panic, oops, sysrq or fw-terminate", DefaultValueFactory = _ => "panic" };
        var vmcoreOut = new Option<string?>("--vmcore-out") { Description = "write /proc/vmcore of the capture kernel to this file" };
        var saveTo = new Option<string?>("--save-to") { Description = "save the dump into this directory, then release and re-register" };
        var json = new Option<bool>("--json") { Description = "print the run as JSON" };
        var cmd = new Command("run", "Run one FADump lifecycle on a simulated machine") { crash, vmcoreOut, saveTo, json };
        m.AddTo(cmd);
        cmd.SetAction(p => RunAndReport(new DemoOptions
        {
            Lpar = m.Build(p),
            Crash = ParseCrash(p.GetValue(crash)!),
            VmcoreOut = p.GetValue(vmcoreOut),
            OutDir = FullPath(p.GetValue(saveTo)),
            Save = p.GetValue(saveTo) is not null,
        }, p.GetValue(json), stdout, stderr));
        return cmd;
    }

    /// <summary>A relative --out / --save-to is relative to the working directory (kdump.conf's path must be absolute).</summary>
    private static string? FullPath(string? dir) => dir is null ? null : Path.GetFullPath(dir);

    private static int RunAndReport(DemoOptions options, bool json, TextWriter stdout, TextWriter stderr)
    {
        // Without --out the saved dump goes to a temporary directory that is removed afterwards.
        string? scratch = null;
        if (options.OutDir is null && options.Save)
        {
            scratch = Directory.CreateTempSubdirectory("fadump-demo-").FullName;
            options = options with { OutDir = scratch };
        }

        DemoResult r;
        try
        {
            try
            {
                r = DemoRunner.Run(options);
            }
            catch (KernelPanicException e)
            {
                stderr.WriteLine("fadump: the simulated kernel did not boot: " + e.Message);
                return FadumpCommand.ExitFailure;
            }

            if (scratch is null && options.OutDir is not null)
            {
                DemoRunner.WriteSvgs(r, options.OutDir);
            }

            stdout.Write(json ? DemoRunner.ToJson(r) : DemoRunner.ToText(r));
            if (scratch is not null && !json)
            {
                stdout.WriteLine("(the files above were in a temporary directory, now removed: give --out DIR to keep them)");
            }
        }
        finally
        {
            if (scratch is not null)
            {
                Directory.Delete(scratch, recursive: true);
            }
        }

        if (r.VmcoreError is not null)
        {
            stderr.WriteLine("fadump: " + r.VmcoreError);
            return FadumpCommand.ExitFailure;
        }

        return FadumpCommand.ExitOk;
    }
}
