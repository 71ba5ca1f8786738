using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Fadump.Cli;
using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Formats.Elf;
using Fadump.Formats.Kdump;
using Fadump.Kernel;
using Fadump.Kernel.Arch.X86_64;
using Fadump.Kernel.Platforms;
using Fadump.Machine;
using Fadump.Tools.Collector;
using Fadump.Tools.Inspect;

namespace Fadump.Interop.Tests;

/// <summary>
/// One crashed simulated PC (1 GiB, 4 CPUs, crashkernel=256M, kexec_load, CPU 1 panics): its capture kernel's
/// /proc/vmcore copied to a file once, for the real tools.
/// </summary>
public sealed class SimulatedKdumpFixture : IDisposable
{
    public const int CrashingCpu = 1;
    private readonly RealTool.TempDir _dir = new();

    public SimulatedKdumpFixture()
    {
        var sw = Stopwatch.StartNew();
        Pc = SimulatedKdumpTests.Crashed(KexecLoadMode.Legacy, 1UL << 30, 4);
        Vmcore = _dir.File("vmcore");
        using (var src = Pc.Kernel!.Files.OpenRead("/proc/vmcore"))
        using (var dst = System.IO.File.Create(Vmcore))
        {
            var buf = new byte[1 << 20];
            for (long off = 0; off < src.Length;)
            {
                int n = src.Read(off, buf);
                Assert.True(n > 0, "/proc/vmcore ended early");
                dst.Write(buf, 0, n);
                off += n;
            }
        }

        BuildSeconds = sw.Elapsed.TotalSeconds;
    }

    public X86_64Pc Pc { get; }

    /// <summary>The crashed (first) kernel.</summary>
    public LinuxKernel First => Pc.Boots[0];

    public X86_64Arch Arch => (X86_64Arch)First.Arch;

    public string Vmcore { get; }

    /// <summary>Seconds to boot, load, crash, capture and copy /proc/vmcore.</summary>
    public double BuildSeconds { get; }

    public string File(string name) => _dir.File(name);

    public void Dispose() => _dir.Dispose();
}

