using System.CommandLine;
using Fadump.Cli.Simulation;
using Fadump.Firmware.Rtas;
using Fadump.Kernel;
using Fadump.Machine;
using Fadump.Kernel.Platforms;
using Fadump.Kernel.Platforms.PowerNv;

namespace Fadump.Cli;

/// <summary>`fadump demo` and `fadump sim run`: the simulated pSeries LPAR through a whole FADump lifecycle, or the x86_64 PC through kdump.</summary>
internal static partial class SimCommands
{
    private sealed class MachineOptions(string defaultMemory)
    {
        public const string PseriesCmdline = "root=/dev/sda2 fadump=on";

        public Option<string> Platform { get; } = new("--platform") { HelpName = "pseries|powernv|power6|x86_64", Description = "pseries (FADump over RTAS), powernv (FADump over OPAL MPIPL), power6 (phyp dump) or x86_64 (kdump)", DefaultValueFactory = _ => "pseries" };

        public Option<string> Memory { get; } = new("--memory") { HelpName = "SIZE", Description = "RAM size (K/M/G/T suffixes)", DefaultValueFactory = _ => defaultMemory };

        public Option<int> Cpus { get; } = new("--cpus") { HelpName = "N", Description = "number of CPUs", DefaultValueFactory = _ => 16 };

        public Option<string?> Cmdline { get; } = new("--cmdline") { HelpName = "PARAMS", Description = $"kernel command line (pseries: \"{PseriesCmdline}\"; powernv: \"{PowerNvSpec.DefaultCommandLine}\"; power6: \"{Power6Lpar.DefaultCommandLine}\"; x86_64: \"{new PcSpec().CommandLine}\")" };

        public Option<string> Workload { get; } = new("--workload") { HelpName = "database|idle", Description = "database or idle", DefaultValueFactory = _ => "database" };

        public Option<ulong> Seed { get; } = new("--seed") { HelpName = "N", Description = "seed of the procedural memory contents", DefaultValueFactory = _ => 42UL };

        public Option<string[]> Holes { get; } = new("--hole") { HelpName = "START:SIZE", Description = "a memory hole START:SIZE (repeatable)", AllowMultipleArgumentsPerToken = false };

        public Option<string[]> ReservedRanges { get; } = new("--reserved-range") { HelpName = "START:SIZE", Description = "firmware reserved-range START:SIZE (repeatable)" };

        public Option<string?> Petitboot { get; } = new("--petitboot") { HelpName = "preserving|not-preserving", Description = "powernv: the petitboot kernel between skiboot and the production kernel, preserving (CONFIG_PRESERVE_FA_DUMP, the default) or not-preserving" };

        public Option<string?> KexecLoad { get; } = new("--kexec-load") { HelpName = "legacy|file", Description = "x86_64: how kexec -p loads the capture kernel, legacy (kexec_load, kexec-tools) or file (kexec_file_load); default legacy" };

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
            c.Options.Add(KexecLoad);
            c.Options.Add(Petitboot);
        }

        /// <summary>The platform named by --platform, with the options that make no sense on it refused.</summary>
        public string PlatformOf(ParseResult p)
        {
            string platform = p.GetValue(Platform)!;
            if (platform != "powernv" && p.GetResult(Petitboot) is { Implicit: false })
            {
                throw new UsageException($"--petitboot applies to --platform powernv only: {platform} has no petitboot between the firmware and the kernel");
            }

            switch (platform)
            {
                case "pseries" or "power6" or "powernv":
                    if (p.GetResult(KexecLoad) is { Implicit: false })
                    {
                        throw new UsageException($"--kexec-load applies to --platform x86_64 only: {platform} dumps through {(platform == "power6" ? "phyp dump" : "FADump")}, not kexec");
                    }

                    if (platform == "powernv")
                    {
                        foreach (var (option, why) in new (Option Option, string Why)[] { (Holes, "a PowerNV system's memory is one range from 0 here"), (ReservedRanges, "skiboot publishes its own reserved ranges") })
                        {
                            if (p.GetResult(option) is { Implicit: false })
                            {
                                throw new UsageException($"{option.Name} is not simulated on --platform powernv ({why})");
                            }
                        }
                    }

                    return platform;
                case "x86_64":
                    foreach (var (option, why) in new (Option Option, string Why)[] { (Holes, "its memory map is QEMU pc's e820"), (ReservedRanges, "reserved ranges are RTAS firmware's") })
                    {
                        if (p.GetResult(option) is { Implicit: false })
                        {
                            throw new UsageException($"{option.Name} is not simulated on --platform x86_64 ({why}): pseries only");
                        }
                    }

                    return platform;
                default:
                    throw new UsageException($"--platform must be pseries, powernv, power6 or x86_64, not '{platform}'");
            }
        }

