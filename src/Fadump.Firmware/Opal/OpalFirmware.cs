using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Fadump.Machine;

namespace Fadump.Firmware.Opal;

/// <summary>How skiboot answers opal_cec_reboot2(OPAL_REBOOT_MPIPL).</summary>
public enum MpiplReboot
{
    /// <summary>skiboot 6.5+ on a platform with a terminate backend: MPIPL through the SBE.</summary>
    Supported,

    /// <summary>A skiboot older than MPIPL: "Unsupported reboot request", OPAL_UNSUPPORTED.</summary>
    Unsupported,

    /// <summary>No platform terminate backend: OPAL_HARDWARE.</summary>
    NoBackend,
}

/// <summary>Options of the simulated PowerNV firmware (hostboot, the SBE and skiboot).</summary>
public sealed record OpalOptions
{
    /// <summary>Whether skiboot offers MPIPL (the /ibm,opal/dump node and OPAL calls 173–175).</summary>
    public bool MpiplSupported { get; init; } = true;

    /// <summary>How opal_cec_reboot2 handles OPAL_REBOOT_MPIPL.</summary>
    public MpiplReboot Reboot { get; init; } = MpiplReboot.Supported;

    /// <summary>Whether the SBE answers the MPIPL request (BMC systems); if not, skiboot waits 90 s and reboots normally.</summary>
    public bool SbeResponds { get; init; } = true;

    /// <summary>The fw-load-area ranges skiboot publishes (default: where it loads the petitboot kernel and initramfs, 512–768 MiB).</summary>
    public IReadOnlyList<MemoryRange>? FwLoadArea { get; init; }

    /// <summary>Processor chips; the machine's CPUs are spread over them, SMT4.</summary>
    public int Chips { get; init; } = 2;

    /// <summary>The compatible property of /ibm,opal/dump (another value: a firmware whose MPIPL Linux does not know).</summary>
    public string DumpCompatible { get; init; } = "ibm,opal-dump";

    /// <summary>Cores per chip the HDAT reports beyond the running ones (their threads are core_state 0x0F: inactive).</summary>
    public int SpareCoresPerChip { get; init; } = 1;
}

/// <summary>
/// PowerNV firmware as the kernel sees it for FADump (skiboot core/opal-dump.c, hostboot's MPIPL, the SBE):
/// OPAL_MPIPL_UPDATE/REGISTER_TAG/QUERY_TAG, the MDST/MDDT/MDRT tables and the metadata area at their real
/// offsets above SKIBOOT_BASE, OPAL preserving its own memory and the architected registers (HDAT format),
/// opal_cec_reboot2(MPIPL), and the memory-preserving IPL that copies every range, fills the MDRT and boots
/// skiboot again with /ibm,opal/dump/mpipl-boot. skiboot's log goes to its in-memory console (memcons), so it
/// is part of OPAL's memory and of the OPAL core. Firmware state survives the resets; the tables live in RAM.
/// </summary>
public sealed class OpalFirmware
{
    public const ulong SkibootBase = 0x30000000;
    public const ulong SkibootSize = 0x01c10000;
    public const ulong StackSize = 0x8000;
    public const ulong MdstOffset = 0x00011000;
    public const ulong MddtOffset = 0x00011400;
    public const ulong TableSize = 0x400;
    public const ulong ProcDumpAreaOffset = 0x00010700;
    public const ulong MdrtOffset = 0x01c00000;
    public const ulong MdrtSize = 0x8000;
    public const ulong MetadataOffset = 0x01c08000;
    // Fixed: skiboot's HEAP_BASE is SKIBOOT_BASE + 0x00600000 (include/mem-map.h); it was 0x00500000, inside the
    // text/data gap, so the opal_mpipl_fadump structures of TAG_OPAL/TAG_CPU were not where skiboot allocates.
    public const ulong HeapOffset = 0x00600000;
    public const ulong InmemConOffset = 0x01000000;
    public const ulong InmemConLength = 0x100000;
    public const ulong InmemConInLength = 0x4000;

    /// <summary>Where skiboot's struct memcons sits in its data (the simulation's choice; Linux finds it through ibm,opal-memcons).</summary>
    public const ulong MemconsOffset = 0x00200000;
    public const ulong MemconsMagic = 0x6630696567726173;
    public const uint MemconsWrap = 0x80000000;

    public const ulong KernelLoadBase = 0x20000000;
    public const ulong KernelLoadSize = 0x08000000;
    public const ulong ArchRegsPerChip = 512 * 1024;
    public const ulong HrmorBit = 1UL << 63;

    public const int MdstEntrySize = 16;
    public const int MdrtEntrySize = 32;
    public const int MaxMdst = (int)(TableSize / MdstEntrySize);
    public const int MaxMdrt = (int)(MdrtSize / MdrtEntrySize);

    public const byte RegionOpalMemory = 0x03;
    public const byte RegionKernel = 0x80;

    public const long Success = 0;
    public const long Parameter = -1;
    public const long Hardware = -6;
    public const long Unsupported = -7;
    public const long Permission = -8;
    public const long Resource = -10;
    public const long InternalError = -11;

    public const int OpalMpiplUpdate = 173;
    public const int OpalMpiplRegisterTag = 174;
    public const int OpalMpiplQueryTag = 175;
    public const int RebootMpipl = 3;

