using System.Text.Json;
using System.Text.RegularExpressions;
using Fadump.Cli;
using Fadump.Cli.Simulation;
using Fadump.Kernel.Platforms;
using Spectre.Console;

namespace Fadump.Interop.Tests;

/// <summary>What a person sees of `fadump demo`: the live progress, the short summary, the detail behind --verbose.</summary>
public sealed class DemoSummaryTests
{
    private const string Collector = "makedumpfile -l --message-level 7 -d 31";

    private const string More = "More: --verbose (the timeline, the kernel's messages, fadump_region, the memory pictures); fadump info, dmesg or regs on the saved vmcore.";

    private const string MoreWithoutOut = "More: --verbose (the timeline, the kernel's messages, fadump_region, the memory pictures); --out DIR keeps the vmcore for fadump info, dmesg and regs.";

    [Fact]
    public void The_summary_comes_first_and_its_numbers_are_those_of_info_on_the_same_file()
    {
        using var dir = new RealTool.TempDir();
        var (code, o, e) = InProcessCli.Run("demo", "--memory", "2G", "--cpus", "4", "--out", dir.Path);
        Assert.True(code == 0, e + o);
        string vmcore = Assert.Single(Directory.GetFiles(dir.Path, "vmcore", SearchOption.AllDirectories));
        var (icode, info, ierr) = InProcessCli.Run("info", vmcore, "--json");
        Assert.True(icode == 0, ierr);
        using var doc = JsonDocument.Parse(info);
        ulong inFile = doc.RootElement.GetProperty("dumped_pages").GetUInt64();
        string size = MemoryLayoutPicture.Human((ulong)new FileInfo(vmcore).Length);
        ulong memory = doc.RootElement.GetProperty("memory_bytes").GetUInt64();
        var (_, infoText, _) = InProcessCli.Run("info", vmcore);
        Assert.Contains($"\nMemory:       {memory} bytes ({Formats.BinarySize.Format(memory)})\n", infoText, StringComparison.Ordinal); // binary units, as everywhere
        Assert.Contains($"\nDumped pages: {inFile}\n", infoText, StringComparison.Ordinal);

        var lines = o.Split('\n');
        Assert.Equal("Simulated pSeries LPAR, FADump over RTAS: 2 GiB RAM, 4 CPUs, database workload, crash by panic", lines[0]);
        Assert.Equal($"  vmcore    {vmcore} ({Collector})", lines[1]);
        Assert.Matches(new Regex($@"^  saved     {inFile} of [0-9]+ pages at dump level 31 \([0-9]+ of them zero pages, sharing one descriptor\): a {Regex.Escape(size)} file$"), lines[2]);
        // 2 GiB − 320 MiB of boot memory − the 320 MiB (+ CPU/HPTE page, header page) reserved area.
        Assert.Equal($"  released  {MemoryLayoutPicture.Human((2UL << 30) - (640UL << 20) - 0x20000)} back to production by release_mem, FADump registered again", lines[3]);
        Assert.Matches(new Regex(@"^  back      [0-9.]+ s after the crash, with all 2 GiB and no second reboot \(kdump: about [0-9.]+ s\)$"), lines[4]);
        Assert.StartsWith("  pictures  fig1-first-kernel.svg, fig2-capture-kernel.svg", lines[5], StringComparison.Ordinal);
        Assert.EndsWith(" in " + dir.Path, lines[5], StringComparison.Ordinal);
        Assert.Equal(string.Empty, lines[6]);
        Assert.Equal(More, lines[7]);
        Assert.Equal(8, lines.Length - 1); // nothing else without --verbose
    }

