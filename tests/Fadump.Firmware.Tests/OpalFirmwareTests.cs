using System.Buffers.Binary;
using System.Text;
using Fadump.Firmware.Opal;
using Fadump.Machine;

namespace Fadump.Firmware.Tests;

/// <summary>
/// The simulated skiboot/hostboot/SBE against skiboot's core/opal-dump.c, hdata/spira.c, hw/sbe-p9.c and
/// core/console.c: the tables are read back as raw bytes at their real offsets above SKIBOOT_BASE.
/// </summary>
public sealed class OpalFirmwareTests
{
    private const ulong Gib = 1UL << 30;
    private const ulong Top = 4 * Gib;
    private const ulong Base = OpalFirmware.SkibootBase;
    private const ulong Hrmor = OpalFirmware.HrmorBit;

    private static (SimulatedMachine M, OpalFirmware Fw) PowerOn(OpalOptions? o = null, int cpus = 8)
    {
        var m = new SimulatedMachine([new MemoryRange(0, Top)], cpus);
        var fw = new OpalFirmware(m, o);
        fw.PowerOn();
        return (m, fw);
    }

    private static byte[] Raw(SimulatedMachine m, ulong at, int n)
    {
        var b = new byte[n];
        m.Memory.Read(at, b);
        return b;
    }

    private static ulong Be64(SimulatedMachine m, ulong at) => BinaryPrimitives.ReadUInt64BigEndian(Raw(m, at, 8));

    private static uint Be32(SimulatedMachine m, ulong at) => BinaryPrimitives.ReadUInt32BigEndian(Raw(m, at, 4));

    /// <summary>struct mdst_table / mddt_table: be64 addr, u8 data_region, u8 dump_type, be16 reserved, be32 size.</summary>
    private static (ulong Addr, byte Region, byte Type, ushort Reserved, uint Size) Entry(SimulatedMachine m, ulong table, int i)
    {
        var e = Raw(m, Base + table + ((ulong)i * 16), 16);
        return (BinaryPrimitives.ReadUInt64BigEndian(e), e[8], e[9], BinaryPrimitives.ReadUInt16BigEndian(e.AsSpan(10)), BinaryPrimitives.ReadUInt32BigEndian(e.AsSpan(12)));
    }

    private static (ulong Addr, byte Region, byte Type, ushort Reserved, uint Size) Mdst(SimulatedMachine m, int i) => Entry(m, OpalFirmware.MdstOffset, i);

    private static (ulong Addr, byte Region, byte Type, ushort Reserved, uint Size) Mddt(SimulatedMachine m, int i) => Entry(m, OpalFirmware.MddtOffset, i);

    private static bool Zero(byte[] b) => b.All(x => x == 0);

    private static string Hex(ulong v) => v.ToString("x", null);

    /// <summary>A log line without its "[    0.000000000,5] " timestamp and level.</summary>
    private static IEnumerable<string> Lines(OpalFirmware fw) => fw.Log.Select(l => l[(l.IndexOf("] ", StringComparison.Ordinal) + 2)..]);

    private static long Query(OpalFirmware fw, int tag, out ulong value) => fw.QueryTag(tag, out value);

    // ---- power-on ----------------------------------------------------------------------------------

    [Fact]
    public void Power_on_arms_the_tables_with_OPALs_own_entry()
    {
        var (m, fw) = PowerOn();
        Assert.Equal(1, m.Resets);
        Assert.Equal(0x103u, fw.MaxPir);                                        // 2 chips, 1 core each, SMT4
        Assert.Equal(OpalFirmware.SkibootSize + (0x104 * 0x8000UL), fw.OpalDumpSize);
        Assert.Equal(Base + fw.OpalDumpSize, fw.OpalDumpAddress);
        Assert.Equal(fw.OpalDumpAddress + fw.OpalDumpSize, fw.ArchRegsAddress);
        Assert.Equal(2 * 512 * 1024UL, fw.ArchRegsSize);

        var s = Mdst(m, 0);
        Assert.Equal(Base | Hrmor, s.Addr);
        Assert.Equal(OpalFirmware.RegionOpalMemory, s.Region);
        Assert.Equal(0, s.Type);
        Assert.Equal(0, s.Reserved);
        Assert.Equal((uint)fw.OpalDumpSize, s.Size);
        var d = Mddt(m, 0);
        Assert.Equal(fw.OpalDumpAddress | Hrmor, d.Addr);
        Assert.Equal(OpalFirmware.RegionOpalMemory, d.Region);
        Assert.Equal((uint)fw.OpalDumpSize, d.Size);
        Assert.True(Zero(Raw(m, Base + OpalFirmware.MdstOffset + 16, 0x400 - 16)));
        Assert.True(Zero(Raw(m, Base + OpalFirmware.MddtOffset + 16, 0x400 - 16)));
        Assert.DoesNotContain(fw.Entries(), e => e.Region == OpalFirmware.RegionKernel);

        // proc_dump_area: alloc_addr | HRMOR at +8, alloc_size at +20; nothing from hostboot yet.
        var pda = OpalFirmware.SkibootBase + OpalFirmware.ProcDumpAreaOffset;
        Assert.Equal(0u, Be32(m, pda));
        Assert.Equal(fw.ArchRegsAddress | Hrmor, Be64(m, pda + 8));
        Assert.Equal((uint)fw.ArchRegsSize, Be32(m, pda + 20));
        Assert.Equal(0UL, Be64(m, pda + 24));
        Assert.Equal(0u, Be32(m, pda + 36));
        Assert.Contains(FormattableString.Invariant($"DUMP: Architected register dest addr : 0x{fw.ArchRegsAddress:x}, size : 0x100000"), Lines(fw));

        Assert.False(fw.MpiplBoot);
        Assert.Equal(0, fw.MdrtCount);
        Assert.True(Zero(Raw(m, Base + OpalFirmware.MetadataOffset, 20)));
    }

    // ---- OPAL_MPIPL_UPDATE ---------------------------------------------------------------------------

    [Fact]
    public void Add_range_writes_a_kernel_entry_in_both_tables()
    {
        var (m, fw) = PowerOn();
        Assert.Equal(0, fw.MpiplUpdate(0, 0x10000000, 0x80000000, 0x100000));
        Assert.Equal("DUMP: Payload registered for MPIPL", Lines(fw).Last());
        var s = Mdst(m, 1);
        Assert.Equal(0x10000000 | Hrmor, s.Addr);
        Assert.Equal(0x80, s.Region);
        Assert.Equal(0, s.Type);
        Assert.Equal(0x100000u, s.Size);
        var d = Mddt(m, 1);
        Assert.Equal(0x80000000 | Hrmor, d.Addr);
        Assert.Equal(0x80, d.Region);
        Assert.Equal(0x100000u, d.Size);
        Assert.Equal((0x10000000UL, 0x80000000UL, 0x100000u, (byte)0x80), fw.Entries()[1]);

        // The raw bytes, as hostboot reads them: be64, u8 region, u8 type, be16, be32.
        Assert.Equal(new byte[] { 0x80, 0, 0, 0, 0x10, 0, 0, 0, 0x80, 0, 0, 0, 0, 0x10, 0, 0 }, Raw(m, Base + OpalFirmware.MdstOffset + 16, 16));
    }

