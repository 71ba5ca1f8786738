using System.Globalization;
using System.Text.Json;
using Fadump.Cli;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Kernel;
using Fadump.Kernel.Arch.Ppc64;

namespace Fadump.Interop.Tests;

/// <summary>
/// The simulated pSeries LPAR end to end: `fadump sim run --vmcore-out` writes the capture kernel's
/// /proc/vmcore, and the inspection commands and gdb-multiarch read the crash out of it.
/// </summary>
[Trait("Category", "Interop")]
public sealed class SimulatedLparTests : IClassFixture<SimulatedLparTests.SavedVmcore>
{
    private readonly SavedVmcore _saved;

    public SimulatedLparTests(SavedVmcore saved) => _saved = saved;

    /// <summary>One 1 GiB, 3-CPU LPAR crashed by sysrq, its vmcore saved once for all tests.</summary>
    public sealed class SavedVmcore : IDisposable
    {
        public SavedVmcore()
        {
            Dir = new RealTool.TempDir();
            Path = Dir.File("vmcore");
            var o = new StringWriter();
            var e = new StringWriter();
            ExitCode = FadumpCommand.Run(["sim", "run", "--memory", "1G", "--cpus", "3", "--crash", "sysrq", "--vmcore-out", Path, "--json"], o, e);
            Json = o.ToString();
            Error = e.ToString();
        }

        internal RealTool.TempDir Dir { get; }

        public string Path { get; }

        public int ExitCode { get; }

        public string Json { get; }

        public string Error { get; }

        public void Dispose() => Dir.Dispose();
    }

    private static (int Code, string Out, string Err) Fadump(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = FadumpCommand.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void Sim_run_writes_the_vmcore_and_reports_the_run()
    {
        Assert.True(_saved.ExitCode == 0, _saved.Error);
        using var doc = JsonDocument.Parse(_saved.Json);
        Assert.True(doc.RootElement.GetProperty("dumped").GetBoolean());
        Assert.Contains("Memory above 0x", doc.RootElement.GetProperty("fadump_region_after").GetString(), StringComparison.Ordinal);
        Assert.Contains(doc.RootElement.GetProperty("timeline").EnumerateArray(), p => p.GetProperty("kind").GetString() == "measured");
        Assert.True(new FileInfo(_saved.Path).Length > 512L << 20);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_saved.Path));
    }

    [Fact]
    public void Dmesg_shows_the_panic_and_info_names_it()
    {
        var (code, output, err) = Fadump("dmesg", _saved.Path);
        Assert.True(code == 0, err);
        var lines = output.Split('\n');
        Assert.Contains(lines, l => l.EndsWith("] sysrq: Trigger a crash", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith("] Kernel panic - not syncing: sysrq triggered crash", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith("] rtas fadump: Registration is successful!", StringComparison.Ordinal));
        var (icode, info, _) = Fadump("info", _saved.Path, "--json");
        Assert.Equal(0, icode);
        using var doc = JsonDocument.Parse(info);
        Assert.Equal("Kernel panic - not syncing: sysrq triggered crash", doc.RootElement.GetProperty("panic").GetString());
        Assert.Equal("ppc64le", doc.RootElement.GetProperty("arch").GetString());
        Assert.Equal(65536, doc.RootElement.GetProperty("page_size").GetInt32());
        Assert.Equal(3, doc.RootElement.GetProperty("cpus").GetInt32());
        Assert.True(doc.RootElement.GetProperty("crash_time").GetInt64() > 1_700_000_000);
    }

    [Fact]
    public void Regs_show_the_crashing_cpu_at_the_sysrq_handler_and_the_others_idle()
    {
        var (code, output, err) = Fadump("regs", _saved.Path, "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var cpus = doc.RootElement.GetProperty("cpus").EnumerateArray().ToList();
        Assert.Equal(3, cpus.Count);
        string Nip(int i) => cpus[i].GetProperty("registers").GetProperty("nip").GetString()!;
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"0x{Ppc64Arch.SysrqCrashNip:x16}"), Nip(0));
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"0x{Ppc64Arch.IdleNip + 4:x16}"), Nip(1));
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"0x{Ppc64Arch.IdleNip + 8:x16}"), Nip(2));
    }

    [Fact]
    public void Gdb_reads_every_cpus_registers_from_the_simulated_vmcore()
    {
        using var dump = DumpFile.Open(_saved.Path);
        var cpus = dump.CpuStates();
        Assert.Equal(3, cpus.Count); // the LPAR was started with --cpus 3
        var args = new List<string> { "-nx", "-batch", "-ex", "set architecture powerpc:common64", "-ex", "set endian little", "-ex", $"core-file {_saved.Path}", "-ex", "info threads" };
        for (int t = 1; t <= cpus.Count; t++)
        {
            args.AddRange(["-ex", $"thread {t}", "-ex", $"printf \"T{t} PC=%lx R1=%lx\\n\", $pc, $r1"]);
        }

        var r = RealTool.Run("gdb-multiarch", args);
        TestContext.Current.TestOutputHelper?.WriteLine(r.All);
        Assert.True(r.ExitCode == 0, $"gdb-multiarch exited {r.ExitCode}: {r.All}");

        // gdb itself sees three threads, one per NT_PRSTATUS, and no fourth.
        Assert.Contains("  3    ", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("  4    ", r.Stdout, StringComparison.Ordinal);
        for (int i = 0; i < cpus.Count; i++)
        {
            ulong pc = cpus[i].ProgramCounter(DumpArch.Ppc64), r1 = cpus[i].Registers[1];
            Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"T{i + 1} PC={pc:x} R1={r1:x}"), r.All);
        }
    }

    [Fact]
    public void Virtual_reads_go_through_the_linear_map_and_vmemmap()
    {
        var (code, output, err) = Fadump("read", _saved.Path, "c0000000026ab1c0", "16");
        Assert.True(code == 0, err);
        Assert.Contains("|Linux...........|", output);
        // The struct page of PFN 0 through vmemmap_list: the kernel image is PG_reserved (bit 12).
        var (vcode, vout, verr) = Fadump("read", _saved.Path, "c00c000000000000", "8");
        Assert.True(vcode == 0, verr);
        Assert.StartsWith("c00c000000000000  00 10 00 00 00 00 00 00", vout);
    }
}
