using System.Buffers.Binary;
using Fadump.Firmware.Rtas;
using Fadump.Machine;

namespace Fadump.Firmware.Tests;

public sealed class RtasFirmwareTests
{
    private const ulong StructAt = 0x100000;

    private static (SimulatedMachine, RtasFirmware) NewMachine(RtasOptions? o = null)
    {
        var m = new SimulatedMachine([new MemoryRange(0, 2UL << 30)], 4);
        var fw = new RtasFirmware(m, o);
        m.SetDeviceTree(fw.BuildDeviceTree());
        return (m, fw);
    }

    private static FadumpStructure Valid(RtasFirmware fw)
    {
        var s = new FadumpStructure();
        s.Sections.Add(new FadumpSection { Type = FadumpStructure.CpuStateData, SourceLength = fw.CpuStateSize, DestinationAddress = 0x40000000 });
        s.Sections.Add(new FadumpSection { Type = FadumpStructure.HpteRegion, SourceLength = 0x1000, DestinationAddress = 0x40000000 + fw.CpuStateSize });
        s.Sections.Add(new FadumpSection { Type = FadumpStructure.RealModeRegion, SourceAddress = 0, SourceLength = 0x14000000, DestinationAddress = 0x40010000 });
        return s;
    }

    private static int Register(SimulatedMachine m, RtasFirmware fw, FadumpStructure s, ulong? size = null)
    {
        var b = s.Encode();
        m.Memory.Write(StructAt, b);
        return fw.ConfigureKernelDump(RtasFirmware.CmdRegister, StructAt, size ?? (ulong)b.Length);
    }

    [Fact]
    public void Register_then_register_again_is_already_registered()
    {
        var (m, fw) = NewMachine();
        Assert.Equal(0, Register(m, fw, Valid(fw)));
        Assert.Equal(-9, Register(m, fw, Valid(fw)));
        Assert.Equal(0, fw.ConfigureKernelDump(RtasFirmware.CmdUnregister, StructAt, 440));
        Assert.Equal(0, Register(m, fw, Valid(fw)));
    }