    [Fact]
    public void Verbose_adds_the_detail_below_the_summary()
    {
        var (code, o, e) = InProcessCli.Run("demo", "--memory", "1G", "--cpus", "2", "--verbose");
        Assert.True(code == 0, e + o);
        Assert.StartsWith("Simulated pSeries LPAR, FADump over RTAS: 1 GiB RAM, 2 CPUs", o, StringComparison.Ordinal);
        Assert.Contains("  files     in a temporary directory, now removed: give --out DIR to keep the dump and the pictures\n", o, StringComparison.Ordinal);
        int summaryEnd = o.IndexOf("\n\n", StringComparison.Ordinal);
        Assert.True(o.IndexOf("Timeline (simulated clock", StringComparison.Ordinal) > summaryEnd);
        Assert.Contains("/sys/kernel/debug/powerpc/fadump_region in the first kernel:", o, StringComparison.Ordinal);
        Assert.Contains("Fig. 1: memory reservation in the first kernel", o, StringComparison.Ordinal);
        Assert.DoesNotContain("More: ", o, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("x86_64", "Simulated x86_64 PC, kdump: 1 GiB RAM, 2 CPUs, database workload, crash by panic", "  back      ")]
    [InlineData("power6", "Simulated Power6 LPAR, phyp-assisted dump: 1 GiB RAM, 2 CPUs, database workload, crash by panic", "  released  release_region range by range as the save went: ")]
    [InlineData("powernv", "Simulated PowerNV (bare-metal POWER9), FADump over OPAL MPIPL: 4 GiB RAM, 2 CPUs, database workload, crash by panic", "  released  ")]
    public void Every_platform_has_the_summary(string platform, string title, string recovery)
    {
        var (code, o, e) = InProcessCli.Run("demo", "--platform", platform, "--memory", platform == "powernv" ? "4G" : "1G", "--cpus", "2");
        Assert.True(code == 0, e + o);
        var lines = o.Split('\n');
        Assert.Equal(title, lines[0]);
        Assert.StartsWith("  vmcore    ", lines[1], StringComparison.Ordinal);
        Assert.StartsWith("  saved     ", lines[2], StringComparison.Ordinal);
        Assert.StartsWith(recovery, lines[3], StringComparison.Ordinal);
        Assert.EndsWith(MoreWithoutOut + "\n", o, StringComparison.Ordinal);
    }

    [Fact]
    public void Progress_shows_each_phase_as_it_ends_and_the_save_as_it_goes()
    {
        var recorder = new RecordingProgress();
        var options = new DemoOptions { Lpar = new LparSpec { MemoryBytes = 1UL << 30, Cpus = 2 }, Progress = recorder };
        using var dir = new RealTool.TempDir();
        var r = DemoRunner.Run(options with { OutDir = dir.Path, VmcoreOut = Path.Combine(dir.Path, "proc-vmcore") });
        Assert.Null(r.VmcoreError);
        Assert.Equal(r.Timeline.Phases.Select(p => p.Phase.Name), recorder.Phases);
        Assert.Equal(["copy /proc/vmcore to " + Path.Combine(dir.Path, "proc-vmcore"), "dump service: saving the vmcore"], recorder.Steps.Select(s => s.Step));
        foreach (var (step, reports) in recorder.Steps)
        {
            Assert.True(reports.Count > 0, step + ": no progress reported");
            Assert.Equal(1.0, reports[^1].Fraction, 3);
            Assert.True(reports.Zip(reports.Skip(1)).All(p => p.Second.Fraction >= p.First.Fraction - 1e-9 || p.Second.Detail != p.First.Detail), step + ": progress went back");
        }

        Assert.Contains(recorder.Steps[1].Reports, p => p.Detail == "scanning struct pages");
        Assert.Contains(recorder.Steps[1].Reports, p => p.Detail.StartsWith("copying data, ", StringComparison.Ordinal));
    }

    [Fact]
    public void The_terminal_display_prints_a_line_per_phase()
    {
        var sw = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No, Out = new AnsiConsoleOutput(sw) });
        var display = new DemoProgressDisplay(console);
        display.Begin("Simulated pSeries LPAR");
        display.PhaseDone(new TimelinePhase("boot first kernel, reserve and register", TimeSpan.FromSeconds(12.2), false, "cost model"), TimeSpan.FromSeconds(12.2));
        int n = display.Measure("dump service: saving the vmcore", p =>
        {
            p.Report(new StepProgress(0.5, "copying data, 100 MiB/s"));
            return 7;
        });
        display.PhaseDone(new TimelinePhase("dump service: save", TimeSpan.FromSeconds(2.5), true, "wall time"), TimeSpan.FromSeconds(75.5));
        Assert.Equal(7, n);
        var lines = sw.ToString().Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.Equal("Simulated pSeries LPAR", lines[0]);
        string tick = console.Profile.Capabilities.Unicode ? "✓" : "+";
        Assert.Equal(tick + "    12.2 s  boot first kernel, reserve and register (12.2 s, modelled)", lines[1]);
        Assert.Contains(tick + "    75.5 s  dump service: save (2.500 s, measured)", lines);
    }

    [Fact]
    public void Without_liblzo2_the_demo_compresses_with_zstd_and_says_so()
    {
        const string why = "lzo compression needs liblzo2.so.2: install the Debian package liblzo2-2";
        var asked = new DemoOptions();
        Assert.Same(asked, DemoRunner.WithAvailableCollector(asked, true, null));
        var custom = new DemoOptions { CoreCollector = "makedumpfile -c -d 1" };
        Assert.Same(custom, DemoRunner.WithAvailableCollector(custom, false, why));
        var o = DemoRunner.WithAvailableCollector(new DemoOptions { Lpar = new LparSpec { MemoryBytes = 1UL << 30, Cpus = 2 } }, false, why);
        Assert.Equal("makedumpfile -z --message-level 7 -d 31", o.CoreCollector);

        using var dir = new RealTool.TempDir();
        var r = DemoRunner.Run(o with { OutDir = dir.Path });
        Assert.Null(r.VmcoreError);
        var lines = DemoSummary.ToText(r, filesRemoved: false).Split('\n');
        Assert.Contains("  note      compressed with zstd, not with kdump-utils' default lzo: " + why, lines);
        Assert.EndsWith(" (makedumpfile -z --message-level 7 -d 31)", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public void A_vmcore_out_larger_than_the_free_space_is_refused_before_anything_is_written()
    {
        using var tmpfs = new Fadump.Tools.Tests.Service.TmpfsMount("16M");
        string path = Path.Combine(tmpfs.Dir, "vmcore.elf");
        var (code, _, e) = InProcessCli.Run("sim", "run", "--memory", "1G", "--cpus", "2", "--vmcore-out", path);
        Assert.Equal(FadumpCommand.ExitFailure, code);
        Assert.Matches(new Regex($@"^fadump: --vmcore-out {Regex.Escape(path)}: /proc/vmcore is [0-9.]+ [KMG]?i?B \([0-9]+ bytes\) and {Regex.Escape(tmpfs.Dir)} has 16 MiB free; nothing written\n$"), e);
        Assert.Empty(Directory.GetFileSystemEntries(tmpfs.Dir));
    }

    [Fact]
    public void A_save_stopped_by_a_full_disk_is_summarised_as_incomplete()
    {
        using var tmpfs = new Fadump.Tools.Tests.Service.TmpfsMount("8M");
        var (code, o, e) = InProcessCli.Run("demo", "--memory", "2G", "--cpus", "2", "--out", tmpfs.Dir);
        Assert.Equal(FadumpCommand.ExitFailure, code);
        Assert.Contains("No space left on device", e, StringComparison.Ordinal);
        var lines = o.Split('\n');
        Assert.StartsWith("  no dump   the dump service failed: saving vmcore to ", lines[1], StringComparison.Ordinal);
        Assert.Matches(new Regex(@"^  vmcore    .+/vmcore-incomplete \(makedumpfile -l --message-level 7 -d 31\)$"), lines[2]);
        Assert.Matches(new Regex(@"^  saved     incomplete: the save stopped after [0-9.]+ MiB, at dump level 31; the file is flagged incomplete \(fadump info: ""Complete: no""\)$"), lines[3]);
        Assert.DoesNotContain(lines, l => l.StartsWith("  released", StringComparison.Ordinal));
    }

    [Fact]
    public void A_large_vmcore_out_is_warned_about_before_it_is_written()
    {
        var warnings = new List<string>();
        using var dir = new RealTool.TempDir();
        string path = Path.Combine(dir.Path, "vmcore.elf");
        var options = new DemoOptions { Lpar = new LparSpec { MemoryBytes = 1UL << 30, Cpus = 2 }, Save = false, VmcoreOut = path, LargeVmcoreBytes = 512L << 20, Warn = warnings.Add };
        var r = DemoRunner.Run(options);
        Assert.Null(r.VmcoreError);
        string w = Assert.Single(warnings);
        Assert.Matches(new Regex($@"^--vmcore-out writes /proc/vmcore as it is, unfiltered: [0-9.]+ [KMG]iB to {Regex.Escape(path)} \(.+ free there\); sim run --save-to DIR saves it filtered and compressed instead$"), w);
        Assert.True(new FileInfo(path).Length > 512L << 20);
    }

    private sealed class RecordingProgress : IDemoProgress
    {
        public List<string> Phases { get; } = [];

        public List<(string Step, List<StepProgress> Reports)> Steps { get; } = [];

        public void Begin(string title)
        {
        }

        public void PhaseDone(TimelinePhase phase, TimeSpan at) => Phases.Add(phase.Name);

        public T Measure<T>(string step, Func<IProgress<StepProgress>, T> work)
        {
            var reports = new List<StepProgress>();
            Steps.Add((step, reports));
            return work(new Recorder(reports));
        }

        private sealed class Recorder(List<StepProgress> reports) : IProgress<StepProgress>
        {
            public void Report(StepProgress value)
            {
                lock (reports)
                {
                    reports.Add(value);
                }
            }
        }
    }
}
