using Fadump.Kernel.Arch.Ppc64;
using Fadump.Kernel.CommandLine;
using Fadump.Kernel.Mm;
using Fadump.Kernel.Sysfs;
using Fadump.Machine;

namespace Fadump.Kernel.Fadump;

/// <summary>
/// Firmware-assisted dump as every platform has it (arch/powerpc/kernel/fadump.c): the reservation, the crash
/// info header, registration, the panic path, the capture kernel's processing into /proc/vmcore, the sysfs
/// files and the release of the dump's memory. What the firmware interface does is behind <see cref="IFadumpOps"/>.
/// </summary>
public sealed partial class FadumpCore : ICrashDumpMechanism
{
    /// <summary>CMA areas are aligned to the pageblock (16 MiB with 64 KiB pages).</summary>
    public const ulong CmaMinAlign = 16UL << 20;

    /// <summary>The param area for bootargs_append.</summary>
    public const ulong ParamAreaSize = 2048;

    private readonly IFadumpOps _ops;
    private bool _filesAtInit;

    public FadumpCore(LinuxKernel kernel, IFadumpOps ops)
    {
        Kernel = kernel;
        _ops = ops;
    }

    /// <summary>The kernel this FADump runs in.</summary>
    public LinuxKernel Kernel { get; }

    public SimulatedMachine Machine => Kernel.Machine;

    /// <summary>fw_dump.</summary>
    public FwDump Dump { get; } = new();

    /// <summary>The crash info header as the first kernel keeps it in the reserved area.</summary>
    public CrashInfoHeader? Header { get; private set; }

    /// <summary>Log lines of the capture kernel's dump processing (errors explain a missing /proc/vmcore).</summary>
    public List<string> VmcoreLog { get; } = [];

    private ulong Page => (ulong)Kernel.Arch.PageSize;

    /// <summary>The kernel's FADump messages so far (pr_fmt "fadump: " and the platform's, and crashkernel='s), in order.</summary>
    public IEnumerable<string> Messages => Kernel.Log.Lines
        .Select(Structures.KernelLogLines.WithoutTimestamp)
        .Where(l => l.StartsWith("fadump: ", StringComparison.Ordinal) || l.StartsWith(_ops.LogPrefix, StringComparison.Ordinal)
            || l.Contains("for crashkernel", StringComparison.Ordinal) || l.StartsWith("crashkernel", StringComparison.Ordinal));

    public bool HoldsDumpMemory => Dump.DumpActive || Dump.ReserveSize != 0;

    public bool IsCaptureKernel => Dump.DumpActive;

    public ulong? BootMemoryLimit => Dump.DumpActive ? Dump.BootMemTop : null;

    public IEnumerable<MemoryRange> ReservedAreas =>
        Dump.ReserveSize > 0 ? [new MemoryRange(Dump.ReserveStart, Ranges.AlignUp(Dump.ReserveSize, Page))] : [];

    public bool Armed => Dump.Registered;

    public bool Present => Dump.Supported;

    /// <summary>Early boot (early_init_dt_scan_fw_dump, fadump_reserve_mem): detection, then the capture kernel's or the first kernel's reservation.</summary>
    public void EarlyReserve()
    {
        byte[]? active = _ops.DtScan(this);
        var mode = Kernel.CommandLine.Fadump;
        Dump.Enabled = Dump.Supported && mode is FadumpMode.On or FadumpMode.NoCma;
        Dump.NoCma = mode == FadumpMode.NoCma;
        if (!Dump.Supported && mode is FadumpMode.On or FadumpMode.NoCma)
        {
            Kernel.EarlyPrintk("fadump: Firmware-Assisted Dump is not supported on this hardware");
        }

        if (Dump.Supported && active is not null)
        {
            Dump.DumpActive = true;
            Dump.Enabled = true;
            EarlyCaptureReserve(active);
        }
        else if (Dump.Enabled)
        {
            ReserveBootMemory();
        }
    }

