using System.Globalization;
using System.Text.Json;
using Fadump.Firmware.Opal;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Kernel;
using Fadump.Kernel.Fadump;
using Fadump.Kernel.Platforms.PowerNv;

namespace Fadump.Interop.Tests;

/// <summary>
/// The simulated PowerNV system end to end (spec/phyp-dump-and-opal.md part B): a crash through OPAL MPIPL, the
/// production kernel's /proc/vmcore and the OPAL core copied out, and gdb-multiarch reading both (every thread's
/// registers, OPAL's memory by address); the CLI run with and without a preserving petitboot.
/// </summary>
[Trait("Category", "Interop")]
public sealed class SimPowerNvTests : IClassFixture<SimPowerNvTests.Crashed>
{
    private readonly Crashed _run;

    public SimPowerNvTests(Crashed run) => _run = run;

    /// <summary>One 4 GiB, 8-CPU system crashed by a panic on CPU 3; the vmcore and the OPAL core written to files.</summary>
    public sealed class Crashed : IDisposable
    {
        public Crashed()
        {
            Dir = new RealTool.TempDir();
            System = new PowerNvSystem(new PowerNvSpec { MemoryBytes = 4UL << 30, Cpus = 8 });
            System.Boot();
            // What each CPU holds when the SBE stops it: set by the kernel's crash path, read back from the HDAT data.
            Dumped = System.Crash(CrashKind.Panic, crashingCpu: 3);
            var k = System.Kernel!;
            Vmcore = Dir.File("vmcore");
            OpalCore = Dir.File("opalcore");
            Copy(k, "/proc/vmcore", Vmcore);
            Copy(k, "/sys/firmware/opal/mpipl/core", OpalCore);
        }

        private static void Copy(LinuxKernel k, string from, string to)
        {
            using var src = k.Files.OpenRead(from);
            using var dst = File.Create(to);
            var buf = new byte[1 << 20];
            for (long off = 0; off < src.Length;)
            {
                int n = src.Read(off, buf);
                dst.Write(buf, 0, n);
                off += n;
            }
        }

        internal RealTool.TempDir Dir { get; }

        public PowerNvSystem System { get; }

        public bool Dumped { get; }

        public string Vmcore { get; }

        public string OpalCore { get; }

        public void Dispose() => Dir.Dispose();
    }

    private static RealTool.Result Gdb(string core, string endian, params string[] commands)
    {
        var args = new List<string> { "-nx", "-batch", "-ex", "set architecture powerpc:common64", "-ex", $"set endian {endian}", "-ex", $"core-file {core}" };
        foreach (var c in commands)
        {
            args.AddRange(["-ex", c]);
        }

        var r = RealTool.Run("gdb-multiarch", args);
        TestContext.Current.TestOutputHelper?.WriteLine(r.All);
        return r;
    }