    /// <summary>HDAT thread data: the version, the header and one 16-byte entry per register, padded to the thread size.</summary>
    public const uint CpuDataVersion = 1;
    public const int ThreadHeaderSize = 24;
    public const int RegEntrySize = 16;
    public const byte CoreInactive = 0x0F;

    /// <summary>The SPRs hostboot saves per thread (architected numbers; NIP, MSR, CCR are HDAT's own ids).</summary>
    public static readonly (uint Num, string Name)[] SavedSprs =
    [
        (1, "XER"), (8, "LR"), (9, "CTR"), (18, "DSISR"), (19, "DAR"), (26, "SRR0"), (27, "SRR1"), (313, "HRMOR"),
        (1023, "PIR"), (0x7D0, "NIP"), (0x7D1, "MSR"), (0x7D2, "CCR"),
    ];

    public static readonly int RegEntries = 32 + SavedSprs.Length;

    /// <summary>proc_dump_area.thread_size: the header and entries, rounded up to 256 bytes.</summary>
    public static readonly uint ThreadSize = (uint)((ThreadHeaderSize + (RegEntries * RegEntrySize) + 255) & ~255);

    private readonly SimulatedMachine _machine;
    private readonly ulong[] _tags = new ulong[4];
    private int _maxTags = 4;
    private int _mdstCount;
    private int _mddtCount;
    private int _mdrtCount;
    private TimeSpan _iplAt;
    private ulong _heap;

    public OpalFirmware(SimulatedMachine machine, OpalOptions? options = null)
    {
        _machine = machine;
        Options = options ?? new OpalOptions();
        if (Options.Chips < 1)
        {
            throw new ArgumentException("at least one chip", nameof(options));
        }

        CoresPerChip = (int)Math.Ceiling(machine.Cpus.Count / 4.0 / Options.Chips);
        MaxPir = machine.Cpus.Max(c => Pir(c.Id));
        OpalDumpSize = SkibootSize + ((MaxPir + 1) * StackSize);
        OpalDumpAddress = SkibootBase + OpalDumpSize;
        ArchRegsAddress = OpalDumpAddress + OpalDumpSize;
        ArchRegsSize = (ulong)Options.Chips * ArchRegsPerChip;
    }

    public OpalOptions Options { get; }

    /// <summary>Cores with running threads on each chip.</summary>
    public int CoresPerChip { get; }

    /// <summary>cpu_max_pir: the highest PIR of a present thread.</summary>
    public uint MaxPir { get; }

    /// <summary>opal_dump_size: skiboot's memory and one stack per PIR, preserved at <see cref="OpalDumpAddress"/> (ibm,firmware-dump).</summary>
    public ulong OpalDumpSize { get; }

    public ulong OpalDumpAddress { get; }

    /// <summary>ibm,firmware-arch-registers: where hostboot saves every thread's registers at an MPIPL.</summary>
    public ulong ArchRegsAddress { get; }

    public ulong ArchRegsSize { get; }

    /// <summary>skiboot's console since power-on, every boot (what its memcons holds for the current one).</summary>
    public List<string> Log { get; } = [];

    /// <summary>The current boot is a memory-preserving IPL (mpipl-boot in /ibm,opal/dump).</summary>
    public bool MpiplBoot { get; private set; }

    /// <summary>MPIPLs performed so far.</summary>
    public int Mpipls { get; private set; }

    /// <summary>Threads whose registers hostboot saved at the last MPIPL (HDAT entries, inactive cores' included).</summary>
    public int LastSavedThreads { get; private set; }

    /// <summary>Bytes hostboot copied at the last MPIPL.</summary>
    public ulong LastCopiedBytes { get; private set; }

    /// <summary>Raised when an MPIPL starts, before anything is copied: memory as the crashed OS left it.</summary>
    public event Action? DumpStarting;

    /// <summary>Return codes OPAL_MPIPL_UPDATE gives before handling the next calls (tests: failures Linux must handle).</summary>
    public Queue<long> InjectedReturnCodes { get; } = new();

    /// <summary>The last message given to opal_cec_reboot2.</summary>
    public string? LastRebootMessage { get; private set; }

    private ulong Top => _machine.Memory.Top;

    /// <summary>POWER9 SMT4 PIR of a logical CPU: chip &lt;&lt; 8 | core &lt;&lt; 2 | thread.</summary>
    public uint Pir(int cpu)
    {
        int perChip = CoresPerChip * 4;
        int chip = cpu / perChip, rest = cpu % perChip;
        return (uint)((chip << 8) | ((rest / 4) << 2) | (rest % 4));
    }

    /// <summary>The logical CPU of a PIR, or -1 (a spare thread).</summary>
    public int CpuOfPir(uint pir) => _machine.Cpus.FirstOrDefault(c => Pir(c.Id) == pir)?.Id ?? -1;

    /// <summary>The fw-load-area ranges as published.</summary>
    public IReadOnlyList<MemoryRange> FwLoadArea => Options.FwLoadArea ?? [new(KernelLoadBase, KernelLoadSize), new(KernelLoadBase + KernelLoadSize, KernelLoadSize)];

    /// <summary>Power-on: the first IPL.</summary>
    public void PowerOn() => Ipl(mpipl: false);

    // ---- OPAL calls -------------------------------------------------------------------------------