    /// <summary>fadump_reserve_mem for the first kernel: size, regions, reserved area placement.</summary>
    private void ReserveBootMemory()
    {
        var platform = _ops.Limits;
        var size = BootMemory.CalculateSize(Kernel.CommandLine, Kernel.SystemRam, Kernel.MemLimit, platform);
        foreach (var line in size.Log)
        {
            Kernel.EarlyPrintk(line);
        }

        if (size.Error is not null)
        {
            ReserveFailed();
            return;
        }

        Dump.BootMemorySize = size.Size;
        var regions = BootMemory.Regions(Kernel.Memory, size.Size, platform);
        if (regions is null)
        {
            Kernel.EarlyPrintk("fadump: Too many holes in boot memory area to enable fadump");
            ReserveFailed();
            return;
        }

        Dump.BootRegions = regions.Value.Regions;
        Dump.BootMemTop = regions.Value.BootMemTop;
        ulong cpuHpte = Ranges.AlignUp(Dump.CpuStateDataSize + Dump.HpteRegionSize, Page);
        ulong total = cpuHpte + Dump.BootMemorySize + CrashInfoHeader.Size + _ops.MetadataSize;
        ulong? start = Kernel.Memblock.FindFreeBottomUp(Dump.BootMemTop, total, Kernel.MemLimit ?? Machine.Memory.Top);
        if (start is null)
        {
            Kernel.EarlyPrintk("fadump: Failed to find memory chunk for reservation!");
            ReserveFailed();
            return;
        }

        Dump.ReserveStart = start.Value;
        Dump.ReserveSize = total;
        Dump.BootMemDestAddr = start.Value + cpuHpte;
        if (_ops.SetupMetadata(this) < 0)
        {
            ReserveFailed();
            return;
        }

        Dump.ParamArea = _ops.ParamAreaSupported ? Ppc64Arch.FadumpParamAreaOffset : 0;
        Dump.HeaderAddress = _ops.InitMemStruct(this);
        Kernel.Memblock.Reserve(new MemoryRange(start.Value, Ranges.AlignUp(total, Page)));
        Kernel.EarlyPrintk(FormattableString.Invariant($"fadump: Reserved {total >> 20}MB of memory at {CFormat.Hex016(start.Value)} (System RAM: {Kernel.SystemRam >> 20}MB)"));
    }

    /// <summary>fadump_reserve_mem's error_out: FADump disabled, nothing reserved, no boot regions.</summary>
    private void ReserveFailed()
    {
        Dump.Enabled = false;
        Dump.ReserveSize = 0;
        Dump.ReserveStart = 0;
        Dump.BootRegions = [];
        Dump.BootMemTop = 0;
        Dump.BootMemorySize = 0;
    }

    /// <summary>A message from FADump code that runs both in early boot (before printk's buffer) and later.</summary>
    internal void Say(string line, int level = 6)
    {
        if (Kernel.LogReady)
        {
            Kernel.Printk(line, level);
        }
        else
        {
            Kernel.EarlyPrintk(line);
        }
    }

    /// <summary>The param area and the registration structure are static data: zero at boot (bss).</summary>
    public void ClearStaticData() =>
        Machine.Memory.Clear(Ppc64Arch.FadumpParamAreaOffset, Ppc64Arch.FadumpRegistrationOffset + 0x1000 - Ppc64Arch.FadumpParamAreaOffset);

    /// <summary>setup_fadump: the capture kernel processes the dump; the first kernel writes the header, sets up CMA and registers.</summary>
    public void LateInit()
    {
        // setup_fadump creates the sysfs files before it registers: a registration that then finds the support
        // gone (OPAL_HARDWARE) still leaves them, reading enabled 0.
        _filesAtInit = Dump.Supported;
        if (Dump.DumpActive)
        {
            ProcessDump();
        }
        else if (Dump.Enabled && Dump.ReserveSize > 0)
        {
            InitCrashInfoHeader();
            CmaInit();
            Register(); // a failure is logged; the files report it (registered reads 0)
        }
    }

    private void InitCrashInfoHeader()
    {
        Header = new CrashInfoHeader
        {
            VmcoreInfoAddress = Relocate(Kernel.VmcoreInfoNotePhys),
            VmcoreInfoSize = Structures.KernelVmcoreInfo.NoteSize,
        };

        // cpu_mask = possible CPUs at registration: a firmware-terminated LPAR still yields every CPU.
        foreach (var c in Machine.Cpus)
        {
            Header.SetCpu(c.Id);
        }

        WriteHeader();
    }

