using System.Globalization;
using Fadump.Firmware.Rtas;
using Fadump.Kernel.CommandLine;
using Fadump.Kernel.Fadump;
using Fadump.Kernel.Structures;
using Fadump.Kernel.Sysfs;
using Fadump.Kernel.Vmcore;
using Fadump.Kernel.Workload;
using Fadump.Machine;
using Fadump.Kernel.Arch;
using Fadump.Kernel.Arch.Ppc64;
using P = Fadump.Kernel.Arch.Ppc64.Ppc64Arch;

namespace Fadump.Kernel;

/// <summary>
/// The simulated Linux kernel of a pSeries LPAR with FADump (arch/powerpc/kernel/fadump.c,
/// platforms/pseries/rtas-fadump.c, fs/proc/vmcore.c). One instance per boot: the first kernel
/// reserves, registers and crashes; the capture kernel finds the dump in the device tree, exports
/// /proc/vmcore and releases the memory.
/// </summary>
public sealed partial class PseriesKernel
{
    private readonly SimulatedMachine _machine;
    private readonly KernelArch _arch = Ppc64Arch.LittleEndian;
    private readonly RtasFirmware _rtas;
    private readonly KernelMemoryWriter _w;
    private readonly TimeSpan _bootStart;
    private readonly List<string> _early = [];
    private readonly List<MemoryRange> _memblockReserved = [];
    private KernelMemoryImage? _image;

    private PseriesKernel(SimulatedMachine machine, RtasFirmware rtas, KernelOptions options)
    {
        _machine = machine;
        _rtas = rtas;
        Options = options;
        CommandLine = new KernelCommandLine(options.CommandLine);
        _w = new KernelMemoryWriter(machine.Memory, _arch);
        _bootStart = machine.Clock.Now;
        Files = new KernelFileSystem();
    }

    public KernelOptions Options { get; }

    public KernelCommandLine CommandLine { get; private set; }

    public KernelFileSystem Files { get; }

    public PrintkRingBuffer Log { get; private set; } = null!;

    /// <summary>RAM as this kernel sees it (mem= applied).</summary>
    public IReadOnlyList<MemoryRange> Memory { get; private set; } = [];

    public ulong SystemRam { get; private set; }

    public ulong? MemLimit { get; private set; }

    public FwDump Dump { get; } = new();

    /// <summary>Set once the kernel has crashed (nothing runs after that).</summary>
    public bool Crashed { get; private set; }

    /// <summary>The kdump reservation from crashkernel= when FADump could not reserve.</summary>
    public MemoryRange? CrashKernelReservation { get; private set; }

    public IReadOnlyList<MemoryRange> ReservedRanges { get; private set; } = [];

    public KernelMemoryImage? Image => _image;

    /// <summary>Boots a kernel on the machine: the first kernel, or the capture kernel when the device tree says a dump is active.</summary>
    public static PseriesKernel Boot(SimulatedMachine machine, RtasFirmware rtas, KernelOptions options)
    {
        var k = new PseriesKernel(machine, rtas, options);
        k.BootSequence();
        return k;
    }

    private ulong Page => (ulong)_arch.PageSize;

    private TimeSpan Uptime => _machine.Clock.Now - _bootStart;

    /// <summary>printk at level 6 (info) from CPU 0.</summary>
    public void Printk(string line, int level = 6, int cpu = 0)
    {
        _machine.Clock.Advance(TimeSpan.FromMicroseconds(137));
        Log.Log(Uptime, level, cpu, line);
    }