    [Fact]
    public void Add_range_parameter_errors()
    {
        var (m, fw) = PowerOn();
        Assert.Equal(-1, fw.MpiplUpdate(0, Top + 0x1000, 0x80000000, 0x1000));
        Assert.Equal(FormattableString.Invariant($"DUMP: Invalid source address [0x{Top + 0x1000:x}]"), Lines(fw).Last());
        Assert.Equal(-1, fw.MpiplUpdate(0, 0x10000000, Top + 1, 0x1000));
        Assert.Equal(FormattableString.Invariant($"DUMP: Invalid dest address [0x{Top + 1:x}]"), Lines(fw).Last());
        Assert.Equal(-1, fw.MpiplUpdate(0, 0x10000000, 0x80000000, 0));
        Assert.Equal("DUMP: Invalid size [0x0]", Lines(fw).Last());
        Assert.Equal(-1, fw.MpiplUpdate(0, 0x5000000010000000, 0x80000000, 0x1000)); // neither real nor 0xc linear map
        Assert.Single(fw.Entries());
        Assert.True(Zero(Raw(m, Base + OpalFirmware.MdstOffset + 16, 16)));

        // opal_addr_valid: "val > top_of_ram" fails, so the top itself passes; a 0xc... address is stripped first.
        Assert.Equal(0, fw.MpiplUpdate(0, Top, 0x80000000, 0x1000));
        Assert.Equal(0, fw.MpiplUpdate(0, 0xc000000010000000, 0x90000000, 0x1000));
        Assert.Equal(0xc000000010000000 | Hrmor, Mdst(m, 2).Addr);
    }

    [Fact]
    public void Duplicate_source_or_destination_is_refused_but_overlaps_are_not_checked()
    {
        var (m, fw) = PowerOn();
        Assert.Equal(0, fw.MpiplUpdate(0, 0x10000000, 0x80000000, 0x200000));
        Assert.Equal(-1, fw.MpiplUpdate(0, 0x10000000, 0x90000000, 0x1000));
        Assert.Equal("DUMP: Duplicate source address : 0x10000000", Lines(fw).Last());
        Assert.Equal(-1, fw.MpiplUpdate(0, 0x20000000, 0x80000000, 0x1000));
        Assert.Equal("DUMP: Duplicate destination address : 0x80000000", Lines(fw).Last());

        // OPAL's own entry counts for the duplicate check (by address, any region).
        Assert.Equal(-1, fw.MpiplUpdate(0, Base, 0x90000000, 0x1000));
        Assert.Equal(-1, fw.MpiplUpdate(0, 0x20000000, fw.OpalDumpAddress, 0x1000));

        // Overlapping sources and destinations: accepted.
        Assert.Equal(0, fw.MpiplUpdate(0, 0x10100000, 0x80100000, 0x200000));
        Assert.Equal(0, fw.MpiplUpdate(0, 0x0ff00000, 0x8ff00000, 0x400000));
        Assert.Equal(4, fw.Entries().Count);
        Assert.Equal(0x10100000 | Hrmor, Mdst(m, 2).Addr);
    }

    [Fact]
    public void A_full_table_is_resource()
    {
        var (m, fw) = PowerOn();
        Assert.Equal(64, OpalFirmware.MaxMdst);
        for (ulong i = 0; i < 63; i++)
        {
            Assert.Equal(0, fw.MpiplUpdate(0, 0x1000000 + (i * 0x10000), 0x80000000 + (i * 0x10000), 0x10000));
        }

        Assert.Equal(64, fw.Entries().Count);
        Assert.Equal((0x1000000 + (62 * 0x10000UL)) | Hrmor, Mdst(m, 63).Addr);
        Assert.Equal(-10, fw.MpiplUpdate(0, 0x9000000, 0xa0000000, 0x10000));
        Assert.Equal("DUMP: MDST table is full", Lines(fw).Last());

        // The table is exactly 0x400 bytes: MDDT follows MDST with no gap, and it is intact.
        Assert.Equal((0x80000000 + (62 * 0x10000UL)) | Hrmor, Mddt(m, 63).Addr);
        Assert.Equal(fw.OpalDumpAddress | Hrmor, Mddt(m, 0).Addr);

        // After a removal there is room again.
        Assert.Equal(0, fw.MpiplUpdate(1, 0x1000000, 0x80000000, 0));
        Assert.Equal(0, fw.MpiplUpdate(0, 0x9000000, 0xa0000000, 0x10000));
    }

    [Fact]
    public void A_size_above_4_GiB_is_silently_truncated_to_be32()
    {
        var (m, fw) = PowerOn();
        Assert.Equal(0, fw.MpiplUpdate(0, 0x10000000, 0x80000000, 0x1_2345_6000));
        Assert.Equal(0x23456000u, Mdst(m, 1).Size);
        Assert.Equal(0x23456000u, Mddt(m, 1).Size);
        Assert.Equal(0, fw.MpiplUpdate(0, 0x20000000, 0x90000000, 4 * Gib));
        Assert.Equal(0u, Mdst(m, 2).Size);                                       // exactly 4 GiB: 0
        Assert.Equal(0, fw.MpiplUpdate(0, 0x30000000 - 0x1000, 0xa0000000, 0xffffffff));
        Assert.Equal(0xffffffffu, Mdst(m, 3).Size);
    }

    [Fact]
    public void Remove_range_shifts_the_entries_up()
    {
        var (m, fw) = PowerOn();
        Assert.Equal(0, fw.MpiplUpdate(0, 0x10000000, 0x80000000, 0x1000));
        Assert.Equal(0, fw.MpiplUpdate(0, 0x20000000, 0x90000000, 0x2000));
        Assert.Equal(0, fw.MpiplUpdate(0, 0x30000000 - 0x100000, 0xa0000000, 0x3000));
        Assert.Equal(0, fw.MpiplUpdate(1, 0x20000000, 0x90000000, 0));
        Assert.Equal("DUMP: Payload removed entry from MPIPL.[src : 0x20000000, dest : 0x90000000]", Lines(fw).Last());
        Assert.Equal((Base | Hrmor, (byte)3), (Mdst(m, 0).Addr, Mdst(m, 0).Region));
        Assert.Equal(0x10000000 | Hrmor, Mdst(m, 1).Addr);
        Assert.Equal((0x2ff00000 | Hrmor, 0x3000u), (Mdst(m, 2).Addr, Mdst(m, 2).Size));
        Assert.Equal((0xa0000000 | Hrmor, 0x3000u), (Mddt(m, 2).Addr, Mddt(m, 2).Size));
        Assert.True(Zero(Raw(m, Base + OpalFirmware.MdstOffset + (3 * 16), 16)));
        Assert.True(Zero(Raw(m, Base + OpalFirmware.MddtOffset + (3 * 16), 16)));
        Assert.Equal(3, fw.Entries().Count);

        // Removing the first kernel entry, then the last.
        Assert.Equal(0, fw.MpiplUpdate(1, 0x10000000, 0x80000000, 0));
        Assert.Equal(0x2ff00000 | Hrmor, Mdst(m, 1).Addr);
        Assert.Equal(0, fw.MpiplUpdate(1, 0x2ff00000, 0xa0000000, 0));
        Assert.Single(fw.Entries());
        Assert.True(Zero(Raw(m, Base + OpalFirmware.MdstOffset + 16, 0x400 - 16)));
    }