    internal void WriteHeader() => Machine.Memory.Write(Dump.HeaderAddress, Header!.Encode(Kernel.Arch.BigEndian));

    /// <summary>fadump_relocate: an address in boot region i moves to where the firmware copies it.</summary>
    public ulong Relocate(ulong pa)
    {
        ulong dest = Dump.BootMemDestAddr, hole = 0, last = 0;
        foreach (var r in Dump.BootRegions)
        {
            hole += r.Start - last;
            if (r.Contains(pa))
            {
                return pa + dest - hole;
            }

            last = r.End;
        }

        return pa;
    }

    /// <summary>fadump_cma_init: the boot memory copy's area serves movable allocations until a crash.</summary>
    private void CmaInit()
    {
        if (Dump.NoCma)
        {
            return;
        }

        ulong start = Ranges.AlignUp(Dump.ReserveStart, CmaMinAlign);
        ulong end = (Dump.ReserveStart + Dump.BootMemorySize) & ~(CmaMinAlign - 1);
        if (end <= start)
        {
            Kernel.Printk("fadump: Too less memory to give to CMA");
            return;
        }

        Dump.Cma = MemoryRange.FromBounds(start, end);
        Kernel.Image?.SetMovableOnly(Dump.Cma.Value);
        Kernel.Printk(FormattableString.Invariant($"fadump: Initialized [0x{start:x}, {(end - start) >> 20}MB] cma area from [0x{Dump.ReserveStart:x}, {Dump.BootMemorySize >> 20}MB] for firmware-assisted dump"));
    }

    /// <summary>register_fadump. Returns 0 or a negative errno.</summary>
    private int Register()
    {
        if (!Dump.Enabled || Dump.ReserveSize == 0)
        {
            return -(int)Errno.ENODEV;
        }

        return _ops.Register(this);
    }

    /// <summary>is_fadump_reserved_mem_contig: the reserved area is RAM throughout.</summary>
    public bool IsReservedAreaContiguous() => Machine.Memory.IsRam(Dump.ReserveStart, Dump.ReserveSize);

    /// <summary>crash_fadump then fadump_trigger: header crashing_cpu, the crashing CPU's pt_regs, online CPUs, CRASHTIME.</summary>
    public bool OnPanic(int crashingCpu, string message)
    {
        var h = Header!;
        h.CrashingCpu = (uint)crashingCpu;
        var c = Machine.Cpus[crashingCpu];
        for (int i = 0; i < 32; i++)
        {
            h.Regs[i] = c.Gpr[i];
        }

        h.Regs[CrashInfoHeader.RegNip] = c.Nip;
        h.Regs[CrashInfoHeader.RegMsr] = c.Msr;
        h.Regs[CrashInfoHeader.RegOrigGpr3] = c.Gpr[3];
        h.Regs[CrashInfoHeader.RegCtr] = c.Ctr;
        h.Regs[CrashInfoHeader.RegLink] = c.Lr;
        h.Regs[CrashInfoHeader.RegXer] = c.Xer;
        h.Regs[CrashInfoHeader.RegCcr] = c.Cr;
        h.Regs[CrashInfoHeader.RegSofte] = 1;
        h.Regs[CrashInfoHeader.RegTrap] = c.Trap;
        h.Regs[CrashInfoHeader.RegDar] = c.Dar;
        h.Regs[CrashInfoHeader.RegDsisr] = c.Dsisr;
        Array.Clear(h.CpuMask);
        foreach (var cpu in Machine.Cpus.Where(x => x.Online))
        {
            h.SetCpu(cpu.Id);
        }

        Kernel.SaveCrashTime();
        // crash_fadump stores crashing_cpu, the registers and the CPU mask into the header in place: a header the
        // crash corrupted keeps its corrupted magic and sizes, and the capture kernel says so.
        var enc = h.Encode(Kernel.Arch.BigEndian);
        Machine.Memory.Write(Dump.HeaderAddress + 12, enc.AsSpan(12, 4));
        Machine.Memory.Write(Dump.HeaderAddress + 40, enc.AsSpan(40));
        return _ops.Trigger(this, h, message);
    }

