using Fadump.Formats.Elf;
using Fadump.Formats.IO;

namespace Fadump.Formats.Tests.Elf;

public sealed class ElfCoreTests
{
    public static TheoryData<string> MachineNames => ["x86_64", "ppc64le", "ppc64"];

    [Theory]
    [MemberData(nameof(MachineNames))]
    public void Round_trip_preserves_header_notes_registers_and_memory(string name)
    {
        var m = DumpMachine.Parse(name);
        int ps = m.DefaultPageSize;
        byte[] file = TestDumps.BuildElf(m, ps);
        using var dump = DumpFile.Open(new MemorySource(file, "test.elf"));

        Assert.Equal(DumpFormat.Elf, dump.Format);
        Assert.Equal(m, dump.Machine);
        Assert.Equal(ps, dump.PageSize);
        Assert.Equal("6.1.0-test", dump.VmcoreInfo!.OsRelease);
        Assert.Equal(1795249829, dump.VmcoreInfo.CrashTime);
        Assert.Contains(dump.Notes, n => n.Name == "QEMU" && n.Type == 0x1234 && n.Desc.SequenceEqual(new byte[] { 1, 2, 3, 4, 5 }));
        var cpus = dump.CpuStates();
        Assert.Equal(2, cpus.Count);
        Assert.Equal(TestDumps.Cpu(m, 1).Registers, cpus[1].Registers);
        Assert.Equal(101, cpus[1].Pid);
        Assert.Equal(12UL, dump.MaxPfn);
        Assert.Equal([new PhysicalRange(0, 4 * (ulong)ps), new PhysicalRange(8 * (ulong)ps, 12 * (ulong)ps)], dump.MemoryRanges().ToArray());

        var buf = new byte[100];
        ulong at = 8 * (ulong)ps + 17;
        Assert.Equal(100, dump.ReadPhysical(at, buf));
        for (int i = 0; i < buf.Length; i++)
        {
            Assert.Equal(TestDumps.PatternByte(at + (ulong)i), buf[i]);
        }
    }

    [Theory]
    [MemberData(nameof(MachineNames))]
    public void Bytes_past_p_filesz_read_as_zeros_and_holes_are_not_present(string name)
    {
        var m = DumpMachine.Parse(name);
        int ps = m.DefaultPageSize;
        using var dump = DumpFile.Open(new MemorySource(TestDumps.BuildElf(m, ps)));
        var page = new byte[ps];

        Assert.Equal(PageState.Dumped, dump.ReadPage(11, page));
        Assert.All(page, b => Assert.Equal(0, b));
        Assert.Equal(PageState.NotPresent, dump.ReadPage(5, page));
        Assert.Equal(PageState.NotPresent, dump.ReadPage(1000, page));
        Assert.Equal(PageState.Dumped, dump.ReadPage(9, page));
        Assert.Equal(TestDumps.PatternByte(9 * (ulong)ps), page[0]);

        // A read that runs into the hole stops at the hole.
        var buf = new byte[ps];
        Assert.Equal(10, dump.ReadPhysical((4 * (ulong)ps) - 10, buf));
        Assert.Equal(0, dump.ReadPhysical(5 * (ulong)ps, buf));
    }

    [Theory]
    [MemberData(nameof(MachineNames))]
    public void Reads_by_virtual_address_use_p_vaddr(string name)
    {
        var m = DumpMachine.Parse(name);
        using var elf = ElfCoreFile.Open(new MemorySource(TestDumps.BuildElf(m, m.DefaultPageSize)));
        var buf = new byte[8];
        ulong paddr = 123;
        Assert.Equal(8, elf.ReadVirtual(TestDumps.VirtualFor(m, paddr), buf));
        Assert.Equal(TestDumps.PatternByte(paddr), buf[0]);
        Assert.Equal(0, elf.ReadVirtual(0x1000, buf));
    }

    [Fact]
    public void Big_endian_header_is_big_endian_on_disk()
    {
        byte[] file = TestDumps.BuildElf(DumpMachine.Ppc64, 65536);
        Assert.Equal(2, file[5]);        // ELFDATA2MSB
        Assert.Equal(0, file[18]);       // e_machine high byte first
        Assert.Equal(21, file[19]);
        Assert.Equal(1, file[51]);       // e_flags = 1 (ELFv1)
    }

    [Fact]
    public void Prstatus_sizes_match_the_kernel()
    {
        Assert.Equal(336, PrStatus.DescSize(DumpArch.X86_64));
        Assert.Equal(504, PrStatus.DescSize(DumpArch.Ppc64));
        // 12-byte header + "CORE\0" padded to 8 + 504; the kernel's per-CPU buffer of 536 bytes
        // (CRASH_CORE_NOTE_BYTES) adds the 12-byte terminating header.
        Assert.Equal(524, TestDumps.Cpu(DumpMachine.Ppc64le, 0).ToNote(DumpMachine.Ppc64le).EncodedSize);
    }

    [Fact]
    public void Incomplete_flag_is_set_by_MarkIncomplete()
    {
        var sink = new MemorySink();
        var m = DumpMachine.X86_64;
        var w = new ElfCoreWriter(sink, m, [TestDumps.Cpu(m, 0).ToNote(m)], [new ElfSegmentSpec(0, 0, 8192, 8192)], 4096);
        w.Write(new byte[4096]);
        w.MarkIncomplete();
        using var dump = DumpFile.Open(new MemorySource(sink.ToArray()));
        Assert.True(dump.IsIncomplete);
    }

    [Theory]
    [MemberData(nameof(MachineNames))]
    public void Prpsinfo_round_trips_in_every_byte_order(string name)
    {
        var m = DumpMachine.Parse(name);
        var info = new PrPsInfo(0, 'R', 0, 0, 0x40000140, 0, 0, 1, 0, 0, 0, "vmlinux", "");
        var sink = new MemorySink();
        new ElfCoreWriter(sink, m, [TestDumps.Cpu(m, 0).ToNote(m), info.ToNote(m.BigEndian)], [], m.DefaultPageSize).Complete();
        using var dump = DumpFile.Open(new MemorySource(sink.ToArray()));
        Assert.Equal(info, dump.ProcessInfo());
        Assert.Equal(136, info.Encode(m.BigEndian).Length);
    }
}