    [Fact]
    public void Remove_range_not_found_is_parameter()
    {
        var (m, fw) = PowerOn();
        Assert.Equal(0, fw.MpiplUpdate(0, 0x10000000, 0x80000000, 0x1000));
        Assert.Equal(-1, fw.MpiplUpdate(1, 0x20000000, 0x80000000, 0));
        Assert.Equal("DUMP: Source address [0x20000000] not found in MDST table", Lines(fw).Last());
        Assert.DoesNotContain(Lines(fw), l => l.StartsWith("DUMP: Payload removed", StringComparison.Ordinal));

        // Only the kernel's region is searched: OPAL's own entry cannot be removed.
        Assert.Equal(-1, fw.MpiplUpdate(1, Base, fw.OpalDumpAddress, 0));
        Assert.Equal(Base | Hrmor, Mdst(m, 0).Addr);

        // (quirk) The source found and the destination not: the MDST entry is already gone, the MDDT entry stays.
        Assert.Equal(-1, fw.MpiplUpdate(1, 0x10000000, 0x90000000, 0));
        Assert.Equal("DUMP: Dest address [0x90000000] not found in MDDT table", Lines(fw).Last());
        Assert.True(Zero(Raw(m, Base + OpalFirmware.MdstOffset + 16, 16)));
        Assert.Equal(0x80000000 | Hrmor, Mddt(m, 1).Addr);
    }

    [Fact]
    public void After_a_half_removal_the_MDDT_fills_first()
    {
        var (m, fw) = PowerOn();
        for (ulong i = 0; i < 63; i++)
        {
            Assert.Equal(0, fw.MpiplUpdate(0, 0x1000000 + (i * 0x10000), 0x80000000 + (i * 0x10000), 0x10000));
        }

        Assert.Equal(-1, fw.MpiplUpdate(1, 0x1000000, 0xb0000000, 0));            // src removed, dest not found
        Assert.Equal(63, fw.Entries().Count);                                      // MDST 63, MDDT 64
        Assert.Equal(-10, fw.MpiplUpdate(0, 0x9000000, 0xa0000000, 0x10000));
        Assert.Equal("DUMP: MDDT table is full", Lines(fw).Last());

        // The tables are now out of step: MDST entry 1 pairs with the MDDT entry of the removed source.
        Assert.Equal((0x1010000 | Hrmor, 0x80000000 | Hrmor), (Mdst(m, 1).Addr, Mddt(m, 1).Addr));
        Assert.Equal(0, fw.MpiplUpdate(2, 0, 0, 0));                                // REMOVE_ALL sets both straight
        Assert.Single(fw.Entries());
    }

    [Fact]
    public void Remove_all_keeps_OPALs_entry()
    {
        var (m, fw) = PowerOn();
        Assert.Equal(0, fw.MpiplUpdate(2, 0, 0, 0));                            // nothing registered: still success
        for (ulong i = 0; i < 5; i++)
        {
            Assert.Equal(0, fw.MpiplUpdate(0, 0x10000000 + (i << 20), 0x80000000 + (i << 20), 0x100000));
        }

        Assert.Equal(0, fw.MpiplUpdate(2, 0x1234, 0x5678, 0x9));
        Assert.Equal("DUMP: Payload unregistered for MPIPL", Lines(fw).Last());
        var e = Assert.Single(fw.Entries());
        Assert.Equal((Base, fw.OpalDumpAddress, (uint)fw.OpalDumpSize, OpalFirmware.RegionOpalMemory), e);
        Assert.Equal(Base | Hrmor, Mdst(m, 0).Addr);
        Assert.True(Zero(Raw(m, Base + OpalFirmware.MdstOffset + 16, 0x400 - 16)));
        Assert.True(Zero(Raw(m, Base + OpalFirmware.MddtOffset + 16, 0x400 - 16)));
        Assert.Equal(0, fw.MpiplUpdate(0, 0x10000000, 0x80000000, 0x100000)); // the same range again: no duplicate left
    }

    [Fact]
    public void Unknown_update_op_is_parameter()
    {
        var (_, fw) = PowerOn();
        Assert.Equal(-1, fw.MpiplUpdate(4, 0x10000000, 0x80000000, 0x1000));
        Assert.Equal("DUMP: Unsupported MPIPL update operation : 0x4", Lines(fw).Last());
        Assert.Equal(-1, fw.MpiplUpdate(-1, 0, 0, 0));
        Assert.Single(fw.Entries());
    }

    [Fact]
    public void Injected_update_codes_come_first()
    {
        var (_, fw) = PowerOn();
        fw.InjectedReturnCodes.Enqueue(-11);
        fw.InjectedReturnCodes.Enqueue(-8);
        Assert.Equal(-11, fw.MpiplUpdate(0, 0x10000000, 0x80000000, 0x1000));
        Assert.Equal(-8, fw.MpiplUpdate(0, 0x10000000, 0x80000000, 0x1000));
        Assert.Single(fw.Entries());
        Assert.Equal(0, fw.MpiplUpdate(0, 0x10000000, 0x80000000, 0x1000));
    }

    // ---- REGISTER_TAG / QUERY_TAG --------------------------------------------------------------------

    [Fact]
    public void Register_tag_writes_the_metadata_area()
    {
        var (m, fw) = PowerOn();
        ulong md = Base + OpalFirmware.MetadataOffset;
        Assert.Equal(-1, fw.RegisterTag(3, 0));
        Assert.Equal("DUMP: Payload sent invalid boot mem size :  0x0", Lines(fw).Last());
        Assert.Equal(-1, fw.RegisterTag(3, Top + 1));
        Assert.Equal(0UL, Be64(m, md + 12));
        Assert.Equal(0, fw.RegisterTag(3, Top));                                 // the top itself is valid
        Assert.Equal(0, fw.RegisterTag(3, 0x40000000));
        Assert.Equal("DUMP: Boot mem size : 0x40000000", Lines(fw).Last());
        Assert.Equal(0x40000000UL, Be64(m, md + 12));

        Assert.Equal(0, fw.RegisterTag(2, 0x12345678abcd));
        Assert.Equal("DUMP: Payload sent metadata tag : 0x12345678abcd", Lines(fw).Last());
        Assert.Equal(0x12345678abcdUL, Be64(m, md + 4));
        Assert.Equal(0, fw.RegisterTag(2, 0));                                   // KERNEL 0: fadump_cleanup resets it so
        Assert.Equal(0UL, Be64(m, md + 4));
        Assert.Equal(0u, Be32(m, md));                                           // crashing_pir untouched

        Assert.Equal(-1, fw.RegisterTag(0, 0x1000));
        Assert.Equal("DUMP: Payload sent unsupported tag : 0x0", Lines(fw).Last());
        Assert.Equal(-1, fw.RegisterTag(1, 0x1000));
        Assert.Equal("DUMP: Payload sent unsupported tag : 0x1", Lines(fw).Last());
        Assert.Equal(-1, fw.RegisterTag(4, 0x1000));
        Assert.Equal(-1, fw.RegisterTag(-1, 0x1000));
    }

    [Fact]
    public void Query_tag_on_a_normal_boot()
    {
        var (_, fw) = PowerOn();
        Assert.Equal(-1, fw.QueryTag(4, out _));
        Assert.Equal(-1, fw.QueryTag(-1, out _));
        for (int t = 0; t < 4; t++)
        {
            Assert.Equal(0, fw.QueryTag(t, out ulong v));
            Assert.Equal(0UL, v);
        }

        // (quirk) A tag registered in this boot is not what QUERY_TAG returns: that is only restored at an MPIPL boot.
        Assert.Equal(0, fw.RegisterTag(2, 0xc000000001234000));
        Assert.Equal(0, fw.RegisterTag(3, 0x40000000));
        Assert.Equal(0, Query(fw, 2, out ulong k));
        Assert.Equal(0UL, k);
        Assert.Equal(0, Query(fw, 3, out ulong b));
        Assert.Equal(0UL, b);
    }

    // ---- no MPIPL in skiboot ----------------------------------------------------------------------------