    /// <summary>OPAL_MPIPL_UPDATE(op, src, dest, size).</summary>
    public long MpiplUpdate(int op, ulong src, ulong dest, ulong size)
    {
        if (!Options.MpiplSupported)
        {
            return BadToken(OpalMpiplUpdate);
        }

        if (InjectedReturnCodes.TryDequeue(out long injected))
        {
            return injected;
        }

        long rc;
        switch (op)
        {
            case 0: // OPAL_MPIPL_ADD_RANGE
                rc = PayloadRegister(src, dest, size);
                if (rc == Success)
                {
                    Prlog(5, "DUMP: Payload registered for MPIPL");
                }

                break;
            case 1: // OPAL_MPIPL_REMOVE_RANGE
                rc = RemoveEntry(MdstOffset, ref _mdstCount, all: false, RegionKernel, src, "Source");
                if (rc == Success)
                {
                    rc = RemoveEntry(MddtOffset, ref _mddtCount, all: false, RegionKernel, dest, "Dest");
                }

                if (rc == Success)
                {
                    Prlog(5, FormattableString.Invariant($"DUMP: Payload removed entry from MPIPL.[src : 0x{src:x}, dest : 0x{dest:x}]"));
                }

                break;
            case 2: // OPAL_MPIPL_REMOVE_ALL: the kernel's regions only, OPAL's own entry stays
                RemoveEntry(MdstOffset, ref _mdstCount, all: true, RegionKernel, 0, "Source");
                RemoveEntry(MddtOffset, ref _mddtCount, all: true, RegionKernel, 0, "Dest");
                rc = Success;
                Prlog(5, "DUMP: Payload unregistered for MPIPL");
                break;
            case 3: // OPAL_MPIPL_FREE_PRESERVED_MEMORY
                Array.Clear(_tags);
                _maxTags = 0; // (quirk) every QUERY_TAG fails with OPAL_PARAMETER until the next IPL
                _machine.Memory.Clear(SkibootBase + MdrtOffset, MdrtSize);
                _mdrtCount = MaxMdrt; // (quirk) "set MDRT count to max": a reboot now is not taken for an MPIPL
                rc = Success;
                Prlog(5, "DUMP: Payload Invalidated MPIPL");
                break;
            default:
                Prlog(7, FormattableString.Invariant($"DUMP: Unsupported MPIPL update operation : 0x{op:x}"));
                rc = Parameter;
                break;
        }

        return rc;
    }

    /// <summary>OPAL_MPIPL_REGISTER_TAG(tag, value): into the metadata area that survives the MPIPL.</summary>
    public long RegisterTag(int tag, ulong value)
    {
        if (!Options.MpiplSupported)
        {
            return BadToken(OpalMpiplRegisterTag);
        }

        switch (tag)
        {
            case 3: // OPAL_MPIPL_TAG_BOOT_MEM
                // (quirk) "tag_val <= 0" on an unsigned value: only 0 is refused below the top.
                if (value == 0 || value > Top)
                {
                    Prlog(7, FormattableString.Invariant($"DUMP: Payload sent invalid boot mem size :  0x{value:x}"));
                    return Parameter;
                }

                WriteBe64(SkibootBase + MetadataOffset + 12, value);
                Prlog(5, FormattableString.Invariant($"DUMP: Boot mem size : 0x{value:x}"));
                return Success;
            case 2: // OPAL_MPIPL_TAG_KERNEL: any value, 0 included (fadump_cleanup resets it so)
                WriteBe64(SkibootBase + MetadataOffset + 4, value);
                Prlog(5, FormattableString.Invariant($"DUMP: Payload sent metadata tag : 0x{value:x}"));
                return Success;
            default:
                Prlog(7, FormattableString.Invariant($"DUMP: Payload sent unsupported tag : 0x{tag:x}"));
                return Parameter;
        }
    }

    /// <summary>
    /// OPAL_MPIPL_QUERY_TAG(tag, *value). (quirk) A tag registered in this boot is not returned: the tags skiboot
    /// answers with are those it restored from the metadata at an MPIPL boot (an unset one reads 0).
    /// </summary>
    public long QueryTag(int tag, out ulong value)
    {
        value = 0;
        if (!Options.MpiplSupported)
        {
            return BadToken(OpalMpiplQueryTag);
        }

        if (tag < 0 || tag >= _maxTags)
        {
            return Parameter;
        }

        value = _tags[tag];
        return Success;
    }

    /// <summary>
    /// opal_cec_reboot2(type, msg). For OPAL_REBOOT_MPIPL with the support in place it does not return: the
    /// crashing PIR goes into the metadata, the SBE starts the MPIPL and the machine boots again (the return
    /// value is then <see cref="Success"/> and <see cref="SimulatedMachine.Resets"/> has grown). Without an SBE
    /// answer skiboot falls back to a normal reboot: the machine also resets, with nothing preserved; so it does
    /// without MPIPL enabled (no /ibm,opal/dump).
    /// </summary>
    public long CecReboot2(int type, string message, int cpu)
    {
        LastRebootMessage = message;
        if (type != RebootMpipl || Options.Reboot == MpiplReboot.Unsupported)
        {
            Prlog(5, FormattableString.Invariant($"OPAL: Unsupported reboot request {type}"));
            return Unsupported;
        }

        if (Options.Reboot == MpiplReboot.NoBackend)
        {
            return Hardware;
        }

        Prlog(5, "Reboot: OS reported error. Performing MPIPL");
        if (!Options.MpiplSupported)
        {
            // Fixed: p9_sbe_terminate returns at once when MPIPL is not enabled (no /ibm,opal/dump: no crashing
            // PIR, no S0 interrupt to the SBE) and ipmi_terminate goes on to platform.cec_reboot: a normal reboot.
            // This went through StartMpipl before, which counted an MPIPL and raised DumpStarting.
            Reboot();
            return Success;
        }

        WriteBe32(SkibootBase + MetadataOffset, Pir(cpu));
        Prlog(5, FormattableString.Invariant($"DUMP: Crashing PIR = 0x{Pir(cpu):x}"));

        // Fixed: p9_sbe_terminate logs this after the S0 interrupts, before it waits (so it is in the crashed
        // boot's memcons whether or not the SBE answers).
        Prlog(5, "SBE: Initiated MPIPL, waiting for SBE to respond...");

        // The crashing thread is in OPAL now: that is where hostboot finds it.
        var c = _machine.Cpus[cpu];
        c.Nip = SkibootBase + 0x2d5c8;
        StartMpipl();
        return Success;
    }