        /// <summary>The options of a run on either platform.</summary>
        public DemoOptions Options(ParseResult p) => PlatformOf(p) switch
        {
            "x86_64" => new DemoOptions { Pc = BuildPc(p) },
            "power6" => new DemoOptions { Power6 = BuildPower6(p) },
            "powernv" => new DemoOptions { PowerNv = BuildPowerNv(p) },
            _ => new DemoOptions { Lpar = Build(p) },
        };

        /// <summary>A Power6 LPAR: the pSeries shape with phyp dump's command line and the 2.6 kernel's limits.</summary>
        public LparSpec BuildPower6(ParseResult p)
        {
            var spec = Build(p, Power6Lpar.DefaultCommandLine);
            return Power6Lpar.Validate(spec) is { } error ? throw new UsageException(error) : spec;
        }

        /// <summary>A bare-metal POWER9: memory and CPUs as for an LPAR, skiboot's own reserved ranges, petitboot as asked.</summary>
        public PowerNvSpec BuildPowerNv(ParseResult p)
        {
            var lpar = Build(p, PowerNvSpec.DefaultCommandLine);
            var spec = new PowerNvSpec
            {
                MemoryBytes = lpar.MemoryBytes,
                Cpus = lpar.Cpus,
                CommandLine = lpar.CommandLine,
                Workload = lpar.Workload,
                Seed = lpar.Seed,
                Petitboot = p.GetValue(Petitboot) switch
                {
                    null or "preserving" => PetitbootMode.Preserving,
                    "not-preserving" => PetitbootMode.NotPreserving,
                    var s => throw new UsageException($"--petitboot must be preserving or not-preserving, not '{s}'"),
                },
            };
            return spec.Validate() is { } error ? throw new UsageException(error) : spec;
        }

        public PcSpec BuildPc(ParseResult p)
        {
            long mem = Sizes.Parse(p.GetValue(Memory)!);
            if (mem < (256L << 20) || (ulong)mem > PcSpec.MaxMemory || mem % 4096 != 0)
            {
                throw new UsageException("--memory must be a multiple of 4K between 256M and 64T-1G on x86_64 (4-level paging addresses 64 TiB; the PCI hole below 4 GiB pushes RAM up by 1 GiB)");
            }

            var spec = new PcSpec
            {
                MemoryBytes = (ulong)mem,
                Cpus = p.GetValue(Cpus),
                Workload = ParseWorkload(p),
                Seed = p.GetValue(Seed),
                KexecLoad = p.GetValue(KexecLoad) switch
                {
                    null or "legacy" => KexecLoadMode.Legacy,
                    "file" => KexecLoadMode.File,
                    var s => throw new UsageException($"--kexec-load must be legacy or file, not '{s}'"),
                },
            };
            if (p.GetValue(Cmdline) is { } cmdline)
            {
                spec = spec with { CommandLine = cmdline };
            }

            if (spec.Validate() is { } error)
            {
                throw new UsageException(error);
            }

            return spec;
        }

        private string ParseWorkload(ParseResult p) => p.GetValue(Workload) is "database" or "idle" ? p.GetValue(Workload)! : throw new UsageException("--workload must be database or idle");

        public LparSpec Build(ParseResult p, string defaultCmdline = PseriesCmdline)
        {
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
                CommandLine = p.GetValue(Cmdline) ?? defaultCmdline,
                Workload = ParseWorkload(p),
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
        sim.Subcommands.Add(Mount(stdout, stderr));
        sim.Subcommands.Add(DmaCommand.Create(stdout));
        yield return sim;
    }

    private static CrashKind ParseCrash(string s, string platform) => (s, platform) switch
    {
        ("panic", _) => CrashKind.Panic,
        ("oops", _) => CrashKind.Oops,
        ("sysrq", _) => CrashKind.Sysrq,
        ("fw-terminate", "x86_64") => throw new UsageException("--crash fw-terminate is not possible on --platform x86_64: a PC has no firmware-initiated termination (panic, oops or sysrq)"),
        ("fw-terminate", _) => CrashKind.FirmwareTerminate,
        _ => throw new UsageException($"--crash must be panic, oops, sysrq or fw-terminate, not '{s}'"),
    };

    /// <summary>The demo's machine: small enough that the whole lifecycle, the real save included, takes a few seconds.</summary>
    public const string DemoMemory = "16G";

    /// <summary>`sim run`'s machine: the size of a production LPAR.</summary>
    public const string RunMemory = "64G";

    private static Command Demo(TextWriter stdout, TextWriter stderr)
    {
        var m = new MachineOptions(DemoMemory);
        var outDir = new Option<string?>("--out") { HelpName = "DIR", Description = "directory for the saved dump and the SVG pictures" };
        var json = new Option<bool>("--json") { Description = "print the run as JSON" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "after the summary: the timeline, the kernel's messages, fadump_region and the memory pictures" };
        var cmd = new Command("demo", "Boot, register, crash, capture, save, release and re-register on a simulated pSeries LPAR (16 GiB, 16 CPUs by default); --platform powernv: the same over OPAL MPIPL with petitboot in between; --platform power6: phyp-assisted dump; --platform x86_64: boot, kexec -p, crash, capture kernel, save, second reboot") { outDir, json, verbose };
        m.AddTo(cmd);
        cmd.SetAction(p => RunAndReport(m.Options(p) with { OutDir = FullPath(p.GetValue(outDir)) }, p.GetValue(json), p.GetValue(verbose), stdout, stderr));
        return cmd;
    }