/// <summary>
/// The simulated x86_64 kdump vmcore read by the real tools (Debian's makedumpfile 1.7.2, crash 8.0.2,
/// gdb-multiarch, libkdumpfile 0.5.1): each test fails if the simulator's /proc/vmcore is not what they expect of
/// a real one, or if our tools read it otherwise than they do.
/// </summary>
[Trait("Category", "Interop")]
public sealed class SimulatedKdumpRealToolTests(SimulatedKdumpFixture fx) : IClassFixture<SimulatedKdumpFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Hex(ulong v) => v.ToString("x", CultureInfo.InvariantCulture);

    [Fact]
    public void Makedumpfile_excludes_the_pages_fadump_save_excludes_at_every_dump_level()
    {
        using (var input = DumpFile.Open(fx.Vmcore))
        {
            var elf = ((ElfDump)input).Elf;
            // The kernel image (KERNEL text PT_LOAD, 50 MiB) and PFN 0x9f (the first RAM PT_LOAD ends at the EBDA, 0x9fc00).
            Assert.Equal(0x3200UL, MakedumpfileLevels.PagesCoveredTwice(elf, 4096));
            Assert.Equal(1UL, MakedumpfileLevels.NoDataPages(elf, 4096));
        }

        var table = MakedumpfileLevels.CompareEveryLevel(fx.Vmcore, fx.File, Ct);
        table.Add(FormattableString.Invariant($"(fixture: boot, crash, capture and copy of /proc/vmcore {fx.BuildSeconds:F1} s)"));
        TestContext.Current.SendDiagnosticMessage(string.Join('\n', table));
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join('\n', table));
    }

    [Fact]
    public void Makedumpfile_dump_dmesg_prints_the_bytes_fadump_dmesg_prints()
    {
        string log = fx.File("md-dmesg.txt");
        var md = RealTool.Run("makedumpfile", ["--dump-dmesg", fx.Vmcore, log]);
        Assert.True(md.ExitCode == 0, md.All);
        byte[] theirs = System.IO.File.ReadAllBytes(log);

        using var dump = DumpFile.Open(fx.Vmcore);
        byte[] ours = KernelLog.Read(dump).ToMakedumpfileBytes();
        Assert.Equal(Encoding.Latin1.GetString(theirs), Encoding.Latin1.GetString(ours));
        Assert.Contains("Kernel panic - not syncing: Attempted to kill init!", Encoding.Latin1.GetString(theirs), StringComparison.Ordinal);

        // The CLI, both ways it prints the log.
        var so = new StringWriter();
        var se = new StringWriter();
        Assert.Equal(0, FadumpCommand.Run(["dmesg", fx.Vmcore], so, se));
        Assert.Equal(Encoding.Latin1.GetString(theirs), so.ToString());
        string saved = fx.File("fadump-dmesg.txt");
        Assert.Equal(0, FadumpCommand.Run(["save", "--dump-dmesg", fx.Vmcore, saved], new StringWriter(), new StringWriter()));
        Assert.Equal(theirs, System.IO.File.ReadAllBytes(saved));
    }

    [Fact]
    public void Crash_reads_the_release()
    {
        var c = RealTool.Run("crash", ["--osrelease", fx.Vmcore]);
        Assert.True(c.ExitCode == 0, $"crash --osrelease exited {c.ExitCode}: {c.All}");
        Assert.Equal(X86_64Pc.Release, c.Stdout.Trim());
    }

    [Fact]
    public void Gdb_prints_every_cpu_s_registers_as_the_simulator_set_them()
    {
        ulong panic = fx.Arch.Sym(X86_64Arch.PanicOffset), nmi = fx.Arch.Sym(X86_64Arch.CrashNmiOffset);
        var cpus = fx.Pc.Machine.Cpus;
        Assert.Equal(4, cpus.Count);

        // As the kernel writes them (crash_save_cpu: pr_pid = current->pid), the notes of the idle CPUs that took the
        // NMI say pid 0 and the panicking CPU pid 1 (init): gdb makes one thread per distinct pid, so on this file, as
        // on a real kdump vmcore, it shows the panicking CPU and one of the idle ones.
        var raw = RunGdb(fx.Vmcore);
        Assert.Equal([$"rip={Hex(nmi)}", $"rip={Hex(panic)}"], raw.Select(l => l.Split(' ')[0]).Order());

        // The same notes with pr_pid = CPU + 1 (what QEMU writes for gdb's sake): one thread per CPU, in note order,
        // each with the registers the simulator set.
        string small = fx.File("small.elf");
        using (var input = DumpFile.Open(fx.Vmcore))
        {
            DumpSaver.Save(input, small, new SaveOptions { DumpLevel = 31, Format = SaveFormat.Elf }, Ct);
        }

        int patched = PatchPrStatusPids(small);
        Assert.Equal(4, patched);
        var expected = cpus.Select(c => $"rip={Hex(c.Id == SimulatedKdumpFixture.CrashingCpu ? panic : nmi)} rsp={Hex(c.X86.Regs[X86_64RegisterFile.Rsp])}");
        Assert.Equal(expected.Order(), RunGdb(small).Order());
    }

    /// <summary>"rip=… rsp=…" of every thread gdb makes of the core's NT_PRSTATUS notes.</summary>
    private static string[] RunGdb(string core)
    {
        var r = RealTool.Run("gdb-multiarch",
            ["-nx", "-batch", "-ex", "set architecture i386:x86-64", "-ex", $"core-file {core}", "-ex", "info threads",
             "-ex", "thread apply all printf \"rip=%lx rsp=%lx\\n\", $rip, $rsp"]);
        TestContext.Current.TestOutputHelper?.WriteLine(r.All);
        return [.. r.Stdout.Split('\n').Where(l => l.StartsWith("rip=", StringComparison.Ordinal))];
    }

    /// <summary>Sets each NT_PRSTATUS's pr_pid (offset 32) to its CPU's index + 1, in the file's PT_NOTE; returns how many.</summary>
    private static int PatchPrStatusPids(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        var eh = new byte[64];
        f.ReadExactly(eh);
        long phoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(eh.AsSpan(32));
        var ph = new byte[56];
        f.Position = phoff;
        f.ReadExactly(ph);
        Assert.Equal(4u, BinaryPrimitives.ReadUInt32LittleEndian(ph)); // PT_NOTE first
        long off = (long)BinaryPrimitives.ReadUInt64LittleEndian(ph.AsSpan(8));
        var notes = new byte[BinaryPrimitives.ReadUInt64LittleEndian(ph.AsSpan(32))];
        f.Position = off;
        f.ReadExactly(notes);
        int n = 0;
        for (int p = 0; p + 12 <= notes.Length;)
        {
            int nsz = (int)BinaryPrimitives.ReadUInt32LittleEndian(notes.AsSpan(p)), dsz = (int)BinaryPrimitives.ReadUInt32LittleEndian(notes.AsSpan(p + 4));
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(notes.AsSpan(p + 8));
            int desc = p + 12 + ((nsz + 3) & ~3);
            if (type == ElfNote.NT_PRSTATUS)
            {
                BinaryPrimitives.WriteInt32LittleEndian(notes.AsSpan(desc + 32), ++n);
            }

            p = desc + ((dsz + 3) & ~3);
        }

        f.Position = off;
        f.Write(notes);
        return n;
    }

    [Fact]
    public void Libkdumpfile_reads_kernel_virtual_addresses_as_fadump_read_does()
    {
        ulong uts = fx.First.VmcoreInfo.Symbol("init_uts_ns")!.Value;
        ulong memSection = fx.First.VmcoreInfo.Symbol("mem_section")!.Value;
        ulong pageOffset = fx.Arch.PageOffset, vmemmap = fx.Arch.VmemmapBase;
        (ulong, int)[] samples =
        [
            (uts, 390),                                  // kernel text mapping: init_uts_ns (sysname .. domainname)
            (fx.Arch.Sym(X86_64Arch.PanicOffset), 64),   // kernel text: panic
            (pageOffset + 0x1234000, 4096),              // direct map
            (pageOffset + 0x0ffff800, 4096),             // direct map, across a page boundary
            (memSection, 256),                           // mem_section roots (memblock, in the direct map)
            (vmemmap + (0x12345 * 64), 64),              // vmemmap: struct page of PFN 0x12345
            (vmemmap + (0x10000 * 64) - 32, 64),         // vmemmap: across two sections' struct pages
        ];
        var lk = Libkdumpfile.Read(samples, virtualAddresses: true, fx.Vmcore)[0];
        Assert.Equal("elf", lk.Format);
        Assert.Equal("x86_64", lk.Arch);
        Assert.Equal(X86_64Pc.Release, lk.Release);

        using var dump = DumpFile.Open(fx.Vmcore);
        var ks = Assert.IsType<X86_64KernelAddressSpace>(KernelAddressSpace.Create(dump));
        for (int i = 0; i < samples.Length; i++)
        {
            var (addr, len) = samples[i];
            var ours = new byte[len];
            Assert.Equal(len, ks.ReadVirtual(addr, ours));
            Assert.True(lk.Data[i] is not null, $"libkdumpfile could not read 0x{Hex(addr)}");
            Assert.True(ours.AsSpan().SequenceEqual(lk.Data[i]), $"0x{Hex(addr)}: libkdumpfile and fadump read differ");
        }

        Assert.StartsWith("Linux\0", Encoding.ASCII.GetString(lk.Data[0]!), StringComparison.Ordinal);
        // struct page of PFN 0x12345: flags has the node/zone/section bits, not all zeros.
        Assert.True(lk.Data[5]!.AsSpan().ContainsAnyExcept((byte)0));
    }
}