    [Fact]
    public void Parameter_errors()
    {
        var (m, fw) = NewMachine();
        Assert.Equal(-3, Register(m, fw, Valid(fw), size: 39));                 // shorter than the header
        Assert.Equal(-3, Register(m, fw, Valid(fw), size: 200));                // size does not match the sections
        var bad = Valid(fw);
        bad.Version = 2;
        Assert.Equal(-3, Register(m, fw, bad));
        var holes = Valid(fw);
        holes.Sections[2].DestinationAddress = 3UL << 30;                      // beyond RAM
        Assert.Equal(-3, Register(m, fw, holes));
        Assert.Equal(-3, fw.ConfigureKernelDump(RtasFirmware.CmdRegister, 0, 120)); // address 0
        var many = Valid(fw);
        var b = many.Encode();
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), 11);                 // 11 sections
        m.Memory.Write(StructAt, b);
        Assert.Equal(-3, fw.ConfigureKernelDump(RtasFirmware.CmdRegister, StructAt, 40 + (11 * 40)));
        Assert.Equal(-3, fw.ConfigureKernelDump(7, StructAt, 120));             // unknown command
    }

    [Fact]
    public void Injected_busy_codes_come_first()
    {
        var (m, fw) = NewMachine();
        fw.InjectedReturnCodes.Enqueue(-2);
        fw.InjectedReturnCodes.Enqueue(9902);
        Assert.Equal(-2, Register(m, fw, Valid(fw)));
        Assert.Equal(9902, Register(m, fw, Valid(fw)));
        Assert.Equal(0, Register(m, fw, Valid(fw)));
    }

    [Fact]
    public void Os_term_without_extended_os_term_is_a_no_op()
    {
        var (m, fw) = NewMachine(new RtasOptions { ExtendedOsTerm = false });
        Assert.Equal(0, Register(m, fw, Valid(fw)));
        Assert.False(fw.OsTerm("OS panic: test"));
        Assert.False(fw.IsDumpActive);
        Assert.Equal(0, m.Resets);
    }

    [Fact]
    public void Os_term_copies_boot_memory_saves_registers_and_resets_without_clearing_ram()
    {
        var (m, fw) = NewMachine();
        m.Memory.Write(0x1234, [1, 2, 3, 4]);
        m.Memory.Write(0x60000000, [9, 9]);
        m.Cpus[2].Nip = 0xc000000000123456;
        m.Cpus[2].Gpr[5] = 55;
        Assert.Equal(0, Register(m, fw, Valid(fw)));
        Assert.True(fw.OsTerm("OS panic: test"));
        Assert.Equal(1, m.Resets);
        Assert.True(fw.IsDumpActive);
        Assert.False(fw.IsRegistered);

        // The capture kernel overwrites low memory: the copy keeps the crash-time bytes.
        m.Memory.Write(0x1234, [7, 7, 7, 7]);
        var b = new byte[4];
        m.Memory.Read(0x40010000 + 0x1234, b);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, b);
        m.Memory.Read(0x60000000, b.AsSpan(0, 2));
        Assert.Equal(new byte[] { 9, 9 }, b[..2]);

        var dump = m.DeviceTree.Find("/rtas")!.Get("ibm,kernel-dump")!;
        var s = FadumpStructure.Decode(dump)!;
        Assert.Equal(0xC000, s.StatusFlags);
        Assert.All(s.Sections, x => Assert.Equal(x.SourceLength, x.BytesDumped));

        // Register save area: REGSAVE, 4 CPUs, CPU 2's NIA and GPR05.
        var area = new byte[fw.CpuStateSize];
        m.Memory.Read(0x40000000, area);
        Assert.Equal(RegisterSaveArea.Magic, BinaryPrimitives.ReadUInt64BigEndian(area));
        Assert.Equal(4u, BinaryPrimitives.ReadUInt32BigEndian(area.AsSpan(RegisterSaveArea.NumCpuOffset)));
        int cpu2 = RegisterSaveArea.EntriesOffset + (2 * RegisterSaveArea.EntriesPerCpu * 16);
        Assert.Equal(RegisterSaveArea.CpuStart, BinaryPrimitives.ReadUInt64BigEndian(area.AsSpan(cpu2)));
        Assert.Equal(2UL, BinaryPrimitives.ReadUInt64BigEndian(area.AsSpan(cpu2 + 8)));
        Assert.Equal(RegisterSaveArea.Id("NIA"), BinaryPrimitives.ReadUInt64BigEndian(area.AsSpan(cpu2 + 16)));
        Assert.Equal(0xc000000000123456UL, BinaryPrimitives.ReadUInt64BigEndian(area.AsSpan(cpu2 + 24)));
        int gpr5 = cpu2 + 16 + (45 * 16) + (5 * 16);
        Assert.Equal(RegisterSaveArea.Id("GPR05"), BinaryPrimitives.ReadUInt64BigEndian(area.AsSpan(gpr5)));
        Assert.Equal(55UL, BinaryPrimitives.ReadUInt64BigEndian(area.AsSpan(gpr5 + 8)));

        // A dump is active: registering is refused, unregistering too, invalidate clears it.
        Assert.Equal(-10, Register(m, fw, Valid(fw)));
        Assert.Equal(-10, fw.ConfigureKernelDump(RtasFirmware.CmdUnregister, StructAt, 440));
        Assert.Equal(0, fw.ConfigureKernelDump(RtasFirmware.CmdInvalidate, StructAt, 440));
        Assert.Null(m.DeviceTree.Find("/rtas")!.Get("ibm,kernel-dump"));
        Assert.Equal(0, Register(m, fw, Valid(fw)));
    }

    [Fact]
    public void More_maxcpus_than_cpus_leaves_the_cpu_section_short()
    {
        var (m, fw) = NewMachine(new RtasOptions { MaxCpus = 8 });
        Assert.Equal(0, Register(m, fw, Valid(fw)));
        fw.OsTerm("x");
        var s = FadumpStructure.Decode(m.DeviceTree.Find("/rtas")!.Get("ibm,kernel-dump")!)!;
        Assert.True(s.Sections[0].BytesDumped > 0 && s.Sections[0].BytesDumped < s.Sections[0].SourceLength, $"{s.Sections[0].BytesDumped} of {s.Sections[0].SourceLength} bytes dumped");
    }

    [Fact]
    public void Device_tree_carries_the_sizes_and_reserved_ranges()
    {
        var (_, fw) = NewMachine(new RtasOptions { ReservedRanges = [new MemoryRange(0x7000_0000, 0x10_0000)] });
        var dt = fw.BuildDeviceTree();
        var sizes = DeviceTreeNode.Cells(dt.Find("/rtas")!.Get("ibm,configure-kernel-dump-sizes")!);
        Assert.Equal(new uint[] { 1, 0, (uint)fw.CpuStateSize, 2, 0, 0x1000 }, sizes);
        Assert.Equal(new uint[] { 0, 0x7000_0000, 0, 0x10_0000 }, DeviceTreeNode.Cells(dt.Get("reserved-ranges")!));
    }
}