    private void BootSequence()
    {
        var dt = _machine.DeviceTree;
        MemLimit = _arch.MemoryLimit(CommandLine, _machine.Memory.TotalRam);
        Memory = ClipMemory(_machine.Memory.Ram, MemLimit);
        SystemRam = Memory.Aggregate(0UL, (s, r) => s + r.Size);
        ReservedRanges = ReadReservedRanges(dt);
        _memblockReserved.Add(new MemoryRange(0, _arch.Image.ImageSize));
        _memblockReserved.AddRange(ReservedRanges);

        // Early: FADump detection and reservation (fadump_reserve_mem) before anything else allocates.
        var rtasNode = dt.Find("/rtas");
        Dump.Supported = rtasNode?.Get("ibm,configure-kernel-dump") is not null;
        var mode = CommandLine.Fadump;
        Dump.Enabled = Dump.Supported && mode is FadumpMode.On or FadumpMode.NoCma;
        Dump.NoCma = mode == FadumpMode.NoCma;
        if (!Dump.Supported && mode is FadumpMode.On or FadumpMode.NoCma)
        {
            _early.Add("fadump: Firmware-Assisted Dump is not supported on this hardware");
        }

        if (rtasNode?.Get("ibm,configure-kernel-dump-sizes") is { } sizes)
        {
            var cells = DeviceTreeNode.Cells(sizes);
            for (int i = 0; i + 2 < cells.Length; i += 3)
            {
                ulong v = ((ulong)cells[i + 1] << 32) | cells[i + 2];
                if (cells[i] == 1)
                {
                    Dump.CpuStateDataSize = v;
                }
                else if (cells[i] == 2)
                {
                    Dump.HpteRegionSize = v;
                }
            }
        }

        byte[]? active = rtasNode?.Get("ibm,kernel-dump");
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

        if (!Dump.DumpActive && Dump.ReserveSize == 0)
        {
            ReserveCrashKernel();
        }

        // The kernel proper: memory layout, structures, log.
        bool first = !Dump.DumpActive;
        LayoutKernelStructures(first);
        Log = new PrintkRingBuffer(_w, _arch);
        Printk(FormattableString.Invariant($"Linux version {Options.Release} (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) {Options.Version}"));
        Printk("Using pSeries machine description");
        Printk("Page sizes from device-tree:");
        Printk("base_shift=16: shift=16, sllp=0x0110, avpnm=0x00000000, tlbiel=1, penc=1");
        foreach (var line in _early)
        {
            Printk(line);
        }

        Printk(FormattableString.Invariant($"Kernel command line: BOOT_IMAGE=/boot/vmlinux-{Options.Release} {CommandLine.Text}"));
        Printk(FormattableString.Invariant($"Memory: {SystemRam >> 10}K/{SystemRam >> 10}K available"));
        Printk(FormattableString.Invariant($"smp: Brought up 1 node, {_machine.Cpus.Count} CPUs"));
        WriteUtsname();
        WriteVmcoreInfo();
        _machine.Clock.Advance(_machine.Cost.KernelBoot(Dump.DumpActive ? Dump.BootMemTop : SystemRam));

        if (Dump.DumpActive)
        {
            SetupCaptureKernel();
        }
        else if (Dump.Enabled && Dump.ReserveSize > 0)
        {
            InitCrashInfoHeader();
            CmaInit();
            RegisterFadump(); // a failure is logged; the files report it (registered reads 0)
        }

        CreateSysfs();
        Printk("Run /sbin/init as init process");
    }

    /// <summary>memblock_enforce_memory_limit: keep the first `limit` bytes of RAM, holes not counted.</summary>
    private static List<MemoryRange> ClipMemory(IReadOnlyList<MemoryRange> ram, ulong? limit)
    {
        var result = new List<MemoryRange>();
        ulong remaining = limit ?? ulong.MaxValue;
        foreach (var r in ram)
        {
            if (remaining == 0)
            {
                break;
            }

            ulong n = Math.Min(r.Size, remaining);
            result.Add(new MemoryRange(r.Start, n));
            remaining -= n;
        }

        return result;
    }

    private static List<MemoryRange> ReadReservedRanges(DeviceTreeNode dt)
    {
        var list = new List<MemoryRange>();
        if (dt.Get("reserved-ranges") is { } rr)
        {
            var c = DeviceTreeNode.Cells(rr);
            for (int i = 0; i + 3 < c.Length && list.Count < 1024; i += 4)
            {
                ulong start = ((ulong)c[i] << 32) | c[i + 1];
                ulong size = ((ulong)c[i + 2] << 32) | c[i + 3];
                if (size > 0)
                {
                    list.Add(new MemoryRange(start, size));
                }
            }
        }

        // Sorted and merged, as fadump's reserved_mrange_info keeps them.
        list.Sort((a, b) => a.Start.CompareTo(b.Start));
        var merged = new List<MemoryRange>();
        foreach (var r in list)
        {
            if (merged.Count > 0 && merged[^1].End >= r.Start)
            {
                merged[^1] = MemoryRange.FromBounds(merged[^1].Start, Math.Max(merged[^1].End, r.End));
            }
            else
            {
                merged.Add(r);
            }
        }

        return merged;
    }

