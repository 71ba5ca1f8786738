using System.Globalization;
using Fadump.Firmware.Rtas;
using Fadump.Kernel.Arch.Ppc64;
using Fadump.Kernel.CommandLine;
using Fadump.Kernel.Fadump.Rtas;
using Fadump.Kernel.Sysfs;
using Fadump.Machine;

namespace Fadump.Kernel.Phyp;

/// <summary>One write to /sys/kernel/release_region and what it gave back, on the machine's clock.</summary>
public sealed record PhypRelease(TimeSpan At, ulong Address, ulong Length, ulong FreedBytes, ulong FreeAfter);

/// <summary>
/// Hypervisor-assisted dump as Linux 2.6.25 – 3.x had it (arch/powerpc/platforms/pseries/phyp_dump.c,
/// asm/phyp_dump.h, and phyp_dump_reserve_mem in kernel/prom.c; shared/spec/phyp-dump-and-opal.md part A):
/// opt-in with phyp_dump=1, a scratch area at the top of DRAM held for the firmware's copy of the low
/// 256 MiB, registration through ibm,configure-kernel-dump; after a crash the second kernel runs in the low
/// region R, holds everything above it, builds no ELF header and lets userspace read the raw memory and give
/// it back range by range through /sys/kernel/release_region. Quirks of the old code are kept and marked.
/// </summary>
public sealed class PhypDump : ICrashDumpMechanism
{
    /// <summary>PHYP_DUMP_RMR_END: the RMO section always copies the low 256 MiB.</summary>
    public const ulong RmrEnd = 1UL << 28;

    public const uint HeaderVersion = 1;
    public const uint RequestFlag = 0x1;
    public const ushort SourceCpu = 0x0001;
    public const ushort SourceHpte = 0x0002;
    public const ushort SourceRmo = 0x0011;
    public const ushort ErrorFlag = 0x2000;

    /// <summary>struct phyp_dump_header: the 40-byte header and three 40-byte sections.</summary>
    public const int HeaderSize = FadumpStructure.HeaderSize + (3 * FadumpStructure.SectionSize);

    public const string ReleaseRegionPath = "/sys/kernel/release_region";
    public const string DumpActivePath = "/sys/kernel/phyp_dump_active";

    /// <summary>What a page the running kernel took back holds once it is used (the simulation's marker).</summary>
    public static ReadOnlySpan<byte> ReuseMarker => "page reused by the running kernel after release_region"u8;

    private readonly LinuxKernel _kernel;
    private readonly RtasFirmware _rtas;
    private readonly List<string> _messages = [];
    private readonly List<PhypRelease> _releases = [];
    private FadumpStructure _phdr = new();
    private ulong _reservedAreaReleased; // track_freed_range's static reserved_area_size
    private ulong _scratchAreaReleased;  // and scratch_area_size
    private bool _activeFile;
    private bool _releaseFile;

    public PhypDump(LinuxKernel kernel, RtasFirmware rtas)
    {
        _kernel = kernel;
        _rtas = rtas;
    }

    // struct phyp_dump
    public bool Configured { get; private set; }

    public bool DumpIsActive { get; private set; }

    public bool AtBoot { get; private set; }

    public ulong CpuStateSize { get; private set; }

    public ulong HpteRegionSize { get; private set; }

    public ulong ReserveBootvar { get; private set; }

    public ulong InitReserveStart { get; private set; }

    public ulong InitReserveSize { get; private set; }

    public ulong ReservedScratchAddr { get; private set; }

    public ulong ReservedScratchSize { get; private set; }

    /// <summary>The boot region R (phyp_dump_calculate_reserve_size), once computed.</summary>
    public ulong BootRegionSize { get; private set; }

    /// <summary>The registration succeeded (and no dump was taken since).</summary>
    public bool Registered { get; private set; }

    /// <summary>The firmware's header of the dump this kernel found (/rtas/ibm,kernel-dump), if any.</summary>
    public FadumpStructure? FirmwareHeader { get; private set; }

    /// <summary>Every write to release_region, in order.</summary>
    public IReadOnlyList<PhypRelease> Releases => _releases;

