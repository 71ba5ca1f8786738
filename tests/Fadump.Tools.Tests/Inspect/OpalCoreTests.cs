using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Fadump.Cli;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using Fadump.Tools.Inspect;
using Fadump.Tools.Tests.Collector;
using Fadump.Tools.Tests.Service;
using Fadump.Tools.Tests.Synthetic;

namespace Fadump.Tools.Tests.Inspect;

/// <summary>OPAL cores (opal-core.c create_opalcore) through OpalCore, SkibootConsole and `fadump info/regs/dmesg`.</summary>
public sealed class OpalCoreTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static IDump Open(byte[] bytes, string name = "opalcore") => DumpFile.Open(new MemorySource(bytes, name));

    private string Write(byte[] bytes, string name = "opalcore")
    {
        string p = _dir.File(name);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    private static (int Rc, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int rc = FadumpCommand.Run(args, o, e);
        return (rc, o.ToString(), e.ToString());
    }

    [Fact]
    public void A_standard_core_is_read_as_create_opalcore_wrote_it()
    {
        var b = OpalCoreBuilder.Standard();
        using var dump = Open(b.Build());

        var core = OpalCore.TryRead(dump);

        Assert.NotNull(core);
        Assert.Equal(DumpMachine.Ppc64, dump.Machine);
        Assert.Equal([8, 0, 16, 24], core.Threads.Select(t => t.Pir));
        Assert.True(core.CrashingThread.Crashing);
        Assert.Equal(8, core.CrashingThread.Pir);
        Assert.Equal(108, core.CrashingThread.Status.Pid);
        Assert.True(core.KernelInitiated);
        Assert.Equal(OpalCoreBuilder.SkibootBase + 0x10, core.OpalEntry);
        Assert.Equal(OpalCoreBuilder.SkibootBase, core.OpalBase);
        var region = Assert.Single(core.Regions);
        Assert.Equal(OpalCoreBuilder.SkibootBase, region.VirtualAddress);
        Assert.Equal(0UL, region.PhysicalAddress);
        Assert.Equal(OpalCoreBuilder.SkibootSize + (4 * OpalCoreBuilder.StackPerCpu), region.Size);
        Assert.Equal(b.DataOffset, region.FileOffset);
        Assert.Equal(0, region.FileOffset % OpalCoreBuilder.PageSize);
        Assert.Empty(core.Warnings);
        Assert.Equal(b.Threads[2].Regs[32], core.Threads.Single(t => t.Pir == 16).Status["nip"]);

        var console = SkibootConsole.Read(core);
        Assert.Equal(b.Console.ToString(), Encoding.ASCII.GetString(console.Text));
        Assert.Equal(OpalCoreBuilder.SkibootBase + OpalCoreBuilder.InMemConOffset, console.ObufAddress);
        Assert.Equal(OpalCoreBuilder.InMemConLen - OpalCoreBuilder.InMemConInLen, console.ObufSize);
        Assert.False(console.Wrapped);
    }

    [Fact]
    public void Inactive_threads_leave_a_zero_tail_that_ends_the_notes()
    {
        var b = OpalCoreBuilder.Small(threads: 4);
        b.Threads[2] = b.Threads[2] with { Active = false };
        b.Threads[3] = b.Threads[3] with { Active = false };
        byte[] bytes = b.Build();
        ulong noteSize = BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(OpalCoreBuilder.EhdrSize + 32));
        Assert.Equal((ulong)b.NotesSize, noteSize); // room for all 4

        using var dump = Open(bytes);
        var core = OpalCore.TryRead(dump)!;

        Assert.Equal([4, 0], core.Threads.Select(t => t.Pir));
        Assert.Equal(3, dump.Notes.Count); // 2 × NT_PRSTATUS + NT_AUXV, then zeros
    }

    [Fact]
    public void A_crash_the_kernel_did_not_initiate_is_SIGTERM()
    {
        var b = OpalCoreBuilder.Small();
        b.KernelInitiated = false;
        using var dump = Open(b.Build());

        var core = OpalCore.TryRead(dump)!;

        Assert.False(core.KernelInitiated);
        Assert.Equal(OpalCore.SigTerm, core.CrashingThread.Status.CurSig);
        Assert.Contains("crash not initiated by the kernel (SIGTERM)", DumpSummary.Of(dump).ToText(), StringComparison.Ordinal);
    }

    [Fact]
    public void Several_regions_have_cumulative_paddr_and_vaddr_at_the_opal_base()
    {
        var b = OpalCoreBuilder.Small();
        b.RegionSizes.Add(0x2_0000);
        b.RegionSizes.Add(0x1_0000);
        using var dump = Open(b.Build());

        var core = OpalCore.TryRead(dump)!;

        Assert.Equal([0UL, 0x3_0000, 0x5_0000], core.Regions.Select(r => r.PhysicalAddress));
        Assert.Equal(core.Regions.Select(r => OpalCoreBuilder.SkibootBase + r.PhysicalAddress), core.Regions.Select(r => r.VirtualAddress));
        Assert.Equal(b.Console.ToString(), Encoding.ASCII.GetString(SkibootConsole.Read(core).Text));
    }

    [Fact]
    public void A_wrapped_console_is_read_from_out_pos_to_the_end_then_from_the_start()
    {
        var b = OpalCoreBuilder.Small();
        b.ObufSize = 256;
        b.Console.Clear();
        for (int i = 0; i < 40; i++)
        {
            b.Console.Append(System.Globalization.CultureInfo.InvariantCulture, $"[{i,4}.000000000,5] line {i}\n");
        }

        string all = b.Console.ToString();
        using var dump = Open(b.Build());

        var console = SkibootConsole.Read(OpalCore.TryRead(dump)!);

        Assert.True(console.Wrapped);
        Assert.Equal((uint)(all.Length % 256), console.OutPos);
        Assert.Equal(all[^256..], Encoding.ASCII.GetString(console.Text));
    }

    [Fact]
    public void Vmcores_and_other_big_endian_cores_are_not_opal_cores()
    {
        using var root = SyntheticRoot.Kdump(patternBytes: 0);
        using (var vmcore = DumpFile.Open(Path.Combine(root.Dir, "proc/vmcore")))
        {
            Assert.Null(OpalCore.TryRead(vmcore));
            Assert.DoesNotContain("opal", DumpSummary.Of(vmcore).ToJson(), StringComparison.Ordinal);
        }

        // pr_pid below 100: a process core, not OPAL's.
        var b = OpalCoreBuilder.Small();
        byte[] bytes = b.Build();
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(b.HeaderSize + 20 + OpalCoreBuilder.PrPidOffset), 42);
        using var proc = Open(bytes);
        Assert.Null(OpalCore.TryRead(proc));
    }

    [Fact]
    public void Info_prints_the_threads_regions_entry_and_console()
    {
        string path = Write(OpalCoreBuilder.Standard().Build());

        var (rc, text, err) = Cli("info", path);

        Assert.True(rc == 0, err);
        Assert.Contains("Kind:         OPAL core (skiboot firmware, PowerNV MPIPL)", text, StringComparison.Ordinal);
        Assert.Contains("Architecture: ppc64 (big-endian)", text, StringComparison.Ordinal);
        Assert.Contains("Threads:      4 (PIR 0x8 0x0 0x10 0x18)", text, StringComparison.Ordinal);
        Assert.Contains("Crashing PIR: 0x8: crash initiated by the kernel (SIGUSR1)", text, StringComparison.Ordinal);
        Assert.Contains("OPAL entry:   0x30000010", text, StringComparison.Ordinal);
        Assert.Contains("Region 0:     0x30000000-0x31c30000 (29556736 bytes)", text, StringComparison.Ordinal);
        Assert.Contains("Console:      skiboot memcons at 0x30d36e58: ", text, StringComparison.Ordinal);
        Assert.DoesNotContain("OS release", text, StringComparison.Ordinal);

        var (jrc, json, _) = Cli("info", path, "--json");
        Assert.Equal(0, jrc);
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        Assert.Equal("opal-core", r.GetProperty("kind").GetString());
        Assert.Equal("big-endian", r.GetProperty("byte_order").GetString());
        var opal = r.GetProperty("opal");
        Assert.Equal(8, opal.GetProperty("crashing_pir").GetInt32());
        Assert.True(opal.GetProperty("kernel_initiated").GetBoolean());
        Assert.Equal("0x30000010", opal.GetProperty("entry").GetString());
        Assert.Equal(4, opal.GetProperty("threads").GetArrayLength());
        Assert.Equal("0x31c30000", opal.GetProperty("regions")[0].GetProperty("end").GetString());
        Assert.True(opal.GetProperty("console").GetProperty("found").GetBoolean());
    }

    [Fact]
    public void Regs_labels_every_thread_by_its_pir()
    {
        var b = OpalCoreBuilder.Small(threads: 3);
        string path = Write(b.Build());

        var (rc, text, err) = Cli("regs", path);

        Assert.True(rc == 0, err);
        Assert.Contains("PIR 0x4: pid 104, signal 10 (crashing thread)\n", text, StringComparison.Ordinal);
        Assert.Contains("PIR 0x0: pid 100, signal 0\n", text, StringComparison.Ordinal);
        Assert.Contains("PIR 0x8: pid 108, signal 0\n", text, StringComparison.Ordinal);
        Assert.Contains("nip       0xc000000000080020", text, StringComparison.Ordinal);
        var (_, json, _) = Cli("regs", path, "--json");
        using var doc = JsonDocument.Parse(json);
        var first = doc.RootElement.GetProperty("cpus")[0];
        Assert.Equal(4, first.GetProperty("pir").GetInt32());
        Assert.True(first.GetProperty("crashing").GetBoolean());
    }

    [Fact]
    public void Dmesg_prints_the_skiboot_console()
    {
        var b = OpalCoreBuilder.Small();
        string path = Write(b.Build());

        var (rc, text, err) = Cli("dmesg", path);

        Assert.True(rc == 0, err);
        Assert.Equal(b.Console.ToString(), text);
        Assert.Contains("[   12.345678901,5] DUMP: Payload registered for MPIPL\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_console_whose_obuf_is_outside_the_core_is_reported_with_its_offset()
    {
        var b = OpalCoreBuilder.Small();
        b.DamageMemcons = m => BinaryPrimitives.WriteUInt64BigEndian(m.AsSpan(8), 0x7000_0000);
        string path = Write(b.Build());

        var (rc, _, err) = Cli("dmesg", path);

        Assert.Equal(1, rc);
        string offset = $"at offset 0x{b.FileOffsetOf(b.MemconsOffset!.Value):x}";
        Assert.Contains($"{path}: {offset}: memcons at physical 0x30010008: obuf [0x70000000, +0x1000) is outside the core", err, StringComparison.Ordinal);
        var (irc, info, _) = Cli("info", path);
        Assert.Equal(0, irc);
        Assert.Contains("Console:      not found (", info, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("size0", "obuf_size 0x0: expected 1 to 0x1000000 bytes")]
    [InlineData("huge", "obuf_size 0xffffffff: expected 1 to 0x1000000 bytes")]
    [InlineData("pos", "out_pos 0x1001 is beyond obuf_size 0x1000 (memory console corruption)")]
    [InlineData("wrapobuf", "obuf [0xfffffffffffff000, +0x1000) is outside the core")]
    public void A_damaged_memcons_is_refused(string damage, string expected)
    {
        var b = OpalCoreBuilder.Small();
        b.DamageMemcons = m =>
        {
            switch (damage)
            {
                case "size0": BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(24), 0); break;
                case "huge": BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(24), uint.MaxValue); break;
                case "pos": BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(32), 0x1001); break;
                default: BinaryPrimitives.WriteUInt64BigEndian(m.AsSpan(8), 0xffff_ffff_ffff_f000); break;
            }
        };
        using var dump = Open(b.Build());

        var e = Assert.Throws<DumpFormatException>(() => SkibootConsole.Read(OpalCore.TryRead(dump)!));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void No_memcons_is_a_clear_dmesg_error()
    {
        var b = OpalCoreBuilder.Small();
        b.MemconsOffset = null;
        string path = Write(b.Build());

        var (rc, _, err) = Cli("dmesg", path);

        Assert.Equal(1, rc);
        Assert.Contains($"{path}: no skiboot console: no memcons (magic 0x6630696567726173 at 8-byte alignment) in the 196608 bytes of PT_LOAD data searched", err, StringComparison.Ordinal);
    }

    [Fact]
    public void A_misaligned_magic_is_not_a_memcons()
    {
        var b = OpalCoreBuilder.Small();
        b.MemconsOffset = 0x1_0004;
        using var dump = Open(b.Build());

        Assert.Null(SkibootConsole.TryRead(OpalCore.TryRead(dump)!, out var problem));
        Assert.Contains("no memcons", problem!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_file_is_refused_naming_it()
    {
        string path = Write([]);

        var (rc, _, err) = Cli("info", path);

        Assert.Equal(1, rc);
        Assert.Contains($"{path}: at offset 0x0: unknown dump format: expected an ELF core", err, StringComparison.Ordinal);
    }

    [Fact]
    public void A_core_cut_in_its_PT_LOAD_data_is_truncated()
    {
        var b = OpalCoreBuilder.Small();
        byte[] bytes = b.Build();
        string path = Write(bytes[..(bytes.Length - 100)]);

        var (rc, _, err) = Cli("info", path);

        Assert.Equal(1, rc);
        Assert.Contains($"{path}: at offset 0x{OpalCoreBuilder.EhdrSize + OpalCoreBuilder.PhdrSize:x}: PT_LOAD [0x{b.DataOffset:x}, +0x30000) of physical 0x0: expected it inside the", err, StringComparison.Ordinal);
    }

    [Fact]
    public void A_PT_LOAD_beyond_the_file_is_refused()
    {
        var b = OpalCoreBuilder.Small();
        byte[] bytes = b.Build();
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(OpalCoreBuilder.EhdrSize + OpalCoreBuilder.PhdrSize + 8), 1UL << 40);
        using var src = new MemorySource(bytes, "opalcore");

        var e = Assert.Throws<DumpFormatException>(() => DumpFile.Open(src));

        Assert.Contains("PT_LOAD [0x10000000000, +0x30000)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Corrupted_notes_are_refused_with_their_offset()
    {
        var b = OpalCoreBuilder.Small();
        byte[] bytes = b.Build();
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(b.HeaderSize + 4), 0x7fff_0000); // first n_descsz

        var e = Assert.Throws<DumpFormatException>(() => Open(bytes).Dispose());

        Assert.Contains($"opalcore: at offset 0x{b.HeaderSize:x}: ELF note with namesz 5 / descsz 2147418112", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_short_prstatus_is_refused_with_its_note_offset()
    {
        var b = OpalCoreBuilder.Small(threads: 1);
        byte[] bytes = b.Build();

        // The first note claims 100 bytes of descriptor; the AUXV note is then found past it by the same rule.
        int note = b.HeaderSize;
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(note + 4), 100);
        var auxv = bytes.AsSpan(note + 20 + 504, 44).ToArray();
        bytes.AsSpan(note + 20 + 100, 504 - 100 + 44).Clear();
        auxv.CopyTo(bytes.AsSpan(note + 20 + 100));
        using var dump = Open(bytes);

        var e = Assert.Throws<DumpFormatException>(() => OpalCore.TryRead(dump));

        Assert.Equal($"opalcore: at offset 0x{note:x}: NT_PRSTATUS of 100 bytes: expected 504 for ppc64", e.Message);
    }

    [Fact]
    public void An_auxv_entry_without_its_value_is_refused()
    {
        var b = OpalCoreBuilder.Small(threads: 1);
        byte[] bytes = b.Build();
        int auxv = b.HeaderSize + 20 + 504;
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(auxv + 4), 8); // descsz: AT_ENTRY alone
        bytes.AsSpan(auxv + 20 + 8, 16).Clear();
        using var dump = Open(bytes);

        var e = Assert.Throws<DumpFormatException>(() => OpalCore.TryRead(dump));

        Assert.Contains($"at offset 0x{auxv:x}: NT_AUXV note of 8 bytes: entry 0 (type 9) has no value", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_directory_or_a_fifo_is_refused_without_hanging()
    {
        string dir = Path.Combine(_dir.Path, "d");
        Directory.CreateDirectory(dir);
        string fifo = _dir.File("fifo");
        Assert.Equal(0, TmpfsMount.Run("mkfifo", fifo).ExitCode);

        var (drc, _, derr) = Cli("dmesg", dir);
        var (frc, _, ferr) = Cli("info", fifo);

        Assert.Equal(1, drc);
        Assert.Contains($"{dir}: Is a directory", derr, StringComparison.Ordinal);
        Assert.Equal(1, frc);
        Assert.Contains($"{fifo}: is a FIFO", ferr, StringComparison.Ordinal);
    }
}