    [Fact]
    public void Gdb_reads_every_cpu_of_the_vmcore_the_crashing_one_with_the_kernels_own_registers()
    {
        Assert.True(_run.Dumped);
        var fw = _run.System.Firmware;
        using var core = ElfCoreFile.Open(_run.Vmcore);
        var notes = core.Notes.Where(n => n.Type == ElfNote.NT_PRSTATUS).Select(n => PrStatus.Parse(n.Desc, core.Machine, _run.Vmcore, 0)).ToList();
        Assert.Equal(8, notes.Count);
        var commands = new List<string>();
        for (int t = 1; t <= 8; t++)
        {
            commands.Add($"thread {t}");
            commands.Add($"printf \"T{t} PC=%lx SP=%lx\\n\", $pc, $r1");
        }

        var r = Gdb(_run.Vmcore, "little", [.. commands]);
        for (int t = 0; t < 8; t++)
        {
            Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"T{t + 1} PC={notes[t]["nip"]:x} SP={notes[t]["r1"]:x}"), r.All);
        }

        // The crashing CPU's note holds the registers the kernel saved in the crash info header (NIP in the kernel),
        // not the firmware's view of it (NIP in OPAL, inside opal_cec_reboot2).
        var crashing = notes[3];
        Assert.Equal(4, crashing.Pid);
        Assert.True(crashing["nip"] >= 0xc000000000000000UL, crashing["nip"].ToString("x", CultureInfo.InvariantCulture));
        Assert.Equal(OpalFirmware.SkibootBase + 0x2d5c8, OpalCoreNip(3));
    }

    /// <summary>The crashing thread's NIP as the OPAL core records it.</summary>
    private ulong OpalCoreNip(int cpu)
    {
        using var core = ElfCoreFile.Open(_run.OpalCore);
        uint pir = _run.System.Firmware.Pir(cpu);
        return core.Notes.Where(n => n.Type == ElfNote.NT_PRSTATUS).Select(n => PrStatus.Parse(n.Desc, core.Machine, _run.OpalCore, 0)).First(p => p.Pid == 100 + (int)pir)["nip"];
    }

    [Fact]
    public void Gdb_reads_the_opal_core_every_thread_labelled_by_pir_and_opal_memory_at_its_base()
    {
        var fw = _run.System.Firmware;
        using (var core = ElfCoreFile.Open(_run.OpalCore))
        {
            Assert.True(core.Machine.BigEndian);
            Assert.Equal(DumpArch.Ppc64, core.Machine.Arch);
        }

        var commands = new List<string> { "info threads" };
        for (int t = 1; t <= 8; t++)
        {
            commands.Add($"thread {t}");
            commands.Add($"printf \"T{t} PC=%lx\\n\", $pc");
        }

        // skiboot's console buffer, by virtual address (opal-base-address + offset in OPAL's memory).
        commands.Add(string.Create(CultureInfo.InvariantCulture, $"x/s 0x{OpalFirmware.SkibootBase + OpalFirmware.InmemConOffset:x}"));
        var r = Gdb(_run.OpalCore, "big", [.. commands]);
        using var c2 = ElfCoreFile.Open(_run.OpalCore);
        var notes = c2.Notes.Where(n => n.Type == ElfNote.NT_PRSTATUS).Select(n => PrStatus.Parse(n.Desc, c2.Machine, _run.OpalCore, 0)).ToList();
        Assert.Equal(8, notes.Count);
        Assert.Equal(100 + (int)fw.Pir(3), notes[0].Pid); // the crashing thread first, for gdb
        for (int t = 0; t < 8; t++)
        {
            Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"LWP {notes[t].Pid}"), r.All);
            Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"T{t + 1} PC={notes[t]["nip"]:x}"), r.All);
        }

        Assert.Contains("SkiBoot skiboot-v7.1 starting...", r.All);
    }

    [Fact]
    public void The_cli_run_saves_releases_and_registers_again_and_a_non_preserving_petitboot_loses_pages()
    {
        using var dir = new RealTool.TempDir();
        var (code, o, e) = InProcessCli.Run("sim", "run", "--platform", "powernv", "--memory", "4G", "--cpus", "8", "--save-to", dir.File("p"), "--json");
        Assert.True(code == 0, e + o);
        using var doc = JsonDocument.Parse(o);
        var root = doc.RootElement;
        Assert.Equal("powernv", root.GetProperty("platform").GetString());
        Assert.Equal("preserving", root.GetProperty("petitboot").GetString());
        Assert.DoesNotContain("\\u002B", o, StringComparison.Ordinal); // JSON for people and jq: "+" as itself
        Assert.Contains("KernelBootSeconds 12 + 0.05 s/GiB", o, StringComparison.Ordinal);
        Assert.True(root.GetProperty("dumped").GetBoolean());
        Assert.True(root.GetProperty("reregistered").GetBoolean());
        var mpipl = root.GetProperty("mpipl");
        Assert.Equal(2, mpipl.GetProperty("mdrt_count").GetInt32());
        Assert.Equal(0UL, mpipl.GetProperty("overwritten_bytes").GetUInt64());
        Assert.True(mpipl.GetProperty("opal_core_bytes").GetInt64() > 0);
        var phases = root.GetProperty("timeline").EnumerateArray().Select(p => p.GetProperty("phase").GetString()!).ToList();
        Assert.Contains(phases, p => p.StartsWith("MPIPL: hostboot copies", StringComparison.Ordinal));
        Assert.Contains(phases, p => p.StartsWith("petitboot (CONFIG_PRESERVE_FA_DUMP) boots", StringComparison.Ordinal));
        ulong kept = root.GetProperty("dumped_pages").GetUInt64();

        // The dump service saved the OPAL core beside the vmcore (0600) and released both; the tools read it.
        string opalcore = Directory.GetFiles(dir.File("p"), "opalcore", SearchOption.AllDirectories).Single();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(opalcore));
        Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(opalcore)!, "vmcore")));
        var info = InProcessCli.Run("info", opalcore);
        Assert.True(info.Code == 0, info.Err);
        Assert.Contains("OPAL core (skiboot firmware, PowerNV MPIPL)", info.Out);
        Assert.Contains("Threads:      8 (PIR 0x0 0x1 0x2 0x3 0x100 0x101 0x102 0x103)", info.Out);
        Assert.Contains("Crashing PIR: 0x0: crash initiated by the kernel (SIGUSR1)", info.Out);
        var regs = InProcessCli.Run("regs", opalcore);
        Assert.Contains("PIR 0x0: pid 100, signal 10 (crashing thread)", regs.Out);
        Assert.Contains("PIR 0x103: pid 359, signal 0", regs.Out);
        var dmesg = InProcessCli.Run("dmesg", opalcore);
        Assert.True(dmesg.Code == 0, dmesg.Err);
        Assert.Contains("] Reboot: OS reported error. Performing MPIPL", dmesg.Out);
        Assert.Contains("] DUMP: Crashing PIR = 0x0", dmesg.Out);
        var vm = InProcessCli.Run("info", Path.Combine(Path.GetDirectoryName(opalcore)!, "vmcore"));
        Assert.True(vm.Code == 0, vm.Err);
        Assert.Contains("6.1.0-50-powerpc64le", vm.Out);
        var vmDmesg = InProcessCli.Run("dmesg", Path.Combine(Path.GetDirectoryName(opalcore)!, "vmcore"));
        Assert.True(vmDmesg.Code == 0, vmDmesg.Err);
        Assert.Contains("Using PowerNV machine description", vmDmesg.Out);
        Assert.Contains("opal fadump: Registration is successful!", vmDmesg.Out);
        var vmRegs = InProcessCli.Run("regs", Path.Combine(Path.GetDirectoryName(opalcore)!, "vmcore"));
        Assert.True(vmRegs.Code == 0, vmRegs.Err);
        Assert.Equal(8, vmRegs.Out.Split('\n').Count(l => l.StartsWith("CPU ", StringComparison.Ordinal)));

        var (code2, o2, e2) = InProcessCli.Run("sim", "run", "--platform", "powernv", "--memory", "4G", "--cpus", "8", "--petitboot", "not-preserving", "--save-to", dir.File("np"), "--json");
        Assert.True(code2 == 0, e2 + o2);
        using var doc2 = JsonDocument.Parse(o2);
        var root2 = doc2.RootElement;
        Assert.True(root2.GetProperty("mpipl").GetProperty("overwritten_bytes").GetUInt64() > 0);
        // The vmemmap above boot memory is petitboot's now: filtering by it keeps fewer of the crashed kernel's pages.
        ulong keptNp = root2.GetProperty("dumped_pages").GetUInt64();
        Assert.True(keptNp < kept, FormattableString.Invariant($"not preserving kept {keptNp} pages, preserving {kept}"));
    }

    [Fact]
    public void The_text_report_names_the_phases_and_the_opal_regions()
    {
        var (code, o, e) = InProcessCli.Run("demo", "--platform", "powernv", "--memory", "4G", "--cpus", "4", "--verbose");
        Assert.True(code == 0, e + o);
        Assert.Contains("IPL with memory preserved: skiboot finds the dump", o);
        Assert.Contains("DUMP: Crashing PIR = 0x0", o);
        Assert.Contains("ibm,firmware-dump: OPAL's copy of itself", o);
        Assert.Contains("fw-load-area (in boot memory): petitboot loaded here at each IPL", o);
        Assert.Contains("kernel metadata (TAG_KERNEL)", o);
    }

    [Fact]
    public void Options_that_do_not_apply_to_powernv_are_usage_errors()
    {
        var (code, _, e) = InProcessCli.Run("demo", "--platform", "powernv", "--hole", "0x100000000:0x10000000");
        Assert.Equal(2, code);
        Assert.Contains("--hole is not simulated on --platform powernv", e);
        (code, _, e) = InProcessCli.Run("demo", "--platform", "pseries", "--petitboot", "preserving");
        Assert.Equal(2, code);
        Assert.Contains("--petitboot applies to --platform powernv only", e);
        (code, _, e) = InProcessCli.Run("demo", "--platform", "powernv", "--petitboot", "maybe");
        Assert.Equal(2, code);
        Assert.Contains("--petitboot must be preserving or not-preserving, not 'maybe'", e);
        (code, _, e) = InProcessCli.Run("demo", "--platform", "powernv", "--memory", "1G");
        Assert.Equal(2, code);
        Assert.Contains("at least 2G", e);
    }
}