    /// <summary>The kernel invalidated the dump and registered again after everything was released.</summary>
    public bool Reregistered { get; private set; }

    private SimulatedMachine Machine => _kernel.Machine;

    private ulong Page => (ulong)_kernel.Arch.PageSize;

    /// <summary>Where the static phdr lives: .bss in low memory, as the RTAS argument must be.</summary>
    public static ulong HeaderAddress => Ppc64Arch.FadumpRegistrationOffset;

    public bool HoldsDumpMemory => InitReserveSize != 0;

    public bool IsCaptureKernel => InitReserveSize != 0 && DumpIsActive;

    public ulong? BootMemoryLimit => IsCaptureKernel ? BootRegionSize : null;

    public IEnumerable<MemoryRange> ReservedAreas =>
        InitReserveSize != 0 && !DumpIsActive ? [new MemoryRange(InitReserveStart, InitReserveSize)] : [];

    public bool Armed => Registered;

    public bool Present => Configured;

    public IEnumerable<string> Messages => _messages;

    /// <summary>
    /// early_init_dt_scan_phyp_dump, the early_params and phyp_dump_reserve_mem: detection, then the second
    /// kernel's hold on everything above R or the first kernel's scratch area at the top of DRAM.
    /// </summary>
    public void EarlyReserve()
    {
        ParseCommandLine(_kernel.CommandLine);
        var rtasNode = Machine.DeviceTree.Find("/rtas");
        Configured = rtasNode?.Get("ibm,configure-kernel-dump") is not null;
        DumpIsActive = rtasNode?.Get("ibm,dump-kernel") is not null;
        if (rtasNode?.Get("ibm,configure-kernel-dump-sizes") is { } sizes)
        {
            // sizes[0] == 1: the CPU state size follows; sizes[3] == 2: the HPTE size. Nothing else is looked at.
            var c = DeviceTreeNode.Cells(sizes);
            if (c.Length >= 3 && c[0] == 1)
            {
                CpuStateSize = ((ulong)c[1] << 32) | c[2];
            }

            if (c.Length >= 6 && c[3] == 2)
            {
                HpteRegionSize = ((ulong)c[4] << 32) | c[5];
            }
        }

        if (!Configured)
        {
            Early("Phyp-dump not supported on this hardware");
            return;
        }

        if (!AtBoot)
        {
            Early("Phyp-dump disabled at boot time");
            return;
        }

        ulong endOfDram = _kernel.Memory[^1].End; // lmb_end_of_DRAM: holes do not count
        BootRegionSize = CalculateReserveSize(endOfDram, ReserveBootvar);
        if (DumpIsActive)
        {
            // Reserve *everything* above R; userland frees it as the dump is saved.
            InitReserveStart = BootRegionSize;
            InitReserveSize = endOfDram - BootRegionSize;
        }
        else
        {
            InitReserveSize = CpuStateSize + HpteRegionSize + BootRegionSize;
            InitReserveStart = endOfDram - InitReserveSize;
        }

        _kernel.Memblock.Reserve(new MemoryRange(InitReserveStart, InitReserveSize));
    }

    /// <summary>
    /// phyp_dump_calculate_reserve_size: phyp_dump_reserve_size= if given, else 5 % of the end of DRAM rounded
    /// down to 256 MiB, at least 256 MiB.
    /// </summary>
    public static ulong CalculateReserveSize(ulong endOfDram, ulong reserveBootvar)
    {
        if (reserveBootvar != 0)
        {
            return reserveBootvar;
        }

        ulong tmp = (endOfDram / 20) & ~0x0FFFFFFFUL;
        return tmp > RmrEnd ? tmp : RmrEnd;
    }