    private static Command Run(TextWriter stdout, TextWriter stderr)
    {
        var m = new MachineOptions(RunMemory);
        var crash = new Option<string>("--crash") { HelpName = "panic|oops|sysrq|fw-terminate", Description = "panic, oops, sysrq or fw-terminate (pseries, power6: the HMC terminates the LPAR; powernv: the BMC starts an MPIPL)", DefaultValueFactory = _ => "panic" };
        var vmcoreOut = new Option<string?>("--vmcore-out") { HelpName = "FILE", Description = "write /proc/vmcore of the capture kernel to this file" };
        var saveTo = new Option<string?>("--save-to") { HelpName = "DIR", Description = "save the dump into this directory, then release and re-register (pseries, powernv, power6) or reboot (x86_64)" };
        var json = new Option<bool>("--json") { Description = "print the run as JSON" };
        var cmd = new Command("run", "Run one FADump (pseries, powernv), phyp dump (power6) or kdump (x86_64) lifecycle on a simulated machine") { crash, vmcoreOut, saveTo, json };
        m.AddTo(cmd);
        cmd.SetAction(p =>
        {
            if (m.PlatformOf(p) == "power6" && p.GetValue(vmcoreOut) is not null)
            {
                throw new UsageException("--vmcore-out: a phyp dump has no /proc/vmcore (the kernel builds no ELF header; userspace reads /dev/mem and /sys/kernel/release_region): use --save-to DIR");
            }

            return RunAndReport(m.Options(p) with
        {
            Crash = ParseCrash(p.GetValue(crash)!, m.PlatformOf(p)),
            VmcoreOut = p.GetValue(vmcoreOut),
            OutDir = FullPath(p.GetValue(saveTo)),
            Save = p.GetValue(saveTo) is not null,
        }, p.GetValue(json), verbose: true, stdout, stderr);
        });
        return cmd;
    }

    /// <summary>A relative --out / --save-to is relative to the working directory (kdump.conf's path must be absolute).</summary>
    private static string? FullPath(string? dir) => dir is null ? null : Path.GetFullPath(dir);

    /// <summary>Live progress on a terminal (stderr); none when stderr is a file or a pipe, or when a test's writer stands in for it.</summary>
    internal static Func<TextWriter, IDemoProgress?> ProgressFor { get; set; } =
        stderr => ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected ? DemoProgressDisplay.OnStandardError() : null;

    private static int RunAndReport(DemoOptions options, bool json, bool verbose, TextWriter stdout, TextWriter stderr)
    {
        // A signal stops the save and the scratch directory is still removed; the exit status is then 128 + signal.
        using var cooperate = Signals.Cooperate();
        bool lzo = Formats.Compression.PageCodec.IsAvailable(Formats.Compression.PageCompression.Lzo, out string? noLzo);
        options = DemoRunner.WithAvailableCollector(options, lzo, noLzo) with
        {
            Progress = ProgressFor(stderr),
            Warn = message => stderr.WriteLine("fadump: warning: " + message),
            CancellationToken = Signals.Token,
        };

        // Without --out the saved dump goes to a temporary directory that is removed afterwards.
        string? scratch = null;
        if (options.OutDir is null && options.Save)
        {
            scratch = Directory.CreateTempSubdirectory("fadump-demo-").FullName;
            options = options with { OutDir = scratch };
        }

        options.Progress?.Begin(DemoSummary.Title(options));
        DemoResult r;
        bool pictureError = false;
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
            catch (OperationCanceledException)
            {
                stderr.WriteLine($"fadump: stopped by {Signals.Name(Signals.Received)}: nothing more was written");
                return FadumpCommand.ExitFailure;
            }

            if (scratch is null && options.OutDir is not null)
            {
                try
                {
                    DemoRunner.WriteSvgs(r, options.OutDir);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // The run's report matters more than its pictures (a full disk that also stopped the save, say).
                    stderr.WriteLine("fadump: the pictures were not written: " + FadumpCommand.Describe(e));
                    pictureError = true;
                }
            }

            if (json)
            {
                stdout.Write(DemoRunner.ToJson(r));
            }
            else
            {
                stdout.Write(DemoSummary.ToText(r, filesRemoved: scratch is not null));
                stdout.Write(verbose ? "\n" + DemoRunner.ToText(r) : "\nMore: --verbose (the timeline, the kernel's messages, fadump_region, the memory pictures); " +
                    (scratch is null ? "fadump info, dmesg or regs on the saved vmcore.\n" : "--out DIR keeps the vmcore for fadump info, dmesg and regs.\n"));
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

        return pictureError ? FadumpCommand.ExitFailure : FadumpCommand.ExitOk;
    }
}