    [Fact]
    public void Without_MPIPL_there_is_no_dump_node_and_the_calls_are_bad_tokens()
    {
        var (m, fw) = PowerOn(new OpalOptions { MpiplSupported = false });
        Assert.NotNull(m.DeviceTree.Find("/ibm,opal"));
        Assert.Null(m.DeviceTree.Find("/ibm,opal/dump"));
        Assert.Equal("ibm,firmware-code\0", Encoding.ASCII.GetString(m.DeviceTree.Get("reserved-names")!));
        Assert.Equal(4, DeviceTreeNode.Cells(m.DeviceTree.Get("reserved-ranges")!).Length);

        Assert.Equal(-1, fw.MpiplUpdate(0, 0x10000000, 0x80000000, 0x1000));
        Assert.Equal("OPAL: Called with bad token 173 !", Lines(fw).Last());
        Assert.Equal(-1, fw.RegisterTag(2, 0x1000));
        Assert.Equal("OPAL: Called with bad token 174 !", Lines(fw).Last());
        Assert.Equal(-1, fw.QueryTag(2, out _));
        Assert.Equal("OPAL: Called with bad token 175 !", Lines(fw).Last());
        Assert.EndsWith(",3] OPAL: Called with bad token 175 !", fw.Log[^1], StringComparison.Ordinal); // PR_ERR

        // skiboot did not arm anything for hostboot.
        Assert.True(Zero(Raw(m, Base + OpalFirmware.MdstOffset, 0x800)));
        Assert.True(Zero(Raw(m, Base + OpalFirmware.ProcDumpAreaOffset, 0x30)));
        Assert.DoesNotContain(Lines(fw), l => l.StartsWith("DUMP:", StringComparison.Ordinal));
    }

    [Fact]
    public void Without_MPIPL_reboot2_MPIPL_is_a_normal_reboot()
    {
        // p9_sbe_terminate returns at once when MPIPL is not enabled (no crashing PIR, no S0 interrupt), and
        // ipmi_terminate falls through to platform.cec_reboot: a normal IPL.
        var (m, fw) = PowerOn(new OpalOptions { MpiplSupported = false });
        int dumps = 0;
        fw.DumpStarting += () => dumps++;
        Assert.Equal(0, fw.CecReboot2(3, "panic", 1));
        Assert.Equal(2, m.Resets);
        Assert.Equal(0, fw.Mpipls);
        Assert.Equal(0, dumps);
        Assert.False(fw.MpiplBoot);
        Assert.DoesNotContain(Lines(fw), l => l.StartsWith("DUMP: Crashing PIR", StringComparison.Ordinal));
        Assert.DoesNotContain(Lines(fw), l => l.StartsWith("SBE:", StringComparison.Ordinal));
    }

    // ---- opal_cec_reboot2 failures ----------------------------------------------------------------------

    [Fact]
    public void Reboot2_failures_return_without_a_reset()
    {
        var (m, fw) = PowerOn(new OpalOptions { Reboot = MpiplReboot.Unsupported });
        Assert.Equal(-7, fw.CecReboot2(3, "Kernel panic", 0));
        Assert.Equal("OPAL: Unsupported reboot request 3", Lines(fw).Last());
        Assert.Equal("Kernel panic", fw.LastRebootMessage);
        Assert.Equal(1, m.Resets);
        Assert.Equal(0, fw.Mpipls);

        (m, fw) = PowerOn();
        Assert.Equal(-7, fw.CecReboot2(7, "x", 0));
        Assert.Equal("OPAL: Unsupported reboot request 7", Lines(fw).Last());
        Assert.Equal(1, m.Resets);

        (m, fw) = PowerOn(new OpalOptions { Reboot = MpiplReboot.NoBackend });
        Assert.Equal(-6, fw.CecReboot2(3, "x", 0));
        Assert.Equal(1, m.Resets);
        Assert.Equal(0, fw.Mpipls);
        Assert.True(Zero(Raw(m, Base + OpalFirmware.MetadataOffset, 4)));
    }

    // ---- the MPIPL --------------------------------------------------------------------------------------

    private static void SetRegisters(SimulatedMachine m)
    {
        foreach (var c in m.Cpus)
        {
            ulong id = (ulong)c.Id;
            for (int g = 0; g < 32; g++)
            {
                c.Gpr[g] = (id << 32) | (uint)(0x1000 + g);
            }

            c.Nip = 0xc000000000100000 + (id * 0x10);
            c.Msr = 0x9000000000001033;
            c.Lr = 0xc000000000200000 + id;
            c.Ctr = 0xc000000000300000 + id;
            c.Xer = 0x20000000 + id;
            c.Cr = 0x44000000 + id;
            c.Dar = 0xc000000000400000 + id;
            c.Dsisr = 0x42000000 + id;
        }
    }

    private static (SimulatedMachine M, OpalFirmware Fw) Crashed(int crashingCpu = 5, OpalOptions? o = null)
    {
        var (m, fw) = PowerOn(o);
        Assert.Equal(0, fw.MpiplUpdate(0, 0, 0x80000000, 0x10000000));                 // boot memory, frame-aligned
        Assert.Equal(0, fw.MpiplUpdate(0, 0x10000100, 0x90000100, 0x300));              // not frame-aligned
        Assert.Equal(0, fw.RegisterTag(2, 0xc0000000a0000000));
        Assert.Equal(0, fw.RegisterTag(3, 0x10000000));
        m.Memory.Write(0x1234, "boot memory before the crash"u8);
        m.Memory.Write(0x10000100, "unaligned range"u8);
        m.Memory.Write(Base + 0x800000, "skiboot heap object"u8);
        SetRegisters(m);
        Assert.Equal(0, fw.CecReboot2(3, "Kernel panic - not syncing", crashingCpu));
        return (m, fw);
    }