    /// <summary>Validates that <see cref="EarlyReserve"/> can lay out the reservation on this much DRAM (the old code would underflow).</summary>
    public static string? CheckFits(ulong endOfDram, ulong reserveBootvar, ulong cpuStateSize, ulong hpteSize)
    {
        ulong r = CalculateReserveSize(endOfDram, reserveBootvar);
        return r + cpuStateSize + hpteSize >= endOfDram
            ? FormattableString.Invariant($"phyp dump needs more memory than the boot region of {r >> 20}M and the scratch area for it: the 2.6 kernel's arithmetic would wrap on 0x{endOfDram:x} bytes of DRAM")
            : null;
    }

    /// <summary>early_param("phyp_dump"), each seen in order, and early_param("phyp_dump_reserve_size").</summary>
    private void ParseCommandLine(KernelCommandLine cmdline)
    {
        foreach (var w in cmdline.Words)
        {
            if (w == "phyp_dump")
            {
                AtBoot = true; // early_phyp_dump_enabled(NULL)
            }
            else if (w.StartsWith("phyp_dump=", StringComparison.Ordinal))
            {
                string p = w["phyp_dump=".Length..];
                AtBoot = true;
                if (p.StartsWith('1'))
                {
                    AtBoot = true;
                }
                else if (p.StartsWith('0'))
                {
                    AtBoot = false;
                }
            }
        }

        ReserveBootvar = ReserveSizeParameter(cmdline);
    }

    /// <summary>early_param("phyp_dump_reserve_size"): the last one given, memparse'd; 0 when there is none.</summary>
    public static ulong ReserveSizeParameter(KernelCommandLine cmdline)
    {
        ArgumentNullException.ThrowIfNull(cmdline);
        const string Key = "phyp_dump_reserve_size=";
        ulong value = 0;
        foreach (var w in cmdline.Words.Where(w => w.StartsWith(Key, StringComparison.Ordinal)))
        {
            value = MemParse.Parse(w, Key.Length).Value;
        }

        return value;
    }

    public void ClearStaticData() => Machine.Memory.Clear(HeaderAddress, (ulong)HeaderSize);

    /// <summary>phyp_dump_setup (machine_subsys_initcall).</summary>
    public void LateInit()
    {
        if (InitReserveSize == 0 || !Configured)
        {
            return;
        }

        var dumpHeader = Machine.DeviceTree.Find("/rtas")?.Get("ibm,kernel-dump") is { } raw ? FadumpStructure.Decode(raw) : null;
        InitDumpHeader();
        ulong dumpAreaStart = InitReserveStart & ~(Page - 1);
        if (dumpHeader is null)
        {
            RegisterDumpArea(dumpAreaStart);
            return;
        }

        FirmwareHeader = dumpHeader;
        if ((dumpHeader.StatusFlags & ErrorFlag) != 0)
        {
            // (quirk) The new area is registered at R, inside the memory this kernel holds above R, and no
            // release_region is created: that memory stays reserved until the next reboot.
            InvalidateLastDump(dumpAreaStart);
            RegisterDumpArea(dumpAreaStart);
            return;
        }

        if (dumpHeader.Sections.Count >= 3)
        {
            ReservedScratchAddr = dumpHeader.Sections[0].DestinationAddress;
            ReservedScratchSize = dumpHeader.Sections[0].SourceLength + dumpHeader.Sections[1].SourceLength + dumpHeader.Sections[2].SourceLength;
        }

        _releaseFile = true;
    }

    /// <summary>init_dump_header: the three sections at offsets 0, cpu and cpu + hpte of a destination not yet known.</summary>
    private void InitDumpHeader()
    {
        _phdr = new FadumpStructure { Version = HeaderVersion, StatusFlags = 0, FirstSectionOffset = FadumpStructure.HeaderSize };
        _phdr.Sections.Add(new FadumpSection { RequestFlag = RequestFlag, Type = SourceCpu, SourceAddress = 0, SourceLength = CpuStateSize, DestinationAddress = 0 });
        _phdr.Sections.Add(new FadumpSection { RequestFlag = RequestFlag, Type = SourceHpte, SourceAddress = 0, SourceLength = HpteRegionSize, DestinationAddress = CpuStateSize });
        _phdr.Sections.Add(new FadumpSection { RequestFlag = RequestFlag, Type = SourceRmo, SourceAddress = 0, SourceLength = RmrEnd, DestinationAddress = CpuStateSize + HpteRegionSize });
    }