    /// <summary>An MPIPL the BMC starts (no OS call): no crashing PIR, the OS's registrations as they stand.</summary>
    public void BmcInitiatedMpipl() => StartMpipl();

    /// <summary>A plain reboot (opal_cec_reboot): a normal IPL, nothing preserved.</summary>
    public void Reboot()
    {
        _machine.Clock.Advance(TimeSpan.FromSeconds(_machine.Cost.RebootSeconds));
        _mdrtCount = 0;
        Ipl(mpipl: false);
    }

    private void StartMpipl()
    {
        if (!Options.SbeResponds)
        {
            _machine.Clock.Advance(TimeSpan.FromSeconds(90));
            Prlog(3, "SBE: SBE did not respond within timeout period (90 secs).");
            Prlog(3, "SBE: Falling back to normal reboot");
            _mdrtCount = 0;
            _machine.Clock.Advance(TimeSpan.FromSeconds(_machine.Cost.ResetAndIplSeconds));
            Ipl(mpipl: false);
            return;
        }

        DumpStarting?.Invoke();
        Mpipls++;
        LastCopiedBytes = HostbootCopy();
        SaveArchitectedRegisters();
        _machine.Clock.Advance(_machine.Cost.FirmwareCopy(LastCopiedBytes));
        _machine.Clock.Advance(TimeSpan.FromSeconds(_machine.Cost.ResetAndIplSeconds));
        Ipl(mpipl: _mdrtCount > 0 && _mdrtCount < MaxMdrt);
    }

    /// <summary>Hostboot: every MDST source to its MDDT destination, each result in the MDRT.</summary>
    private ulong HostbootCopy()
    {
        var mem = _machine.Memory;
        ulong copied = 0;
        int n = 0;
        mem.Clear(SkibootBase + MdrtOffset, MdrtSize);
        for (int i = 0; i < Math.Min(_mdstCount, _mddtCount); i++)
        {
            var (src, region, size) = ReadEntry(MdstOffset, i);
            var (dest, _, _) = ReadEntry(MddtOffset, i);
            src &= ~HrmorBit;
            dest &= ~HrmorBit;
            if (size == 0 || !mem.IsRam(src, size) || !mem.IsRam(dest, size))
            {
                continue;
            }

            FirmwareCopy.Copy(mem, src, dest, size);
            copied += size;
            var e = new byte[MdrtEntrySize];
            BinaryPrimitives.WriteUInt64BigEndian(e, src | HrmorBit);
            BinaryPrimitives.WriteUInt64BigEndian(e.AsSpan(8), dest | HrmorBit);
            e[16] = region;
            BinaryPrimitives.WriteUInt32BigEndian(e.AsSpan(20), size);
            mem.Write(SkibootBase + MdrtOffset + ((ulong)n * MdrtEntrySize), e);
            n++;
        }

        _mdrtCount = n;
        return copied;
    }