    [Fact]
    public void Reboot2_MPIPL_resets_into_an_MPIPL_boot()
    {
        var (m, fw) = Crashed();
        Assert.Equal(2, m.Resets);
        Assert.Equal(1, fw.Mpipls);
        Assert.True(fw.MpiplBoot);
        Assert.NotNull(m.DeviceTree.Find("/ibm,opal/dump")!.Get("mpipl-boot"));
        Assert.Empty(m.DeviceTree.Find("/ibm,opal/dump")!.Get("mpipl-boot")!);
        Assert.Equal("Kernel panic - not syncing", fw.LastRebootMessage);
        Assert.Equal(0x10000000UL + 0x300 + fw.OpalDumpSize, fw.LastCopiedBytes);

        var lines = Lines(fw).ToList();
        int reboot = lines.IndexOf("Reboot: OS reported error. Performing MPIPL");
        int pir = lines.IndexOf("DUMP: Crashing PIR = 0x101");
        int found = lines.IndexOf("DUMP: Dump found, MDRT count = 0x3");
        Assert.True(reboot >= 0 && pir > reboot && found > pir, string.Join('\n', lines));
        Assert.Contains(FormattableString.Invariant($"DUMP: OPAL reserved region 0 - src : 0x30000000, dest : 0x{fw.OpalDumpAddress:x}, size : 0x{fw.OpalDumpSize:x}"), lines);
        Assert.Equal(pir + 1, lines.IndexOf("SBE: Initiated MPIPL, waiting for SBE to respond..."));
        Assert.DoesNotContain(lines, l => l.StartsWith("SBE: SBE did not respond", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.StartsWith("SBE: Falling back", StringComparison.Ordinal));

        // opal_mpipl_register on the MPIPL boot finds hostboot's thread_size (only then).
        Assert.Equal(1, lines.Count(l => l == "DUMP: Thread register entry size is available, but not supported."));
        Assert.True(lines.IndexOf("DUMP: Thread register entry size is available, but not supported.") > found);
    }

    [Fact]
    public void Log_levels_are_skiboots()
    {
        var (m, fw) = PowerOn();
        fw.MpiplUpdate(0, 0x10000000, 0x80000000, 0x1000);
        fw.MpiplUpdate(0, 0x10000000, 0x80000000, 0x1000);
        fw.MpiplUpdate(9, 0, 0, 0);
        fw.RegisterTag(3, 0);
        fw.RegisterTag(7, 0);
        fw.CecReboot2(3, "x", 0);
        string Level(string text) => fw.Log.First(l => l.EndsWith("] " + text, StringComparison.Ordinal))[^(text.Length + 4)..^(text.Length + 2)];
        Assert.Equal(",5", Level("DUMP: Payload registered for MPIPL"));                    // PR_NOTICE
        Assert.Equal(",7", Level("DUMP: Duplicate source address : 0x10000000"));            // PR_DEBUG
        Assert.Equal(",7", Level("DUMP: Unsupported MPIPL update operation : 0x9"));
        Assert.Equal(",7", Level("DUMP: Payload sent invalid boot mem size :  0x0"));
        Assert.Equal(",7", Level("DUMP: Payload sent unsupported tag : 0x7"));
        Assert.Equal(",5", Level("Reboot: OS reported error. Performing MPIPL"));
        Assert.Equal(",5", Level("DUMP: Crashing PIR = 0x0"));
        Assert.Equal(",5", Level("DUMP: Dump found, MDRT count = 0x2"));
        Assert.Equal(",6", Level("DUMP: Thread register entry size is available, but not supported."));   // PR_INFO
        Assert.Equal(",5", Level("DUMP: Architected register dest addr : 0x34860000, size : 0x100000"));
        Assert.Equal(2, m.Resets);
    }

    [Fact]
    public void Hostboot_fills_one_MDRT_entry_per_MDST_entry()
    {
        var (m, fw) = Crashed();
        Assert.Equal(3, fw.MdrtCount);
        ulong mdrt = Base + OpalFirmware.MdrtOffset;
        var expected = new (ulong Src, ulong Dest, byte Region, uint Size)[]
        {
            (Base, fw.OpalDumpAddress, 0x03, (uint)fw.OpalDumpSize),
            (0, 0x80000000, 0x80, 0x10000000),
            (0x10000100, 0x90000100, 0x80, 0x300),
        };
        for (int i = 0; i < expected.Length; i++)
        {
            var e = Raw(m, mdrt + ((ulong)i * 32), 32);
            Assert.Equal(expected[i].Src | Hrmor, BinaryPrimitives.ReadUInt64BigEndian(e));
            Assert.Equal(expected[i].Dest | Hrmor, BinaryPrimitives.ReadUInt64BigEndian(e.AsSpan(8)));
            Assert.Equal(expected[i].Region, e[16]);
            Assert.Equal(0, e[17]);                                                      // dump_type
            Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(e.AsSpan(18)));
            Assert.Equal(expected[i].Size, BinaryPrimitives.ReadUInt32BigEndian(e.AsSpan(20)));
            Assert.Equal(0UL, BinaryPrimitives.ReadUInt64BigEndian(e.AsSpan(24)));         // padding
        }

        Assert.True(Zero(Raw(m, mdrt + (3 * 32), (int)OpalFirmware.MdrtSize - (3 * 32))));

        // The new boot re-armed MDST/MDDT with OPAL's entry only; the kernel registers again.
        Assert.Single(fw.Entries());
        Assert.True(Zero(Raw(m, Base + OpalFirmware.MdstOffset + 16, 0x400 - 16)));
    }

    [Fact]
    public void Hostboot_moves_every_range_before_the_boot()
    {
        var (m, fw) = Crashed();
        Assert.Equal("boot memory before the crash"u8.ToArray(), Raw(m, 0x80000000 + 0x1234, 28));
        Assert.Equal("unaligned range"u8.ToArray(), Raw(m, 0x90000100, 15));
        Assert.True(Zero(Raw(m, 0x900000f0, 0x10)));                                     // only the range itself
        Assert.True(Zero(Raw(m, 0x90000400, 0x10)));
        Assert.Equal("skiboot heap object"u8.ToArray(), Raw(m, fw.OpalDumpAddress + 0x800000, 19));

        // OPAL's copy holds the crashed boot's console: the OPAL core shows why it went down.
        var con = Encoding.ASCII.GetString(Raw(m, fw.OpalDumpAddress + OpalFirmware.InmemConOffset, 0x4000));
        Assert.Contains("Reboot: OS reported error. Performing MPIPL\n", con, StringComparison.Ordinal);
        Assert.Contains("DUMP: Crashing PIR = 0x101\n", con, StringComparison.Ordinal);
        Assert.Contains("SBE: Initiated MPIPL, waiting for SBE to respond...\n", con, StringComparison.Ordinal);
        Assert.DoesNotContain("Dump found", con, StringComparison.Ordinal);

        // And the metadata as it was at the crash, crashing PIR included.
        ulong md = fw.OpalDumpAddress + OpalFirmware.MetadataOffset;
        Assert.Equal(0x101u, Be32(m, md));
        Assert.Equal(0xc0000000a0000000, Be64(m, md + 4));
        Assert.Equal(0x10000000UL, Be64(m, md + 12));
    }

    [Fact]
    public void The_MPIPL_boot_restores_the_tags_and_clears_the_metadata()
    {
        var (m, fw) = Crashed();
        Assert.Equal(0, fw.QueryTag(2, out ulong kernel));
        Assert.Equal(0xc0000000a0000000, kernel);
        Assert.Equal(0, fw.QueryTag(3, out ulong bootMem));
        Assert.Equal(0x10000000UL, bootMem);
        Assert.True(Zero(Raw(m, Base + OpalFirmware.MetadataOffset, 20)));

        // (quirk) Registering again in this boot does not change what QUERY_TAG answers.
        Assert.Equal(0, fw.RegisterTag(2, 0xc0000000b0000000));
        Assert.Equal(0, fw.QueryTag(2, out kernel));
        Assert.Equal(0xc0000000a0000000, kernel);
        Assert.Equal(0xc0000000b0000000, Be64(m, Base + OpalFirmware.MetadataOffset + 4));
    }