    /// <summary>Adds the area's address to the sections the first time (the "if not initialized before" of both calls).</summary>
    private void Relocate(ulong addr)
    {
        if (_phdr.Sections[0].DestinationAddress == 0)
        {
            foreach (var s in _phdr.Sections)
            {
                s.DestinationAddress += addr;
            }
        }
    }

    /// <summary>register_dump_area: cmd 1, retried while busy; on success /sys/kernel/phyp_dump_active.</summary>
    private void RegisterDumpArea(ulong addr)
    {
        Relocate(addr);
        int rc = Call(RtasFirmware.CmdRegister);
        if (rc != 0)
        {
            Log(3, FormattableString.Invariant($"phyp-dump: unexpected error ({rc}) on register"));
            return;
        }

        Registered = true;
        if (_activeFile)
        {
            Log(3, FormattableString.Invariant($"phyp-dump: unable to create sysfs file ({-(int)Errno.EEXIST})"));
            return;
        }

        _activeFile = true;
        _kernel.Files.Add(ActiveFile());
    }

    /// <summary>invalidate_last_dump: cmd 2 (this interface's "invalidate"), retried while busy.</summary>
    private void InvalidateLastDump(ulong addr)
    {
        Relocate(addr);
        int rc = Call(Power6Firmware.CmdInvalidatePhyp);
        if (rc != 0)
        {
            Log(3, FormattableString.Invariant($"phyp-dump: unexpected error ({rc}) on invalidate"));
        }
    }

    /// <summary>rtas_call(ibm_configure_kernel_dump, 3, 1, NULL, cmd, &amp;phdr, sizeof phdr) in a rtas_busy_delay loop.</summary>
    private int Call(int command)
    {
        Machine.Memory.Write(HeaderAddress, _phdr.Encode());
        return RtasBusy.Call(Machine, () => _rtas.ConfigureKernelDump(command, HeaderAddress, (ulong)HeaderSize));
    }

    public void AddFiles(KernelFileSystem files)
    {
        if (_activeFile)
        {
            files.Add(ActiveFile());
        }

        if (_releaseFile)
        {
            files.Add(new VirtualFile { Path = ReleaseRegionPath, Mode = 0600, Read = ShowReleaseRegion, Write = StoreReleaseRegion });
        }
    }

    private VirtualFile ActiveFile() =>
        new() { Path = DumpActivePath, Mode = 0600, Read = () => (AtBoot ? "1" : "0") + "\n" }; // "%lx\n" of phyp_dump_at_boot

    /// <summary>
    /// show_release_region. (quirk) It prints this kernel's own phdr, which init_dump_header set up at boot with
    /// the section offsets (0, cpu, cpu + hpte) and no length copied: the CPU, HPTE and DUMP pairs never name the
    /// copies the firmware made (those are in /proc/device-tree/rtas/ibm,kernel-dump). The seed document's
    /// example shows real addresses, from an earlier version of the patch. The last pair is right: the reserved
    /// start and the reserved size less the scratch area.
    /// </summary>
    private string ShowReleaseRegion()
    {
        var c = _phdr.Sections[0];
        var h = _phdr.Sections[1];
        var k = _phdr.Sections[2];
        ulong second = InitReserveSize - ReservedScratchSize;
        return string.Create(CultureInfo.InvariantCulture,
            $"CPU:0x{c.DestinationAddress:x}-0x{c.BytesDumped:x}: HPTE:0x{h.DestinationAddress:x}-0x{h.BytesDumped:x}: DUMP:0x{k.DestinationAddress:x}-0x{k.BytesDumped:x}, 0x{InitReserveStart:x}-0x{second:x}:\n");
    }