    /// <summary>The SBE stops every thread and hostboot writes the architected registers (HDAT format) where skiboot asked.</summary>
    private void SaveArchitectedRegisters()
    {
        var area = SkibootBase + ProcDumpAreaOffset;
        var pda = new byte[0x30];
        _machine.Memory.Read(area, pda);
        ulong dest = BinaryPrimitives.ReadUInt64BigEndian(pda.AsSpan(8)) & ~HrmorBit;
        uint alloc = BinaryPrimitives.ReadUInt32BigEndian(pda.AsSpan(20));
        var threads = new List<(uint Pir, Cpu? Cpu)>();
        for (int chip = 0; chip < Options.Chips; chip++)
        {
            for (int core = 0; core < CoresPerChip + Options.SpareCoresPerChip; core++)
            {
                for (int t = 0; t < 4; t++)
                {
                    uint pir = (uint)((chip << 8) | (core << 2) | t);
                    int cpu = CpuOfPir(pir);
                    threads.Add((pir, cpu < 0 ? null : _machine.Cpus[cpu]));
                }
            }
        }

        // Threads of cores with a running thread count as active (their idle threads too); cores past them as inactive.
        var activeCores = threads.Where(x => x.Cpu is not null).Select(x => x.Pir >> 2).ToHashSet();
        ulong size = (ulong)threads.Count * ThreadSize;
        LastSavedThreads = 0;
        if (dest == 0 || size > alloc)
        {
            return; // nothing to save into: skiboot then finds no CPU data ("Invalid CPU registers destination")
        }

        var buf = new byte[size];
        for (int i = 0; i < threads.Count; i++)
        {
            var (pir, cpu) = threads[i];
            int at = i * (int)ThreadSize;
            var t = buf.AsSpan(at);
            BinaryPrimitives.WriteUInt32BigEndian(t, pir);
            t[4] = activeCores.Contains(pir >> 2) ? (byte)0 : CoreInactive;
            BinaryPrimitives.WriteUInt32BigEndian(t[8..], ThreadHeaderSize - 8);
            BinaryPrimitives.WriteUInt32BigEndian(t[12..], (uint)RegEntries);
            BinaryPrimitives.WriteUInt32BigEndian(t[16..], RegEntrySize);
            BinaryPrimitives.WriteUInt32BigEndian(t[20..], RegEntrySize);
            int e = ThreadHeaderSize;
            void Put(uint type, uint num, ulong value)
            {
                var r = buf.AsSpan(at + e);
                BinaryPrimitives.WriteUInt32BigEndian(r, type);
                BinaryPrimitives.WriteUInt32BigEndian(r[4..], num);
                BinaryPrimitives.WriteUInt64BigEndian(r[8..], value);
                e += RegEntrySize;
            }

            for (uint g = 0; g < 32; g++)
            {
                Put(1, g, cpu?.Gpr[g] ?? 0);
            }

            foreach (var (num, name) in SavedSprs)
            {
                Put(2, num, cpu is null ? 0 : name switch
                {
                    "XER" => cpu.Xer,
                    "LR" => cpu.Lr,
                    "CTR" => cpu.Ctr,
                    "DSISR" => cpu.Dsisr,
                    "DAR" => cpu.Dar,
                    "SRR0" => cpu.Nip,
                    "SRR1" => cpu.Msr,
                    "PIR" => pir,
                    "NIP" => cpu.Nip,
                    "MSR" => cpu.Msr,
                    "CCR" => cpu.Cr,
                    _ => 0,
                });
            }
        }

        _machine.Memory.Write(dest, buf);
        LastSavedThreads = threads.Count;
        BinaryPrimitives.WriteUInt32BigEndian(pda, ThreadSize);
        pda[4] = (byte)CpuDataVersion;
        BinaryPrimitives.WriteUInt64BigEndian(pda.AsSpan(24), dest | HrmorBit);
        BinaryPrimitives.WriteUInt32BigEndian(pda.AsSpan(36), (uint)size);
        _machine.Memory.Write(area, pda);
    }

    // ---- IPL ---------------------------------------------------------------------------------------

    /// <summary>
    /// An IPL: skiboot starts (a fresh console, the reserved memory), opal_mpipl_init (after an MPIPL: the tags
    /// from the metadata, OPAL's preserved regions and the CPU data for the kernel), clears and re-arms the
    /// tables with OPAL's own entry, loads petitboot into fw-load-area, and hands over the device tree.
    /// </summary>
    private void Ipl(bool mpipl)
    {
        _iplAt = _machine.Clock.Now;
        MpiplBoot = mpipl && Options.MpiplSupported;
        _heap = SkibootBase + HeapOffset;
        InitMemcons();
        Prlog(5, "SkiBoot skiboot-v7.1 starting...");
        Array.Clear(_tags);
        _maxTags = 4;
        if (Options.MpiplSupported)
        {
            if (mpipl)
            {
                Prlog(5, FormattableString.Invariant($"DUMP: Dump found, MDRT count = 0x{_mdrtCount:x}"));
                RestoreTags();
                PostMpiplOpalData();
                PostMpiplArchRegs();
            }

            _machine.Memory.Clear(SkibootBase + MetadataOffset, 20);
            _machine.Memory.Clear(SkibootBase + MdstOffset, TableSize);
            _machine.Memory.Clear(SkibootBase + MddtOffset, TableSize);
            _mdstCount = _mddtCount = 0;
            AddEntry(RegionOpalMemory, SkibootBase, OpalDumpAddress, OpalDumpSize);

            // Fixed: opal_mpipl_register checks proc_dump_area.thread_size before re-arming it; hostboot filled it
            // at the MPIPL, so skiboot says so on the MPIPL boot (it reserves a fixed 512 KiB per chip instead).
            if (ReadBe32(SkibootBase + ProcDumpAreaOffset) != 0)
            {
                Prlog(6, "DUMP: Thread register entry size is available, but not supported.");
            }

            var pda = new byte[0x30];
            BinaryPrimitives.WriteUInt64BigEndian(pda.AsSpan(8), ArchRegsAddress | HrmorBit);
            BinaryPrimitives.WriteUInt32BigEndian(pda.AsSpan(20), (uint)ArchRegsSize);
            _machine.Memory.Write(SkibootBase + ProcDumpAreaOffset, pda);
            Prlog(5, FormattableString.Invariant($"DUMP: Architected register dest addr : 0x{ArchRegsAddress:x}, size : 0x{ArchRegsSize:x}"));
        }

        LoadPetitboot();
        Prlog(5, "INIT: Starting kernel at 0x20010000, fdt at 0x30ae0000");
        _machine.Reset(BuildDeviceTree());
    }

    private void RestoreTags()
    {
        ulong kernelTag = ReadBe64(SkibootBase + MetadataOffset + 4), bootMem = ReadBe64(SkibootBase + MetadataOffset + 12);
        if (kernelTag != 0)
        {
            _tags[2] = kernelTag;
        }

        if (bootMem != 0)
        {
            _tags[3] = bootMem;
        }
    }