    /// <summary>fadump_cleanup: invalidate an active dump, or unregister, so that the next kernel does not find a stale registration.</summary>
    public void Shutdown()
    {
        if (Dump.DumpActive)
        {
            _ops.Invalidate(this);
            Dump.DumpActive = false;
        }
        else if (Dump.Registered)
        {
            _ops.Unregister(this);
        }

        _ops.Cleanup(this);
    }

    public CrashDumpStatus Status => new()
    {
        Supported = Dump.Supported,
        Armed = Dump.Registered,
        ReservedBytes = Dump.ReserveSize,
        // What the firmware copies: the boot memory regions, which with a hole below boot_mem_top (the kernel's
        // double counting, BootMemory.Regions) add up to less than boot_memory_size.
        FirmwareCopyBytes = Dump.BootRegions.Count > 0 ? Dump.BootRegions.Aggregate(0UL, (s, r) => s + r.Size) : Dump.BootMemorySize,
        DumpActive = Dump.DumpActive,
        // The capture kernel runs in the RAM below boot_mem_top: holes there are not memory.
        CaptureKernelMemory = RamBelow(Dump.BootMemTop).Aggregate(0UL, (s, r) => s + r.Size),
        Released = Dump.Released,
        ReleasedBytes = Dump.ReleasedBytes,
        CaptureLog = [.. VmcoreLog],
        FirstKernelRegions = FirstKernelRegions(),
        CaptureKernelRegions = CaptureKernelRegions(),
    };

    /// <summary>Fig. 1 of the FADump documentation: boot memory, the reserved area's CPU/HPTE data, boot memory copy and header.</summary>
    private List<DumpRegion> FirstKernelRegions()
    {
        var d = Dump;
        var bands = new List<DumpRegion>();
        if (d.ReserveSize == 0)
        {
            return bands;
        }

        foreach (var r in d.BootRegions)
        {
            bands.Add(new DumpRegion(r.Start, r.End, "boot memory", DumpRegionKind.BootMemory));
        }

        bands.Add(new DumpRegion(d.ReserveStart, d.BootMemDestAddr, "CPU+HPTE", DumpRegionKind.Metadata));
        bands.Add(new DumpRegion(d.BootMemDestAddr, d.BootMemDestAddr + d.BootMemorySize, d.Cma is null ? "DUMP (reserved)" : "DUMP (CMA: user pages)", DumpRegionKind.DumpData));
        AddHeaderBands(bands, d);
        return bands;
    }

    /// <summary>Fig. 2: the capture kernel in boot memory, the copy and the header in the reserved area.</summary>
    private List<DumpRegion> CaptureKernelRegions()
    {
        var d = Dump;
        if (!(d.DumpActive || d.Released) || d.ReserveSize == 0)
        {
            return [];
        }

        var bands = RamBelow(d.BootMemTop).Select(r => new DumpRegion(r.Start, r.End, "capture kernel", DumpRegionKind.BootMemory)).ToList();
        bands.Add(new(d.ReserveStart, d.BootMemDestAddr, "CPU+HPTE", DumpRegionKind.Metadata));
        bands.Add(new(d.BootMemDestAddr, d.BootMemDestAddr + d.BootMemorySize, "boot memory copy", DumpRegionKind.DumpData));
        AddHeaderBands(bands, d);
        return bands;
    }

    /// <summary>The RAM ranges below <paramref name="top"/>, cut at it.</summary>
    private IEnumerable<MemoryRange> RamBelow(ulong top) =>
        Kernel.Memory.Where(r => r.Start < top).Select(r => new MemoryRange(r.Start, Math.Min(r.End, top) - r.Start));

    /// <summary>The crash info header, and the platform's metadata after it when it has any (OPAL: TAG_KERNEL's page).</summary>
    private static void AddHeaderBands(List<DumpRegion> bands, FwDump d)
    {
        ulong end = d.ReserveStart + d.ReserveSize;
        if (d.KernelMetadata > d.HeaderAddress && d.KernelMetadata < end)
        {
            bands.Add(new DumpRegion(d.HeaderAddress, d.KernelMetadata, "HDR", DumpRegionKind.Metadata));
            bands.Add(new DumpRegion(d.KernelMetadata, end, "kernel metadata (TAG_KERNEL)", DumpRegionKind.Metadata));
        }
        else
        {
            bands.Add(new DumpRegion(d.HeaderAddress, end, "HDR", DumpRegionKind.Metadata));
        }
    }
}