    /// <summary>store_release_region: "%lx %lx", then track_freed_range, the range check and release_memory_range.</summary>
    private Errno StoreReleaseRegion(string text)
    {
        if (!TryScanHexPair(text, out ulong start, out ulong length))
        {
            return Errno.EINVAL;
        }

        TrackFreedRange(start, length);

        // (quirk) A start below the reservation is raised to it without shortening the length.
        if (start < InitReserveStart)
        {
            start = InitReserveStart;
        }

        ulong end = InitReserveStart + InitReserveSize;
        if (start + length > end)
        {
            // (quirk) A start beyond the end makes this wrap; the real loop then walks struct pages past the
            // memory map. Here nothing beyond the reservation is freed.
            length = start < end ? end - start : 0;
        }

        ulong freed = ReleaseMemoryRange(start / Page, length / Page);
        _releases.Add(new PhypRelease(Machine.Clock.Now, start, length, freed, _kernel.AvailableMemory()));
        return Errno.None;
    }

    /// <summary>
    /// release_memory_range: ClearPageReserved and __free_page for each reserved page of
    /// [start_pfn, start_pfn + nr_pages]. (quirk) The loop's "&lt;=" frees one page more than asked, and no
    /// alignment is checked. The pages go back to the running kernel, which soon uses them.
    /// </summary>
    private ulong ReleaseMemoryRange(ulong startPfn, ulong nrPages)
    {
        ulong top = _kernel.Memory[^1].End;
        ulong a = startPfn * Page;
        if (a >= top)
        {
            return 0;
        }

        ulong b = Math.Min(top, (startPfn + nrPages + 1) * Page);
        var range = MemoryRange.FromBounds(a, b);
        ulong freed = _kernel.Memblock.Unreserve(range);
        if (freed > 0)
        {
            Machine.Clock.Advance(Machine.Cost.Release(freed));
            MarkReused(range);
        }

        return freed;
    }

    /// <summary>
    /// The running kernel allocates the first and the last page it got back (page cache, slab): their old contents
    /// are gone. The marker goes at the start and at the end of each, so that any byte range of those pages a
    /// tool had not saved yet shows it.
    /// </summary>
    private void MarkReused(MemoryRange range)
    {
        ulong m = (ulong)ReuseMarker.Length;
        foreach (ulong page in new[] { range.Start, range.End - Page })
        {
            foreach (ulong at in new[] { page, page + Page - m })
            {
                if (Machine.Memory.IsRam(at, m))
                {
                    Machine.Memory.Write(at, ReuseMarker);
                }
            }
        }
    }

    /// <summary>
    /// track_freed_range: counts what was asked for (not what was freed); when the reserved and the scratch counts
    /// both equal their sizes exactly, invalidate and register again. (quirk) The new registration uses the old
    /// scratch address, whose pages are back in use by now: the next crash's copy overwrites them.
    /// </summary>
    private void TrackFreedRange(ulong addr, ulong length)
    {
        if (addr < InitReserveStart)
        {
            return;
        }

        if (addr >= InitReserveStart && addr <= InitReserveStart + InitReserveSize)
        {
            _reservedAreaReleased += length;
        }

        if (addr >= ReservedScratchAddr && addr <= ReservedScratchAddr + ReservedScratchSize)
        {
            _scratchAreaReleased += length;
        }

        if (_reservedAreaReleased == InitReserveSize && _scratchAreaReleased == ReservedScratchSize)
        {
            InvalidateLastDump(ReservedScratchAddr);
            RegisterDumpArea(ReservedScratchAddr);
            Reregistered = Registered;
        }
    }

    /// <summary>sscanf(buf, "%lx %lx"): two hex numbers (optional 0x), separated by white space; what follows is ignored.</summary>
    internal static bool TryScanHexPair(string text, out ulong first, out ulong second)
    {
        int i = 0;
        second = 0;
        return ScanHex(text, ref i, out first) && ScanHex(text, ref i, out second);
    }