    /// <summary>post_mpipl_get_opal_data: OPAL's regions from the MDRT, as an opal_mpipl_fadump in skiboot's heap (TAG_OPAL).</summary>
    private void PostMpiplOpalData()
    {
        var regions = new List<(ulong Src, ulong Dest, ulong Size)>();
        for (int i = 0; i < _mdrtCount; i++)
        {
            var e = new byte[MdrtEntrySize];
            _machine.Memory.Read(SkibootBase + MdrtOffset + ((ulong)i * MdrtEntrySize), e);
            if (e[16] == RegionOpalMemory)
            {
                regions.Add((BinaryPrimitives.ReadUInt64BigEndian(e) & ~HrmorBit, BinaryPrimitives.ReadUInt64BigEndian(e.AsSpan(8)) & ~HrmorBit, BinaryPrimitives.ReadUInt32BigEndian(e.AsSpan(20))));
            }
        }

        if (regions.Count == 0)
        {
            Prlog(6, "DUMP: OPAL dump is not available");
            return;
        }

        uint crashingPir = ReadBe32(SkibootBase + MetadataOffset);
        var s = MpiplFadump.Encode(crashingPir, 0, 0, regions);
        for (int j = 0; j < regions.Count; j++)
        {
            Prlog(5, FormattableString.Invariant($"DUMP: OPAL reserved region {j} - src : 0x{regions[j].Src:x}, dest : 0x{regions[j].Dest:x}, size : 0x{regions[j].Size:x}"));
        }

        _tags[1] = HeapAlloc(s);
    }

    /// <summary>post_mpipl_arch_regs_data: the register area hostboot filled, as an opal_mpipl_fadump (TAG_CPU).</summary>
    private void PostMpiplArchRegs()
    {
        var pda = new byte[0x30];
        _machine.Memory.Read(SkibootBase + ProcDumpAreaOffset, pda);
        ulong dest = BinaryPrimitives.ReadUInt64BigEndian(pda.AsSpan(24)) & ~HrmorBit;
        uint act = BinaryPrimitives.ReadUInt32BigEndian(pda.AsSpan(36));
        if (dest == 0)
        {
            Prlog(7, "DUMP: Invalid CPU registers destination address");
            return;
        }

        if (act == 0)
        {
            Prlog(7, "DUMP: Invalid CPU registers destination size");
            return;
        }

        var s = MpiplFadump.Encode(0, pda[4], BinaryPrimitives.ReadUInt32BigEndian(pda), [(dest, dest, act)]);
        _tags[0] = HeapAlloc(s);
    }

    private ulong HeapAlloc(byte[] data)
    {
        ulong at = _heap;
        _machine.Memory.Write(at, data);
        _heap += (ulong)((data.Length + 63) & ~63);
        return at;
    }

    /// <summary>skiboot loads the petitboot kernel and initramfs from PNOR into fw-load-area (their first 2 MiB here).</summary>
    private void LoadPetitboot()
    {
        var image = new byte[2 << 20];
        foreach (var r in FwLoadArea)
        {
            Encoding.ASCII.GetBytes("petitboot zImage.epapr / initramfs loaded by skiboot from PNOR").CopyTo(image, 0);
            ulong n = Math.Min((ulong)image.Length, r.Size);
            if (_machine.Memory.IsRam(r.Start, n))
            {
                _machine.Memory.Write(r.Start, image.AsSpan(0, (int)n));
            }
        }
    }

    /// <summary>The device tree skiboot hands to the payload.</summary>
    public DeviceTreeNode BuildDeviceTree()
    {
        var root = new DeviceTreeNode("/");
        root.Set("compatible", Encoding.ASCII.GetBytes("ibm,witherspoon\0ibm,powernv\0"));
        root.SetString("model", "8335-GTH");
        var reserved = new List<(string Name, MemoryRange Range)> { ("ibm,firmware-code", new(SkibootBase, SkibootSize + ((MaxPir + 1) * StackSize))) };
        if (Options.MpiplSupported)
        {
            reserved.Add(("ibm,firmware-dump", new(OpalDumpAddress, OpalDumpSize)));
            reserved.Add(("ibm,firmware-arch-registers", new(ArchRegsAddress, ArchRegsSize)));
        }

        var cells = new List<uint>();
        var names = new StringBuilder();
        var rm = root.GetOrAdd("reserved-memory");
        foreach (var (name, r) in reserved)
        {
            cells.AddRange([(uint)(r.Start >> 32), (uint)r.Start, (uint)(r.Size >> 32), (uint)r.Size]);
            names.Append(name).Append('\0');
            var n = rm.GetOrAdd(FormattableString.Invariant($"{name}@{r.Start:x}"));
            n.SetCells("reg", (uint)(r.Start >> 32), (uint)r.Start, (uint)(r.Size >> 32), (uint)r.Size);
        }

        root.SetCells("reserved-ranges", [.. cells]);
        root.Set("reserved-names", Encoding.ASCII.GetBytes(names.ToString()));
        foreach (var r in _machine.Memory.Ram)
        {
            var mem = root.GetOrAdd(FormattableString.Invariant($"memory@{r.Start:x}"));
            mem.SetString("device_type", "memory");
            mem.SetCells("reg", (uint)(r.Start >> 32), (uint)r.Start, (uint)(r.Size >> 32), (uint)r.Size);
        }

        var cpus = root.GetOrAdd("cpus");
        foreach (var c in _machine.Cpus)
        {
            uint pir = Pir(c.Id);
            var n = cpus.GetOrAdd(FormattableString.Invariant($"PowerPC,POWER9@{pir:x}"));
            n.SetString("device_type", "cpu");
            n.SetCells("reg", pir);
            n.SetCells("ibm,pir", pir);
            n.SetCells("ibm,chip-id", pir >> 8);
        }

        var opal = root.GetOrAdd("ibm,opal");
        opal.Set("compatible", Encoding.ASCII.GetBytes("ibm,opal-v3\0ibm,opal-v2\0"));
        opal.SetCells("opal-base-address", (uint)(SkibootBase >> 32), (uint)SkibootBase);
        opal.SetCells("opal-entry-address", 0, (uint)SkibootBase + 0x10);
        opal.SetCells("opal-boot-address", 0, (uint)SkibootBase);
        opal.SetCells("opal-runtime-size", 0, (uint)SkibootSize);
        opal.SetCells("ibm,opal-memcons", 0, (uint)(SkibootBase + MemconsOffset));
        opal.GetOrAdd("firmware").SetString("version", "skiboot-v7.1");
        if (Options.MpiplSupported)
        {
            var dump = opal.GetOrAdd("dump");
            dump.SetString("compatible", Options.DumpCompatible);
            var load = new List<uint>();
            foreach (var r in FwLoadArea)
            {
                load.AddRange([(uint)(r.Start >> 32), (uint)r.Start, (uint)(r.Size >> 32), (uint)r.Size]);
            }

            dump.SetCells("fw-load-area", [.. load]);
            if (MpiplBoot)
            {
                dump.Set("mpipl-boot", []);
            }
        }

        return root;
    }