    /// <summary>fadump_reserve_mem for the first kernel: size, regions, reserved area placement.</summary>
    private void ReserveBootMemory()
    {
        var platform = FadumpPlatform.Pseries;
        var size = BootMemory.CalculateSize(CommandLine, SystemRam, MemLimit, platform);
        _early.AddRange(size.Log);
        if (size.Error is not null)
        {
            FadumpReserveFailed();
            return;
        }

        Dump.BootMemorySize = size.Size;
        var regions = BootMemory.Regions(Memory, size.Size, platform);
        if (regions is null)
        {
            _early.Add("fadump: Too many holes in boot memory area to enable fadump");
            FadumpReserveFailed();
            return;
        }

        Dump.BootRegions = regions.Value.Regions;
        Dump.BootMemTop = regions.Value.BootMemTop;
        ulong page = Page;
        ulong cpuHpte = Align(Dump.CpuStateDataSize + Dump.HpteRegionSize, page);
        ulong total = cpuHpte + Dump.BootMemorySize + CrashInfoHeader.Size;
        ulong? start = FindFreeArea(Dump.BootMemTop, total, MemLimit ?? _machine.Memory.Top);
        if (start is null)
        {
            _early.Add("fadump: Failed to find memory chunk for reservation!");
            FadumpReserveFailed();
            return;
        }

        Dump.ReserveStart = start.Value;
        Dump.ReserveSize = total;
        Dump.BootMemDestAddr = start.Value + cpuHpte;
        // rtas_fadump_init_mem_struct returns dest + the regions' sizes: the header follows the last
        // copy, which with the region quirk can be short of boot_memory_size.
        Dump.HeaderAddress = Dump.BootMemDestAddr + Dump.BootRegions.Aggregate(0UL, (a, r) => a + r.Size);
        Dump.ParamArea = P.FadumpParamAreaOffset;
        _memblockReserved.Add(new MemoryRange(start.Value, Align(total, page)));
        _early.Add(FormattableString.Invariant($"fadump: Reserved {total >> 20}MB of memory at {CFormat.Hex016(start.Value)} (System RAM: {SystemRam >> 20}MB)"));
    }

    /// <summary>fadump_reserve_mem's error_out: FADump disabled, nothing reserved, no boot regions.</summary>
    private void FadumpReserveFailed()
    {
        Dump.Enabled = false;
        Dump.ReserveSize = 0;
        Dump.ReserveStart = 0;
        Dump.BootRegions = [];
        Dump.BootMemTop = 0;
        Dump.BootMemorySize = 0;
    }

    /// <summary>The kernel's FADump messages so far (pr_fmt "fadump: " and "rtas fadump: "), in order.</summary>
    public IEnumerable<string> FadumpMessages => Log.Lines
        .Select(l => l.Length > 0 && l[0] == '[' && l.IndexOf("] ", StringComparison.Ordinal) is int i and > 0 ? l[(i + 2)..] : l)
        .Where(l => l.StartsWith("fadump: ", StringComparison.Ordinal) || l.StartsWith("rtas fadump: ", StringComparison.Ordinal)
            || l.Contains("for crashkernel", StringComparison.Ordinal) || l.StartsWith("crashkernel", StringComparison.Ordinal));

    /// <summary>First fit, bottom-up from base, over RAM that no reservation or reserved-range covers.</summary>
    private ulong? FindFreeArea(ulong from, ulong size, ulong limit)
    {
        ulong page = Page;
        foreach (var r in Memory)
        {
            ulong start = Align(Math.Max(r.Start, from), page);
            while (start + size <= Math.Min(r.End, limit))
            {
                var clash = _memblockReserved.Where(x => x.Overlaps(new MemoryRange(start, size))).OrderBy(x => x.End).LastOrDefault();
                if (clash.Size == 0)
                {
                    return start;
                }

                start = Align(clash.End, page);
            }
        }

        return null;
    }