    private static bool ScanHex(string s, ref int i, out ulong value)
    {
        value = 0;
        while (i < s.Length && char.IsWhiteSpace(s[i]))
        {
            i++;
        }

        if (i + 1 < s.Length && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') && i + 2 < s.Length && Uri.IsHexDigit(s[i + 2]))
        {
            i += 2;
        }

        int start = i;
        while (i < s.Length && Uri.IsHexDigit(s[i]))
        {
            value = unchecked((value << 4) | (uint)Uri.FromHex(s[i])); // simple_strtoul: no overflow check
            i++;
        }

        return i > start;
    }

    /// <summary>Nothing to do on a reboot: the old code neither unregistered nor invalidated at shutdown.</summary>
    public void Shutdown()
    {
    }

    /// <summary>No hook of its own: panic() calls ppc_md.panic (rtas_os_term), and ibm,os-term makes PHYP take the dump.</summary>
    public bool OnPanic(int crashingCpu, string message)
    {
        _kernel.SaveCrashTime();
        bool reset = _rtas.OsTerm(message);
        if (reset)
        {
            Registered = false;
        }

        return reset;
    }

    public CrashDumpStatus Status => new()
    {
        Supported = Configured,
        Armed = Registered,
        ReservedBytes = InitReserveSize,
        FirmwareCopyBytes = RmrEnd,
        DumpActive = _releaseFile,
        CaptureKernelMemory = IsCaptureKernel ? BootRegionSize : 0,
        Released = _releases.Count > 0,
        ReleasedBytes = _releases.Aggregate(0UL, (s, r) => s + r.FreedBytes),
        CaptureLog = [.. _messages],
        FirstKernelRegions = FirstKernelRegions(),
        CaptureKernelRegions = CaptureKernelRegions(),
    };

    private List<DumpRegion> FirstKernelRegions()
    {
        if (InitReserveSize == 0 || DumpIsActive)
        {
            return [];
        }

        ulong cpu = InitReserveStart, hpte = cpu + CpuStateSize, dump = hpte + HpteRegionSize;
        var bands = new List<DumpRegion> { new(0, RmrEnd, "RMO (copied at a crash)", DumpRegionKind.BootMemory) };
        bands.Add(new DumpRegion(cpu, dump, "CPU+HPTE", DumpRegionKind.Metadata));
        bands.Add(new DumpRegion(dump, dump + RmrEnd, "RMO copy", DumpRegionKind.DumpData));
        if (BootRegionSize > RmrEnd)
        {
            bands.Add(new DumpRegion(dump + RmrEnd, InitReserveStart + InitReserveSize, "scratch never used", DumpRegionKind.DumpData));
        }

        return bands;
    }

    private List<DumpRegion> CaptureKernelRegions()
    {
        if (!IsCaptureKernel || FirmwareHeader is not { Sections.Count: >= 3 } h)
        {
            return [];
        }

        ulong cpu = h.Sections[0].DestinationAddress, copy = h.Sections[2].DestinationAddress;
        var bands = new List<DumpRegion>();
        if (BootRegionSize > RmrEnd)
        {
            // (quirk) Only the low 256 MiB was copied: the crashed kernel's memory in the rest of R is gone.
            bands.Add(new DumpRegion(0, RmrEnd, "capture kernel (old contents copied)", DumpRegionKind.BootMemory));
            bands.Add(new DumpRegion(RmrEnd, BootRegionSize, "capture kernel (old contents lost)", DumpRegionKind.BootMemory));
        }
        else
        {
            bands.Add(new DumpRegion(0, BootRegionSize, "capture kernel", DumpRegionKind.BootMemory));
        }

        ulong heldEnd = Math.Min(cpu, InitReserveStart + InitReserveSize);
        if (InitReserveStart < heldEnd)
        {
            bands.Add(new DumpRegion(InitReserveStart, heldEnd, "held: crashed kernel's memory", DumpRegionKind.DumpData));
        }

        bands.Add(new DumpRegion(cpu, copy, "CPU+HPTE", DumpRegionKind.Metadata));
        bands.Add(new DumpRegion(copy, copy + h.Sections[2].BytesDumped, "RMO copy", DumpRegionKind.DumpData));
        return bands;
    }

    private void Early(string line)
    {
        _messages.Add(line);
        _kernel.EarlyPrintk(line);
    }

    private void Log(int level, string line)
    {
        _messages.Add(line);
        _kernel.Printk(line, level);
    }
}