    // ---- tables ------------------------------------------------------------------------------------

    private long PayloadRegister(ulong src, ulong dest, ulong size)
    {
        if (!AddressValid(src))
        {
            Prlog(7, FormattableString.Invariant($"DUMP: Invalid source address [0x{src:x}]"));
            return Parameter;
        }

        if (!AddressValid(dest))
        {
            Prlog(7, FormattableString.Invariant($"DUMP: Invalid dest address [0x{dest:x}]"));
            return Parameter;
        }

        if (size == 0)
        {
            Prlog(7, FormattableString.Invariant($"DUMP: Invalid size [0x{size:x}]"));
            return Parameter;
        }

        return AddEntry(RegionKernel, src, dest, size);
    }

    /// <summary>opal_addr_valid: a real address (or its 0xc... linear map) not above the top of RAM; the size is not checked.</summary>
    private bool AddressValid(ulong a) => (a >> 60) is 0 or 0xc && (a & ~0xF000000000000000UL) <= Top;

    private long AddEntry(byte region, ulong src, ulong dest, ulong size)
    {
        if (_mdstCount >= MaxMdst)
        {
            Prlog(7, "DUMP: MDST table is full");
            return Resource;
        }

        if (_mddtCount >= MaxMdst)
        {
            Prlog(7, "DUMP: MDDT table is full");
            return Resource;
        }

        // Duplicates by address only: overlapping ranges are not checked.
        for (int i = 0; i < _mdstCount; i++)
        {
            if (ReadEntry(MdstOffset, i).Addr == (src | HrmorBit))
            {
                Prlog(7, FormattableString.Invariant($"DUMP: Duplicate source address : 0x{src:x}"));
                return Parameter;
            }
        }

        for (int i = 0; i < _mddtCount; i++)
        {
            if (ReadEntry(MddtOffset, i).Addr == (dest | HrmorBit))
            {
                Prlog(7, FormattableString.Invariant($"DUMP: Duplicate destination address : 0x{dest:x}"));
                return Parameter;
            }
        }

        // (quirk) the size is stored as be32: anything above 4 GiB is silently truncated.
        WriteEntry(MdstOffset, _mdstCount++, src | HrmorBit, region, (uint)size);
        WriteEntry(MddtOffset, _mddtCount++, dest | HrmorBit, region, (uint)size);
        return Success;
    }

    private long RemoveEntry(ulong table, ref int count, bool all, byte region, ulong addr, string what)
    {
        bool found = false;
        for (int i = 0; i < count;)
        {
            var e = ReadEntry(table, i);
            if (e.Region != region || (!all && e.Addr != (addr | HrmorBit)))
            {
                i++;
                continue;
            }

            for (int j = i; j < count - 1; j++)
            {
                var next = ReadEntry(table, j + 1);
                WriteEntry(table, j, next.Addr, next.Region, next.Size);
            }

            _machine.Memory.Clear(SkibootBase + table + ((ulong)(count - 1) * MdstEntrySize), MdstEntrySize);
            count--;
            if (!all)
            {
                found = true;
                break;
            }
        }

        if (!all && !found)
        {
            Prlog(7, FormattableString.Invariant($"DUMP: {what} address [0x{addr:x}] not found in {(what == "Source" ? "MDST" : "MDDT")} table"));
            return Parameter;
        }

        return Success;
    }

    /// <summary>The kernel entries registered in the MDST now (src, size), in table order.</summary>
    public IReadOnlyList<(ulong Src, ulong Dest, uint Size, byte Region)> Entries()
    {
        var list = new List<(ulong, ulong, uint, byte)>();
        for (int i = 0; i < Math.Min(_mdstCount, _mddtCount); i++)
        {
            var s = ReadEntry(MdstOffset, i);
            var d = ReadEntry(MddtOffset, i);
            list.Add((s.Addr & ~HrmorBit, d.Addr & ~HrmorBit, s.Size, s.Region));
        }

        return list;
    }