    [Fact]
    public void Tag_OPAL_describes_OPALs_own_copy()
    {
        var (m, fw) = Crashed();
        Assert.Equal(0, fw.QueryTag(1, out ulong at));
        Assert.True(at >= Base + 0x600000 && at < Base + 0x1000000, Hex(at));        // skiboot's heap: HEAP_BASE, HEAP_SIZE 0xa00000
        var h = Raw(m, at, 24 + 24);
        Assert.Equal(1, h[0]);                                                          // OPAL_MPIPL_VERSION
        Assert.True(Zero(h[1..8]));
        Assert.Equal(0x101u, BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(8)));        // crashing_pir: CPU 5
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(12)));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(16)));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(20)));            // region_cnt: kernel ranges excluded
        Assert.Equal(Base, BinaryPrimitives.ReadUInt64BigEndian(h.AsSpan(24)));        // HRMOR bit stripped
        Assert.Equal(fw.OpalDumpAddress, BinaryPrimitives.ReadUInt64BigEndian(h.AsSpan(32)));
        Assert.Equal(fw.OpalDumpSize, BinaryPrimitives.ReadUInt64BigEndian(h.AsSpan(40)));
    }

    [Fact]
    public void Tag_CPU_points_at_the_HDAT_register_data()
    {
        var (m, fw) = Crashed();
        Assert.Equal(0, fw.QueryTag(0, out ulong at));
        Assert.True(at >= Base + 0x600000 && at < Base + 0x1000000, Hex(at));
        var h = Raw(m, at, 48);
        Assert.Equal(1, h[0]);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(8)));             // no crashing PIR in the CPU data
        Assert.Equal(OpalFirmware.CpuDataVersion, BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(12)));
        Assert.Equal(OpalFirmware.ThreadSize, BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(16)));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(20)));
        ulong src = BinaryPrimitives.ReadUInt64BigEndian(h.AsSpan(24));
        Assert.Equal(fw.ArchRegsAddress, src);
        Assert.Equal(src, BinaryPrimitives.ReadUInt64BigEndian(h.AsSpan(32)));
        // 2 chips × (1 running + 1 spare core) × SMT4 threads.
        Assert.Equal(16UL * OpalFirmware.ThreadSize, BinaryPrimitives.ReadUInt64BigEndian(h.AsSpan(40)));
        Assert.Equal(768u, OpalFirmware.ThreadSize);                                     // 24 + 44 × 16, rounded up to 256

        // proc_dump_area as hostboot left it was consumed; the new boot armed a fresh one.
        ulong pda = Base + OpalFirmware.ProcDumpAreaOffset;
        Assert.Equal(fw.ArchRegsAddress | Hrmor, Be64(m, pda + 8));
        Assert.Equal(0UL, Be64(m, pda + 24));
    }

    private static Dictionary<(uint Type, uint Num), ulong> Registers(byte[] thread)
    {
        uint offset = BinaryPrimitives.ReadUInt32BigEndian(thread.AsSpan(8));
        uint ecnt = BinaryPrimitives.ReadUInt32BigEndian(thread.AsSpan(12));
        uint esize = BinaryPrimitives.ReadUInt32BigEndian(thread.AsSpan(16));
        var regs = new Dictionary<(uint, uint), ulong>();
        for (uint i = 0; i < ecnt; i++)
        {
            // Linux: entries at offsetof(struct hdat_fadump_thread_hdr, offset) + offset.
            var e = thread.AsSpan((int)(8 + offset + (i * esize)));
            regs[(BinaryPrimitives.ReadUInt32BigEndian(e), BinaryPrimitives.ReadUInt32BigEndian(e[4..]))] = BinaryPrimitives.ReadUInt64BigEndian(e[8..]);
        }

        return regs;
    }

    [Fact]
    public void The_HDAT_threads_hold_every_CPUs_registers()
    {
        var (m, fw) = Crashed(crashingCpu: 5);
        var data = Raw(m, fw.ArchRegsAddress, 16 * (int)OpalFirmware.ThreadSize);
        var seen = new List<uint>();
        for (int i = 0; i < 16; i++)
        {
            var t = data.AsSpan(i * (int)OpalFirmware.ThreadSize, (int)OpalFirmware.ThreadSize).ToArray();
            uint pir = BinaryPrimitives.ReadUInt32BigEndian(t);
            seen.Add(pir);
            bool spare = (pir & 0xfc) != 0;                                                // core 1 of each chip
            Assert.Equal(spare ? (byte)0x0F : (byte)0, t[4]);
            Assert.True(Zero(t[5..8]));
            Assert.Equal(16u, BinaryPrimitives.ReadUInt32BigEndian(t.AsSpan(8)));
            Assert.Equal((uint)OpalFirmware.RegEntries, BinaryPrimitives.ReadUInt32BigEndian(t.AsSpan(12)));
            Assert.Equal(16u, BinaryPrimitives.ReadUInt32BigEndian(t.AsSpan(16)));
            Assert.Equal(16u, BinaryPrimitives.ReadUInt32BigEndian(t.AsSpan(20)));
            var regs = Registers(t);
            Assert.Equal(44, regs.Count);
            int cpu = fw.CpuOfPir(pir);
            if (spare)
            {
                Assert.Equal(-1, cpu);
                Assert.All(regs.Values, v => Assert.Equal(0UL, v));
                continue;
            }

            ulong id = (ulong)cpu;
            Assert.Equal(pir, fw.Pir(cpu));
            for (uint g = 0; g < 32; g++)
            {
                Assert.Equal((id << 32) | (0x1000 + g), regs[(1, g)]);
            }

            ulong nip = cpu == 5 ? Base + 0x2d5c8 : 0xc000000000100000 + (id * 0x10); // the crashing thread is in OPAL
            Assert.Equal(nip, regs[(2, 0x7D0)]);
            Assert.Equal(0x9000000000001033UL, regs[(2, 0x7D1)]);
            Assert.Equal(0x44000000 + id, regs[(2, 0x7D2)]);
            Assert.Equal(0x20000000 + id, regs[(2, 1)]);
            Assert.Equal(0xc000000000200000 + id, regs[(2, 8)]);
            Assert.Equal(0xc000000000300000 + id, regs[(2, 9)]);
            Assert.Equal(0x42000000 + id, regs[(2, 18)]);
            Assert.Equal(0xc000000000400000 + id, regs[(2, 19)]);
            Assert.Equal((ulong)pir, regs[(2, 1023)]);
        }

        Assert.Equal(new uint[] { 0, 1, 2, 3, 4, 5, 6, 7, 0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107 }, seen);

        // The machine reset afterwards: the registers live on only in the HDAT data.
        Assert.All(m.Cpus, c => Assert.Equal(0UL, c.Gpr[3]));
    }

    [Fact]
    public void Idle_threads_of_a_running_core_are_active()
    {
        var m = new SimulatedMachine([new MemoryRange(0, Top)], 6);
        var fw = new OpalFirmware(m);
        fw.PowerOn();
        Assert.Equal(0x101u, fw.MaxPir);
        fw.CecReboot2(3, "x", 0);
        var data = Raw(m, fw.ArchRegsAddress, 16 * (int)OpalFirmware.ThreadSize);
        for (int i = 0; i < 16; i++)
        {
            int at = i * (int)OpalFirmware.ThreadSize;
            uint pir = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(at));
            Assert.Equal((pir & 0xfc) == 0 ? (byte)0 : (byte)0x0F, data[at + 4]);       // 0x102/0x103: no CPU, core running
        }
    }

    [Fact]
    public void A_second_crash_in_the_MPIPL_boot_is_another_MPIPL()
    {
        var (m, fw) = Crashed();
        Assert.Equal(0, fw.MpiplUpdate(0, 0, 0x80000000, 0x10000000));
        Assert.Equal(0, fw.RegisterTag(2, 0x1111000));
        Assert.Equal(0, fw.CecReboot2(3, "again", 0));
        Assert.Equal(3, m.Resets);
        Assert.Equal(2, fw.Mpipls);
        Assert.True(fw.MpiplBoot);
        Assert.Equal(2, fw.MdrtCount);
        Assert.Equal(0, fw.QueryTag(2, out ulong k));
        Assert.Equal(0x1111000UL, k);
        Assert.Equal(0, fw.QueryTag(3, out ulong b));
        Assert.Equal(0UL, b);                                                            // not registered this time
        Assert.Equal(0, fw.QueryTag(1, out ulong opal));
        Assert.Equal(0u, Be32(m, opal + 8));                                             // crashing PIR of CPU 0
    }

    [Fact]
    public void A_normal_reboot_after_an_MPIPL_boot_drops_the_dump()
    {
        var (m, fw) = Crashed();
        fw.Reboot();
        Assert.Equal(3, m.Resets);
        Assert.False(fw.MpiplBoot);
        Assert.Null(m.DeviceTree.Find("/ibm,opal/dump")!.Get("mpipl-boot"));
        Assert.Equal(0, fw.MdrtCount);
        for (int t = 0; t < 4; t++)
        {
            Assert.Equal(0, fw.QueryTag(t, out ulong v));
            Assert.Equal(0UL, v);
        }
    }

    [Fact]
    public void Free_preserved_memory_clears_tags_and_the_MDRT()
    {
        var (m, fw) = Crashed();
        Assert.Equal(0, fw.MpiplUpdate(3, 0, 0, 0));
        Assert.Equal("DUMP: Payload Invalidated MPIPL", Lines(fw).Last());
        for (int t = 0; t < 4; t++)
        {
            Assert.Equal(-1, fw.QueryTag(t, out ulong v));                                // (quirk) max tags 0 until the next IPL
            Assert.Equal(0UL, v);
        }

        Assert.Equal(1024, fw.MdrtCount);                                                  // "Set MDRT count to max allocated count"
        Assert.True(Zero(Raw(m, Base + OpalFirmware.MdrtOffset, (int)OpalFirmware.MdrtSize)));
        Assert.Single(fw.Entries());                                                       // MDST/MDDT untouched
        Assert.Equal(0, fw.MpiplUpdate(0, 0, 0x80000000, 0x10000000));                      // registering still works

        fw.Reboot();
        Assert.False(fw.MpiplBoot);
        Assert.Equal(0, fw.QueryTag(2, out ulong k));
        Assert.Equal(0UL, k);
    }

    [Fact]
    public void Free_preserved_memory_on_a_normal_boot()
    {
        var (_, fw) = PowerOn();
        Assert.Equal(0, fw.MpiplUpdate(3, 0, 0, 0));
        Assert.Equal(-1, fw.QueryTag(0, out _));
        Assert.Equal(1024, fw.MdrtCount);
    }

    [Fact]
    public void The_SBE_not_responding_is_a_normal_reboot()
    {
        var (m, fw) = Crashed(o: new OpalOptions { SbeResponds = false });
        Assert.Equal(2, m.Resets);
        Assert.Equal(0, fw.Mpipls);
        Assert.False(fw.MpiplBoot);
        Assert.Null(m.DeviceTree.Find("/ibm,opal/dump")!.Get("mpipl-boot"));
        Assert.Equal(0, fw.MdrtCount);
        var lines = Lines(fw).ToList();
        int pir = lines.IndexOf("DUMP: Crashing PIR = 0x101");                           // saved before the S0 interrupt
        int wait = lines.IndexOf("SBE: Initiated MPIPL, waiting for SBE to respond...");
        int timeout = lines.IndexOf("SBE: SBE did not respond within timeout period (90 secs).");
        int fallback = lines.IndexOf("SBE: Falling back to normal reboot");
        Assert.True(pir >= 0 && wait > pir && timeout > wait && fallback == timeout + 1, string.Join('\n', lines));
        Assert.DoesNotContain(lines, l => l.StartsWith("DUMP: Dump found", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.StartsWith("DUMP: Thread register entry size", StringComparison.Ordinal));
        Assert.True(m.Clock.Now >= TimeSpan.FromSeconds(90));

        // Nothing moved, nothing restored.
        Assert.True(Zero(Raw(m, 0x80000000 + 0x1234, 28)));
        Assert.Equal(0, fw.QueryTag(2, out ulong k));
        Assert.Equal(0UL, k);
        Assert.Equal(0, fw.QueryTag(1, out ulong o));
        Assert.Equal(0UL, o);
        Assert.True(Zero(Raw(m, Base + OpalFirmware.MetadataOffset, 20)));
    }

    [Fact]
    public void A_BMC_initiated_MPIPL_has_no_crashing_PIR()
    {
        var (m, fw) = PowerOn();
        Assert.Equal(0, fw.MpiplUpdate(0, 0, 0x80000000, 0x10000000));
        Assert.Equal(0, fw.RegisterTag(2, 0xabc000));
        m.Memory.Write(0x2000, "still running"u8);
        int events = 0;
        fw.DumpStarting += () => events++;
        fw.BmcInitiatedMpipl();
        Assert.Equal(1, events);
        Assert.Equal(2, m.Resets);
        Assert.True(fw.MpiplBoot);
        Assert.DoesNotContain(Lines(fw), l => l.StartsWith("DUMP: Crashing PIR", StringComparison.Ordinal));
        Assert.DoesNotContain(Lines(fw), l => l.StartsWith("Reboot:", StringComparison.Ordinal));
        Assert.Equal("still running"u8.ToArray(), Raw(m, 0x80002000, 13));
        Assert.Equal(0, fw.QueryTag(2, out ulong k));
        Assert.Equal(0xabc000UL, k);
        Assert.Equal(0, fw.QueryTag(1, out ulong opal));
        Assert.Equal(0u, Be32(m, opal + 8));
        Assert.Equal(0, fw.QueryTag(0, out ulong cpu));
        Assert.NotEqual(0UL, cpu);
    }

    [Fact]
    public void Dump_starting_sees_memory_before_the_copy()
    {
        var (m, fw) = PowerOn();
        Assert.Equal(0, fw.MpiplUpdate(0, 0, 0x80000000, 0x10000000));
        fw.DumpStarting += () =>
        {
            Assert.True(Zero(Raw(m, 0x80000000, 16)));
            m.Memory.Write(0x10, "late DMA"u8);
        };
        fw.CecReboot2(3, "x", 0);
        Assert.Equal("late DMA"u8.ToArray(), Raw(m, 0x80000010, 8));
    }

    // ---- memcons ------------------------------------------------------------------------------------

    private static (ulong Magic, ulong Obuf, ulong Ibuf, uint ObufSize, uint IbufSize, uint OutPos) Memcons(SimulatedMachine m)
    {
        var b = Raw(m, Base + OpalFirmware.MemconsOffset, 36);
        return (BinaryPrimitives.ReadUInt64BigEndian(b), BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan(8)), BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan(16)),
            BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(24)), BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(28)), BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(32)));
    }

    [Fact]
    public void Skiboots_log_is_in_its_memcons()
    {
        var (m, fw) = PowerOn();
        fw.RegisterTag(2, 0x1234);
        var c = Memcons(m);
        Assert.Equal(0x6630696567726173UL, c.Magic);
        Assert.Equal(Base + OpalFirmware.InmemConOffset, c.Obuf);
        Assert.Equal(Base + 0x01000000 + 0x100000 - 0x4000, c.Ibuf);
        Assert.Equal(0x100000u - 0x4000, c.ObufSize);
        Assert.Equal(0x4000u, c.IbufSize);
        Assert.Equal(0u, c.OutPos & OpalFirmware.MemconsWrap);
        string text = string.Concat(fw.Log.Select(l => l + "\n"));
        Assert.Equal((uint)text.Length, c.OutPos);
        Assert.Equal(text, Encoding.ASCII.GetString(Raw(m, c.Obuf, (int)c.OutPos)));
        Assert.StartsWith("[    0.000000000,5] SkiBoot skiboot-v7.1 starting...\n", text, StringComparison.Ordinal);
        Assert.EndsWith("[    0.000000000,5] DUMP: Payload sent metadata tag : 0x1234\n", text, StringComparison.Ordinal);
        Assert.Equal(new uint[] { 0, (uint)(Base + OpalFirmware.MemconsOffset) }, DeviceTreeNode.Cells(m.DeviceTree.Find("/ibm,opal")!.Get("ibm,opal-memcons")!));
    }

    [Fact]
    public void The_memcons_restarts_at_each_boot_with_the_time_since_that_IPL()
    {
        var (m, fw) = Crashed();
        int from = fw.Log.FindLastIndex(l => l.EndsWith("SkiBoot skiboot-v7.1 starting...", StringComparison.Ordinal));
        Assert.True(from > 0);
        string text = string.Concat(fw.Log.Skip(from).Select(l => l + "\n"));
        var c = Memcons(m);
        Assert.Equal((uint)text.Length, c.OutPos);
        Assert.Equal(text, Encoding.ASCII.GetString(Raw(m, c.Obuf, (int)c.OutPos)));

        m.Clock.Advance(TimeSpan.FromMilliseconds(1234.5));
        fw.RegisterTag(2, 1);
        Assert.StartsWith("[    1.234500000,5] ", fw.Log[^1], StringComparison.Ordinal);
    }

    [Fact]
    public void The_memcons_wraps()
    {
        var (m, fw) = PowerOn();
        uint size = 0x100000 - 0x4000;
        int i = 0;
        while (string.Concat(fw.Log.Select(l => l + "\n")).Length <= size + 100 && i < 100000)
        {
            for (int j = 0; j < 1000; j++, i++)
            {
                fw.RegisterTag(2, (ulong)i);
            }
        }

        string all = string.Concat(fw.Log.Select(l => l + "\n"));
        Assert.True(all.Length > size);
        var c = Memcons(m);
        Assert.Equal(OpalFirmware.MemconsWrap, c.OutPos & OpalFirmware.MemconsWrap);
        uint pos = c.OutPos & 0x00ffffff;
        Assert.Equal((uint)(all.Length % size), pos);
        var buf = Raw(m, c.Obuf, (int)size);

        // Read as Linux's memcons reader does: from out_pos to the end, then from the start to out_pos.
        string ring = Encoding.ASCII.GetString(buf, (int)pos, (int)(size - pos)) + Encoding.ASCII.GetString(buf, 0, (int)pos);
        Assert.Equal(all[^(int)size..], ring);
        Assert.EndsWith(FormattableString.Invariant($"DUMP: Payload sent metadata tag : 0x{i - 1:x}\n"), ring, StringComparison.Ordinal);

        // A line across the wrap is readable whole.
        int lineStart = ring.LastIndexOf('\n', (int)(size - pos) - 1) + 1;
        int lineEnd = ring.IndexOf('\n', (int)(size - pos));
        string across = ring[lineStart..lineEnd];
        Assert.Matches(@"^\[    0\.000000000,5\] DUMP: Payload sent metadata tag : 0x[0-9a-f]+$", across);
        Assert.Contains(across, fw.Log);
    }

    // ---- device tree ---------------------------------------------------------------------------------

    [Fact]
    public void The_device_tree_skiboot_hands_over()
    {
        var (m, fw) = PowerOn();
        var dt = m.DeviceTree;
        var dump = dt.Find("/ibm,opal/dump")!;
        Assert.Equal("ibm,opal-dump\0", Encoding.ASCII.GetString(dump.Get("compatible")!));
        Assert.Equal(new uint[] { 0, 0x20000000, 0, 0x08000000, 0, 0x28000000, 0, 0x08000000 }, DeviceTreeNode.Cells(dump.Get("fw-load-area")!));
        Assert.Null(dump.Get("mpipl-boot"));

        Assert.Equal("ibm,firmware-code\0ibm,firmware-dump\0ibm,firmware-arch-registers\0", Encoding.ASCII.GetString(dt.Get("reserved-names")!));
        ulong codeSize = OpalFirmware.SkibootSize + (0x104 * 0x8000UL);
        Assert.Equal(
            new uint[]
            {
                0, 0x30000000, 0, (uint)codeSize,
                0, (uint)fw.OpalDumpAddress, 0, (uint)fw.OpalDumpSize,
                0, (uint)fw.ArchRegsAddress, 0, 0x100000,
            },
            DeviceTreeNode.Cells(dt.Get("reserved-ranges")!));
        var rm = dt.Find("/reserved-memory")!;
        Assert.Equal(new uint[] { 0, (uint)fw.OpalDumpAddress, 0, (uint)fw.OpalDumpSize }, DeviceTreeNode.Cells(rm.Find(FormattableString.Invariant($"ibm,firmware-dump@{fw.OpalDumpAddress:x}"))!.Get("reg")!));
        Assert.NotNull(rm.Find("ibm,firmware-code@30000000"));
        Assert.NotNull(rm.Find(FormattableString.Invariant($"ibm,firmware-arch-registers@{fw.ArchRegsAddress:x}")));

        // The three areas are back to back, all below 1 GiB.
        Assert.Equal(0x30000000 + codeSize, fw.OpalDumpAddress);
        Assert.True(fw.ArchRegsAddress + fw.ArchRegsSize < Gib);

        var opal = dt.Find("/ibm,opal")!;
        Assert.Equal("ibm,opal-v3\0ibm,opal-v2\0", Encoding.ASCII.GetString(opal.Get("compatible")!));
        Assert.Equal(new uint[] { 0, 0x30000000 }, DeviceTreeNode.Cells(opal.Get("opal-base-address")!));
        Assert.Equal(new uint[] { 0, 0x30000010 }, DeviceTreeNode.Cells(opal.Get("opal-entry-address")!));
        Assert.Equal(new uint[] { 0, (uint)OpalFirmware.SkibootSize }, DeviceTreeNode.Cells(opal.Get("opal-runtime-size")!));

        var cpus = dt.Find("/cpus")!.Children.ToList();
        Assert.Equal(8, cpus.Count);
        var pirs = cpus.Select(n => DeviceTreeNode.Cells(n.Get("ibm,pir")!)[0]).Order().ToArray();
        Assert.Equal(new uint[] { 0, 1, 2, 3, 0x100, 0x101, 0x102, 0x103 }, pirs);
        foreach (var n in cpus)
        {
            uint pir = DeviceTreeNode.Cells(n.Get("ibm,pir")!)[0];
            Assert.Equal(FormattableString.Invariant($"PowerPC,POWER9@{pir:x}"), n.Name);
            Assert.Equal("cpu\0", Encoding.ASCII.GetString(n.Get("device_type")!));
            Assert.Equal(pir, DeviceTreeNode.Cells(n.Get("reg")!)[0]);
            Assert.Equal(pir >> 8, DeviceTreeNode.Cells(n.Get("ibm,chip-id")!)[0]);
        }

        Assert.Equal(new uint[] { 0, 0, 1, 0 }, DeviceTreeNode.Cells(dt.Find("/memory@0")!.Get("reg")!));
    }

    [Fact]
    public void Options_change_the_dump_node()
    {
        var (m, _) = PowerOn(new OpalOptions { DumpCompatible = "ibm,opal-dump-v2", FwLoadArea = [new(0x20000000, 0x10000000)] });
        var dump = m.DeviceTree.Find("/ibm,opal/dump")!;
        Assert.Equal("ibm,opal-dump-v2\0", Encoding.ASCII.GetString(dump.Get("compatible")!));
        Assert.Equal(new uint[] { 0, 0x20000000, 0, 0x10000000 }, DeviceTreeNode.Cells(dump.Get("fw-load-area")!));
    }

    [Fact]
    public void Petitboot_is_loaded_into_fw_load_area()
    {
        var (m, _) = PowerOn();
        Assert.StartsWith("petitboot", Encoding.ASCII.GetString(Raw(m, 0x20000000, 16)), StringComparison.Ordinal);
        Assert.StartsWith("petitboot", Encoding.ASCII.GetString(Raw(m, 0x28000000, 16)), StringComparison.Ordinal);
    }
}
