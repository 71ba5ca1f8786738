using System.Globalization;
using System.Text.Json;
using Fadump.Cli;
using Fadump.Formats;
using Fadump.Kernel.Arch.Ppc64;

namespace Fadump.Interop.Tests;

/// <summary>
/// The simulated Power6 LPAR end to end (seed 000): `fadump sim run --platform power6 --save-to` crashes it, the
/// real dump service saves the old memory from /dev/mem while giving it back through release_region, and the
/// inspection commands, gdb-multiarch, crash and makedumpfile read the big-endian result.
/// </summary>
[Trait("Category", "Interop")]
public sealed class SimPower6Tests : IClassFixture<SimPower6Tests.SavedRun>
{
    private readonly SavedRun _run;

    public SimPower6Tests(SavedRun run) => _run = run;

    /// <summary>One 4 GiB, 3-CPU Power6 LPAR crashed by sysrq and collected once for all tests.</summary>
    public sealed class SavedRun : IDisposable
    {
        public SavedRun()
        {
            Dir = new RealTool.TempDir();
            var (code, o, e) = Fadump("sim", "run", "--platform", "power6", "--memory", "4G", "--cpus", "3", "--crash", "sysrq", "--save-to", Dir.Path, "--json");
            ExitCode = code;
            Json = o;
            Error = e;
            Vmcore = Directory.GetFiles(Dir.Path, "vmcore", SearchOption.AllDirectories).SingleOrDefault() ?? string.Empty;
        }

        internal RealTool.TempDir Dir { get; }

        public int ExitCode { get; }

        public string Json { get; }

        public string Error { get; }

        public string Vmcore { get; }

        public void Dispose() => Dir.Dispose();
    }

    private static (int Code, string Out, string Err) Fadump(params string[] args) => InProcessCli.Run(args);

    [Fact]
    public void The_run_saves_releases_range_by_range_and_registers_again()
    {
        Assert.True(_run.ExitCode == 0, _run.Error + _run.Json);
        using var doc = JsonDocument.Parse(_run.Json);
        var root = doc.RootElement;
        Assert.Equal("power6", root.GetProperty("platform").GetString());
        Assert.True(root.GetProperty("dumped").GetBoolean());
        Assert.True(root.GetProperty("reregistered").GetBoolean());
        Assert.Equal(0UL, root.GetProperty("lost_bytes").GetUInt64());
        Assert.StartsWith("CPU:0x0-0x0: HPTE:0x", root.GetProperty("release_region").GetString(), StringComparison.Ordinal);

        // Every held byte went back (the kernel frees one page more per write: at least all of it).
        ulong held = root.GetProperty("held_bytes").GetUInt64();
        var releases = root.GetProperty("releases").EnumerateArray().ToList();
        Assert.True(releases.Count >= 4, $"{releases.Count} release_region writes");
        ulong freed = releases.Aggregate(0UL, (s, r) => s + r.GetProperty("freed_bytes").GetUInt64());
        Assert.InRange(freed, held - (64UL << 10), held + ((ulong)releases.Count * (64UL << 10)));

        // MemFree rises with each write, and the times are within the save.
        double save = root.GetProperty("save_seconds").GetDouble();
        ulong lastFree = 0;
        foreach (var r in releases)
        {
            Assert.InRange(r.GetProperty("seconds_into_save").GetDouble(), 0, save);
            ulong memFree = r.GetProperty("memfree_after").GetUInt64();
            Assert.True(memFree >= lastFree, "MemFree never falls as memory is released");
            lastFree = memFree;
        }

        Assert.True(lastFree > 3UL << 30, "after the save nearly all 4 GiB is free");
        Assert.Equal(1.0, root.GetProperty("fraction_back").GetProperty("1.00").GetDouble(), 3);
        Assert.Contains(root.GetProperty("timeline").EnumerateArray(), p => p.GetProperty("phase").GetString()!.Contains("into the save", StringComparison.Ordinal));
    }