    /// <summary>MDRT entries of the last MPIPL still in place.</summary>
    public int MdrtCount => _mdrtCount;

    private (ulong Addr, byte Region, uint Size) ReadEntry(ulong table, int i)
    {
        var e = new byte[MdstEntrySize];
        _machine.Memory.Read(SkibootBase + table + ((ulong)i * MdstEntrySize), e);
        return (BinaryPrimitives.ReadUInt64BigEndian(e), e[8], BinaryPrimitives.ReadUInt32BigEndian(e.AsSpan(12)));
    }

    private void WriteEntry(ulong table, int i, ulong addr, byte region, uint size)
    {
        var e = new byte[MdstEntrySize];
        BinaryPrimitives.WriteUInt64BigEndian(e, addr);
        e[8] = region;
        BinaryPrimitives.WriteUInt32BigEndian(e.AsSpan(12), size);
        _machine.Memory.Write(SkibootBase + table + ((ulong)i * MdstEntrySize), e);
    }

    private long BadToken(int token)
    {
        Prlog(3, FormattableString.Invariant($"OPAL: Called with bad token {token} !"));
        return Parameter;
    }

    // ---- console -----------------------------------------------------------------------------------

    private uint _outPos;

    private void InitMemcons()
    {
        _outPos = 0;
        var m = new byte[40];
        BinaryPrimitives.WriteUInt64BigEndian(m, MemconsMagic);
        BinaryPrimitives.WriteUInt64BigEndian(m.AsSpan(8), SkibootBase + InmemConOffset);
        BinaryPrimitives.WriteUInt64BigEndian(m.AsSpan(16), SkibootBase + InmemConOffset + InmemConLength - InmemConInLength);
        BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(24), (uint)(InmemConLength - InmemConInLength));
        BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(28), (uint)InmemConInLength);
        _machine.Memory.Write(SkibootBase + MemconsOffset, m);
    }

    /// <summary>prlog: "[timebase seconds,level] text" into the memcons output buffer (wrapping) and <see cref="Log"/>.</summary>
    private void Prlog(int level, string text)
    {
        var t = _machine.Clock.Now - _iplAt;
        long ns = (long)(t.Ticks * 100);
        string line = string.Create(CultureInfo.InvariantCulture, $"[{ns / 1_000_000_000,5}.{ns % 1_000_000_000:D9},{level}] {text}");
        Log.Add(line);
        var bytes = Encoding.ASCII.GetBytes(line + "\n");
        uint size = (uint)(InmemConLength - InmemConInLength);
        uint pos = _outPos & 0x00ffffff;
        bool wrapped = (_outPos & MemconsWrap) != 0;
        int done = 0;
        while (done < bytes.Length)
        {
            int n = (int)Math.Min(size - pos, (uint)(bytes.Length - done));
            _machine.Memory.Write(SkibootBase + InmemConOffset + pos, bytes.AsSpan(done, n));
            done += n;
            pos += (uint)n;
            if (pos == size)
            {
                pos = 0;
                wrapped = true;
            }
        }

        _outPos = pos | (wrapped ? MemconsWrap : 0);
        var p = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(p, _outPos);
        _machine.Memory.Write(SkibootBase + MemconsOffset + 32, p);
    }

    private ulong ReadBe64(ulong a)
    {
        Span<byte> b = stackalloc byte[8];
        _machine.Memory.Read(a, b);
        return BinaryPrimitives.ReadUInt64BigEndian(b);
    }

    private uint ReadBe32(ulong a)
    {
        Span<byte> b = stackalloc byte[4];
        _machine.Memory.Read(a, b);
        return BinaryPrimitives.ReadUInt32BigEndian(b);
    }

    private void WriteBe64(ulong a, ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, v);
        _machine.Memory.Write(a, b);
    }

    private void WriteBe32(ulong a, uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        _machine.Memory.Write(a, b);
    }
}

/// <summary>
/// struct opal_mpipl_fadump (big-endian): u8 version = 1 @0, u8[7], be32 crashing_pir @8, be32 cpu_data_version
/// @12, be32 cpu_data_size @16, be32 region_cnt @20, then region_cnt × {be64 src, be64 dest, be64 size} @24.
/// </summary>
public static class MpiplFadump
{
    public const int HeaderSize = 24;
    public const int RegionSize = 24;

    public static byte[] Encode(uint crashingPir, uint cpuDataVersion, uint cpuDataSize, IReadOnlyList<(ulong Src, ulong Dest, ulong Size)> regions)
    {
        var b = new byte[HeaderSize + (regions.Count * RegionSize)];
        b[0] = 1;
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), crashingPir);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(12), cpuDataVersion);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(16), cpuDataSize);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(20), (uint)regions.Count);
        for (int i = 0; i < regions.Count; i++)
        {
            var s = b.AsSpan(HeaderSize + (i * RegionSize));
            BinaryPrimitives.WriteUInt64BigEndian(s, regions[i].Src);
            BinaryPrimitives.WriteUInt64BigEndian(s[8..], regions[i].Dest);
            BinaryPrimitives.WriteUInt64BigEndian(s[16..], regions[i].Size);
        }

        return b;
    }
}