    /// <summary>
    /// Top-down allocation, as memblock_alloc does for boot-time structures: below the previous
    /// allocation, around every reservation. The range is memblock-reserved, so its struct pages say
    /// PG_reserved as a real kernel's do. Null when no RAM is left.
    /// </summary>
    private ulong? TryAllocTopDown(ulong size, ulong align)
    {
        for (int ri = Memory.Count - 1; ri >= 0; ri--)
        {
            var r = Memory[ri];
            ulong end = Math.Min(r.End, _allocFloor);
            while (end >= r.Start + size)
            {
                ulong start = (end - size) & ~(align - 1);
                if (start < r.Start)
                {
                    break;
                }

                var range = new MemoryRange(start, size);
                ulong clashStart = ulong.MaxValue;
                foreach (var x in _memblockReserved)
                {
                    if (x.Overlaps(range) && x.Start < clashStart)
                    {
                        clashStart = x.Start;
                    }
                }

                if (clashStart == ulong.MaxValue)
                {
                    _allocFloor = start;
                    // Contiguous allocations share one entry: boot makes thousands of them on a large machine.
                    if (_lastAllocation is int li && _memblockReserved[li].Start == range.End)
                    {
                        _memblockReserved[li] = MemoryRange.FromBounds(start, _memblockReserved[li].End);
                        _bootAllocations[^1] = _memblockReserved[li];
                    }
                    else
                    {
                        _memblockReserved.Add(range);
                        _lastAllocation = _memblockReserved.Count - 1;
                        _bootAllocations.Add(range);
                    }

                    _image?.Reserve(range, PageClass.KernelData);
                    return start;
                }

                end = clashStart;
            }
        }

        return null;
    }

    private ulong _allocFloor = ulong.MaxValue;
    private readonly List<MemoryRange> _bootAllocations = [];

    /// <summary>Memory the kernel allocated for itself at boot (memblock, top-down): vmemmap, vmemmap_list, mem_section pages.</summary>
    public IReadOnlyList<MemoryRange> BootAllocations => _bootAllocations;
    private int? _lastAllocation;

    /// <summary>kdump fallback (kexec_reserve / reserve_crashkernel) when FADump did not reserve.</summary>
    private void ReserveCrashKernel()
    {
        var ck = CrashKernelParameter.Parse(CommandLine, SystemRam);
        if (ck is null)
        {
            return;
        }

        if (!ck.Ok)
        {
            _early.Add(ck.Error!);
            return;
        }

        if (ck.Size == 0 || ck.Size >= SystemRam)
        {
            return;
        }

        // ppc64: the capture kernel runs at KDUMP_KERNELBASE (32 MiB) unless an offset is given.
        ulong offset = ck.Offset != 0 ? ck.Offset : 32UL << 20;
        var range = new MemoryRange(offset, Align(ck.Size, Page));
        CrashKernelReservation = range;
        _memblockReserved.Add(range);
        _early.Add(FormattableString.Invariant($"Reserving {ck.Size >> 20}MB of memory at {offset >> 20}MB for crashkernel (System RAM: {SystemRam >> 20}MB)"));
    }

    internal static ulong Align(ulong v, ulong a) => (v + a - 1) / a * a;
}

/// <summary>The kernel's vsprintf formats used in FADump messages (lib/vsprintf.c number(): "#" prints 0x even for zero).</summary>
public static class CFormat
{
    /// <summary>%#016llx: zero-padded to 16 characters including the 0x prefix.</summary>
    public static string Hex016(ulong v) => "0x" + v.ToString("x", CultureInfo.InvariantCulture).PadLeft(14, '0');

    /// <summary>%#llx.</summary>
    public static string Hex(ulong v) => "0x" + v.ToString("x", CultureInfo.InvariantCulture);
}