    [Fact]
    public void Info_dmesg_and_regs_read_the_big_endian_dump()
    {
        Assert.True(File.Exists(_run.Vmcore), _run.Error);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_run.Vmcore));
        var (icode, info, ierr) = Fadump("info", _run.Vmcore, "--json");
        Assert.True(icode == 0, ierr);
        using (var doc = JsonDocument.Parse(info))
        {
            Assert.Equal("ppc64", doc.RootElement.GetProperty("arch").GetString());
            Assert.Equal("2.6.32-5-powerpc64", doc.RootElement.GetProperty("osrelease").GetString());
            Assert.Equal(3, doc.RootElement.GetProperty("cpus").GetInt32());
            Assert.Equal(31, doc.RootElement.GetProperty("dump_level").GetInt32());
            Assert.Equal("Kernel panic - not syncing: sysrq triggered crash", doc.RootElement.GetProperty("panic").GetString());
        }

        var (dcode, dmesg, derr) = Fadump("dmesg", _run.Vmcore);
        Assert.True(dcode == 0, derr);
        var lines = dmesg.Split('\n');
        Assert.StartsWith("<6>[    0.", lines[0], StringComparison.Ordinal); // the pre-3.5 buffer is text with its <level> prefixes
        Assert.Contains(lines, l => l.EndsWith("] Linux version 2.6.32-5-powerpc64 (Debian 2.6.32-48squeeze20) (dannf@debian.org) (gcc version 4.3.5 (Debian 4.3.5-4) ) #1 SMP Mon Mar 7 23:37:21 UTC 2016", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith("] sysrq: Trigger a crash", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith("] Kernel panic - not syncing: sysrq triggered crash", StringComparison.Ordinal));
        Assert.Equal(dmesg, File.ReadAllText(Path.Combine(Path.GetDirectoryName(_run.Vmcore)!, "vmcore-dmesg.txt")));

        var (rcode, regs, rerr) = Fadump("regs", _run.Vmcore, "--json");
        Assert.True(rcode == 0, rerr);
        using var r = JsonDocument.Parse(regs);
        var cpus = r.RootElement.GetProperty("cpus").EnumerateArray().ToList();
        Assert.Equal(3, cpus.Count);
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"0x{Ppc64Arch.SysrqCrashNip:x16}"), cpus[0].GetProperty("registers").GetProperty("nip").GetString());
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"0x{Ppc64Arch.IdleNip + 4:x16}"), cpus[1].GetProperty("registers").GetProperty("nip").GetString());
        Assert.Equal("0x8000000000009032", cpus[0].GetProperty("registers").GetProperty("msr").GetString()); // big-endian MSR: no LE bit
    }

    [Fact]
    public void No_page_was_released_before_it_was_saved()
    {
        // The simulated kernel writes a marker into the first and last page of every range it frees, as reuse
        // would; with its "one page more" quirk and the unaligned copies, a release due too early shows in the file.
        using var dump = DumpFile.Open(_run.Vmcore);
        var marker = global::Fadump.Kernel.Phyp.PhypDump.ReuseMarker.ToArray();
        var page = new byte[dump.PageSize];
        ulong dumped = 0;
        for (ulong pfn = 0; pfn < dump.MaxPfn; pfn++)
        {
            if (dump.ReadPage(pfn, page) == PageState.Dumped)
            {
                dumped++;
                Assert.True(page.AsSpan().IndexOf(marker) < 0, string.Create(CultureInfo.InvariantCulture, $"PFN 0x{pfn:x} was saved after its release"));
            }
        }

        Assert.True(dumped > 100, $"{dumped} pages dumped");
    }

    [Fact]
    public void Gdb_reads_every_cpu_and_memory_by_address_from_the_elf_copy()
    {
        string elf = Path.Combine(_run.Dir.Path, "vmcore.elf");
        var (scode, _, serr) = Fadump("save", "-E", "-d", "31", "-f", _run.Vmcore, elf);
        Assert.True(scode == 0, serr);
        using var dump = DumpFile.Open(elf);
        Assert.Equal(DumpMachine.Ppc64, dump.Machine);
        var cpus = dump.CpuStates();
        Assert.Equal(3, cpus.Count);

        // A kernel text page at 0x100000: the linear map (PAGE_OFFSET + pa) is how gdb finds it.
        const ulong Pa = 0x100000;
        var expect = new byte[4];
        Assert.Equal(4, dump.ReadPhysical(Pa, expect));
        var args = new List<string> { "-nx", "-batch", "-ex", "set architecture powerpc:common64", "-ex", "set endian big", "-ex", $"core-file {elf}", "-ex", "info threads" };
        for (int t = 1; t <= cpus.Count; t++)
        {
            args.AddRange(["-ex", $"thread {t}", "-ex", $"printf \"T{t} PC=%lx R1=%lx\\n\", $pc, $r1"]);
        }

        args.AddRange(["-ex", string.Create(CultureInfo.InvariantCulture, $"x/4xb 0x{Ppc64Arch.KernelBase + Pa:x}")]);
        var r = RealTool.Run("gdb-multiarch", args);
        TestContext.Current.TestOutputHelper?.WriteLine(r.All);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Contains("  3    ", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("  4    ", r.Stdout, StringComparison.Ordinal);
        for (int i = 0; i < cpus.Count; i++)
        {
            Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"T{i + 1} PC={cpus[i].ProgramCounter(DumpArch.Ppc64):x} R1={cpus[i].Registers[1]:x}"), r.All);
        }

        Assert.Contains(string.Join("\t", expect.Select(b => string.Create(CultureInfo.InvariantCulture, $"0x{b:x2}"))), r.All);
    }

    [Fact]
    public void The_memory_back_picture_renders()
    {
        string svg = Path.Combine(_run.Dir.Path, "memory-back.svg");
        string text = File.ReadAllText(svg);
        Assert.Contains("phyp dump: release_region as each range reaches the disk", text, StringComparison.Ordinal);
        Assert.Contains("FADump: release_mem once the whole dump is saved", text, StringComparison.Ordinal);
        string png = Path.Combine(_run.Dir.Path, "memory-back.png");
        var r = RealTool.Run("rsvg-convert", ["-o", png, svg]);
        Assert.True(r.ExitCode == 0, r.All);
        var header = File.ReadAllBytes(png).AsSpan(0, 24);
        Assert.Equal(800, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header[16..])); // IHDR width
        Assert.Equal(440, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header[20..]));
    }

    [Fact]
    public void Crash_and_makedumpfile_on_this_host_cannot_read_a_big_endian_ppc64_dump()
    {
        // Debian's x86_64 crash recognises the machine and stops: it analyses only dumps of its own architecture.
        var c = RealTool.Run("crash", ["--osrelease", _run.Vmcore]);
        Assert.Contains("PPC64", c.All, StringComparison.Ordinal);
        Assert.Contains("unknown", c.All, StringComparison.Ordinal);
        Assert.DoesNotContain("2.6.32", c.All, StringComparison.Ordinal);

        // makedumpfile reads the header but not a big-endian kernel's symbols on a little-endian host.
        using var dir = new RealTool.TempDir();
        var m = RealTool.Run("makedumpfile", ["--dump-dmesg", _run.Vmcore, dir.File("dmesg")]);
        Assert.Contains("Can't find some symbols for log_buf", m.All, StringComparison.Ordinal);
        Assert.Contains("makedumpfile Failed.", m.All, StringComparison.Ordinal);
    }

    [Fact]
    public void A_boot_region_larger_than_the_copy_loses_the_memory_between_and_says_so()
    {
        using var dir = new RealTool.TempDir();
        var (code, o, e) = Fadump("sim", "run", "--platform", "power6", "--memory", "2G", "--cpus", "2", "--cmdline", "root=/dev/sda2 phyp_dump=1 phyp_dump_reserve_size=512M", "--save-to", dir.Path, "--json");
        Assert.True(code == 0, e + o);
        using var doc = JsonDocument.Parse(o);
        Assert.Equal(256UL << 20, doc.RootElement.GetProperty("lost_bytes").GetUInt64());
        Assert.Equal(512UL << 20, doc.RootElement.GetProperty("boot_region_bytes").GetUInt64());
        Assert.True(doc.RootElement.GetProperty("reregistered").GetBoolean());
        string vmcore = Directory.GetFiles(dir.Path, "vmcore", SearchOption.AllDirectories).Single();
        using var dump = DumpFile.Open(vmcore);
        var page = new byte[dump.PageSize];
        Assert.Equal(PageState.NotPresent, dump.ReadPage((300UL << 20) / (ulong)dump.PageSize, page)); // in [256M, 512M): lost
        Assert.NotEqual(PageState.NotPresent, dump.ReadPage(0x100000 / (ulong)dump.PageSize, page)); // the copied low memory
    }

    [Theory]
    [InlineData("--memory", "256M", "wrap")]
    [InlineData("--kexec-load", "file", "--kexec-load applies to --platform x86_64 only: power6 dumps through phyp dump")]
    public void Bad_power6_options_are_usage_errors(string option, string value, string message)
    {
        var (code, _, e) = Fadump("sim", "run", "--platform", "power6", option, value);
        Assert.Equal(FadumpCommand.ExitUsage, code);
        Assert.Contains(message, e, StringComparison.Ordinal);
    }

    [Fact]
    public void Vmcore_out_is_refused_there_is_no_proc_vmcore()
    {
        var (code, _, e) = Fadump("sim", "run", "--platform", "power6", "--vmcore-out", "/tmp/never-written");
        Assert.Equal(FadumpCommand.ExitUsage, code);
        Assert.Contains("a phyp dump has no /proc/vmcore", e, StringComparison.Ordinal);
        Assert.False(File.Exists("/tmp/never-written"));
    }

    [Fact]
    public void A_full_disk_stops_the_save_holds_the_memory_and_still_reports_the_run()
    {
        using var tmpfs = new Fadump.Tools.Tests.Service.TmpfsMount("8M");
        var (code, o, e) = Fadump("sim", "run", "--platform", "power6", "--memory", "2G", "--cpus", "2", "--save-to", tmpfs.Dir, "--json");
        Assert.Equal(FadumpCommand.ExitFailure, code);
        Assert.Contains("No space left on device", e, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(o); // the report is printed even though the pictures could not be written
        Assert.Contains("saving vmcore", doc.RootElement.GetProperty("vmcore_error").GetString(), StringComparison.Ordinal);
        Assert.Empty(doc.RootElement.GetProperty("releases").EnumerateArray()); // nothing reached the disk: nothing given back
        Assert.False(doc.RootElement.GetProperty("reregistered").GetBoolean());
        Assert.Single(Directory.GetFiles(tmpfs.Dir, "vmcore-incomplete", SearchOption.AllDirectories));
        // No picture left empty or cut off, nor its temporary file.
        Assert.Empty(Directory.GetFiles(tmpfs.Dir, "*.svg*"));
    }

    [Fact]
    public void Without_phyp_dump_on_the_command_line_the_crash_is_not_dumped()
    {
        var (code, o, e) = Fadump("sim", "run", "--platform", "power6", "--memory", "1G", "--cpus", "2", "--cmdline", "root=/dev/sda2", "--json");
        Assert.Equal(FadumpCommand.ExitFailure, code);
        using var doc = JsonDocument.Parse(o);
        Assert.False(doc.RootElement.GetProperty("dumped").GetBoolean());
        Assert.Contains("Phyp-dump disabled at boot time", e, StringComparison.Ordinal);
    }
}
