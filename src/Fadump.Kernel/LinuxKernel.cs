using Fadump.Kernel.Arch;
using Fadump.Kernel.CommandLine;
using Fadump.Kernel.Mm;
using Fadump.Kernel.Structures;
using Fadump.Kernel.Sysfs;
using Fadump.Machine;

namespace Fadump.Kernel;

/// <summary>
/// The simulated Linux kernel: what every Linux has (init/main.c start_kernel, mm/memblock.c, printk,
/// SPARSEMEM, crash_core's VMCOREINFO, fs/proc/vmcore.c, sysfs), with one <see cref="KernelArch"/> for the
/// layout and byte order, one <see cref="IKernelPlatform"/> for the machine it runs on and one
/// <see cref="ICrashDumpMechanism"/> for the dump. One instance per boot: the first kernel, or the capture
/// kernel when the mechanism finds an active dump.
/// </summary>
public sealed partial class LinuxKernel
{
    /// <summary>COMMAND_LINE_SIZE.</summary>
    public const int CommandLineSize = 2048;

    private readonly SimulatedMachine _machine;
    private readonly IKernelPlatform _platform;
    private readonly KernelMemoryWriter _w;
    private readonly TimeSpan _bootStart;
    private readonly List<string> _early = [];
    private Memblock _memblock = null!;
    private KernelMemoryImage? _image;

    private LinuxKernel(SimulatedMachine machine, KernelArch arch, IKernelPlatform platform, Func<LinuxKernel, ICrashDumpMechanism> mechanism, KernelOptions options)
    {
        _machine = machine;
        _platform = platform;
        Arch = arch;
        Options = options;
        CommandLine = new KernelCommandLine(options.CommandLine);
        _w = new KernelMemoryWriter(machine.Memory, arch);
        _bootStart = machine.Clock.Now;
        Files = new KernelFileSystem();
        Mechanism = mechanism(this);
    }

    public SimulatedMachine Machine => _machine;

    public KernelArch Arch { get; }

    public KernelOptions Options { get; }

    public KernelCommandLine CommandLine { get; private set; }

    public KernelFileSystem Files { get; }

    public ICrashDumpMechanism Mechanism { get; }

    public IKernelLog Log { get; private set; } = null!;

    /// <summary>RAM as this kernel sees it (mem= applied).</summary>
    public IReadOnlyList<MemoryRange> Memory => _memblock.Memory;

    public ulong SystemRam { get; private set; }

    public ulong? MemLimit { get; private set; }

    /// <summary>Set once the kernel has crashed (nothing runs after that).</summary>
    public bool Crashed { get; private set; }

    /// <summary>The kdump reservation from crashkernel= when the dump mechanism did not hold memory.</summary>
    public MemoryRange? CrashKernelReservation { get; private set; }

    /// <summary>crashkernel=…,low (x86_64: the low chunk that goes with a region above 4 GiB).</summary>
    public MemoryRange? CrashKernelLowReservation { get; private set; }

    /// <summary>The firmware's reserved-ranges (device tree), sorted and merged.</summary>
    public IReadOnlyList<MemoryRange> ReservedRanges { get; private set; } = [];

    public KernelMemoryImage? Image => _image;

    /// <summary>Memory the kernel allocated for itself at boot (memblock, top-down): vmemmap, vmemmap_list, mem_section pages.</summary>
    public IReadOnlyList<MemoryRange> BootAllocations => _memblock.Allocations;

    internal Memblock Memblock => _memblock;

    /// <summary>The kernel image in physical memory: _stext (or _text) to _end.</summary>
    public MemoryRange KernelImage => new(Arch.KernelPhysicalBase, Arch.Image.ImageSize);

    /// <summary>The platform the kernel runs on.</summary>
    public IKernelPlatform Platform => _platform;

    internal KernelMemoryWriter Writer => _w;

    /// <summary>Boots a kernel on the machine: the first kernel, or the capture kernel when the mechanism finds an active dump.</summary>
    public static LinuxKernel Boot(SimulatedMachine machine, KernelArch arch, IKernelPlatform platform, Func<LinuxKernel, ICrashDumpMechanism> mechanism, KernelOptions options)
    {
        var k = new LinuxKernel(machine, arch, platform, mechanism, options);
        k.BootSequence();
        return k;
    }

    private TimeSpan Uptime => _machine.Clock.Now - _bootStart;

    private ulong Page => (ulong)Arch.PageSize;

    /// <summary>printk at level 6 (info) from CPU 0.</summary>
    public void Printk(string line, int level = 6, int cpu = 0)
    {
        _machine.Clock.Advance(TimeSpan.FromMicroseconds(137));
        Log.Log(Uptime, level, cpu, line);
    }

    /// <summary>Whether printk's buffer exists yet (early boot messages wait in a list until it does).</summary>
    internal bool LogReady => (object?)Log is not null;

    /// <summary>A message of early boot, before printk's buffer exists: logged after the banner, in order.</summary>
    internal void EarlyPrintk(string line) => _early.Add(line);

    /// <summary>The boot command line grows (FADump's bootargs_append in the capture kernel).</summary>
    internal void AppendCommandLine(string extra) => CommandLine = CommandLine.Append(extra);

    private void BootSequence()
    {
        var dt = _machine.DeviceTree;
        var firmwareMemory = _platform.Memory;
        MemLimit = Arch.MemoryLimit(CommandLine, Ranges.Total(firmwareMemory));
        _memblock = new Memblock(ClipMemory(firmwareMemory, MemLimit), Page)
        {
            Allocated = r => _image?.Reserve(r, Workload.PageClass.KernelData),
        };
        SystemRam = Ranges.Total(Memory);
        ReservedRanges = ReadReservedRanges(dt);
        _memblock.Reserve(KernelImage);
        foreach (var r in _platform.EarlyReservations)
        {
            _memblock.Reserve(r);
        }

        foreach (var r in ReservedRanges)
        {
            _memblock.Reserve(r);
        }

        // Early: the dump mechanism reserves before anything else allocates; crashkernel= when it holds nothing.
        Mechanism.EarlyReserve();
        if (!Mechanism.HoldsDumpMemory)
        {
            ReserveCrashKernel();
        }

        // The kernel proper: memory layout, structures, log.
        LayoutKernelStructures(!Mechanism.IsCaptureKernel);
        Log = Options.Profile.CreateLog(_w, Arch);
        Printk(Options.Profile.Banner(Options.Release, Options.Version));
        foreach (var line in _platform.SetupArchMessages)
        {
            Printk(line);
        }

        foreach (var line in _early)
        {
            Printk(line);
        }

        Printk(FormattableString.Invariant($"Kernel command line: BOOT_IMAGE=/boot/{Arch.BootImageName}-{Options.Release} {CommandLine.Text}"));
        Printk(FormattableString.Invariant($"Memory: {SystemRam >> 10}K/{SystemRam >> 10}K available"));
        Printk(FormattableString.Invariant($"smp: Brought up 1 node, {_machine.Cpus.Count} CPUs"));
        WriteUtsname();
        WriteVmcoreInfo();
        _machine.Clock.Advance(_machine.Cost.KernelBoot(Mechanism.BootMemoryLimit ?? SystemRam));

        BuildIomem(); // request_standard_resources (setup_arch), before the initcalls
        Mechanism.LateInit();
        CreateFiles();
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

    /// <summary>The device tree's reserved-ranges (at most 1024), sorted and merged as fadump's reserved_mrange_info keeps them.</summary>
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

        return Ranges.Merge(list);
    }

    /// <summary>kdump's reservation (reserve_crashkernel, the arch's) when the dump mechanism holds no memory.</summary>
    private void ReserveCrashKernel()
    {
        var r = Arch.ReserveCrashKernel(CommandLine, _memblock);
        _early.AddRange(r.Log);
        CrashKernelReservation = r.Region;
        CrashKernelLowReservation = r.LowRegion;
    }

    /// <summary>
    /// crash_shrink_memory's effect: crashk_res ends at its start + <paramref name="newSize"/> (0 releases it), the
    /// tail is freed to the buddy allocator and /proc/iomem shows the smaller region.
    /// </summary>
    internal void ShrinkCrashKernel(ulong newSize)
    {
        var old = CrashKernelReservation ?? throw new InvalidOperationException("no crashkernel= region");
        _memblock.Free(old);
        var res = Iomem.Root.FindAll("Crash kernel").FirstOrDefault(r => r.Range == old);
        var parent = res is null ? null : Iomem.Root.FindAll("System RAM").FirstOrDefault(r => r.Children.Contains(res));
        if (newSize == 0)
        {
            CrashKernelReservation = null;
            if (res is not null)
            {
                parent!.Remove(res);
            }

            return;
        }

        CrashKernelReservation = new MemoryRange(old.Start, newSize);
        _memblock.Reserve(CrashKernelReservation.Value);
        if (res is not null)
        {
            res.Resize(newSize);
            // insert_resource(&iomem_resource, ram_res): the freed tail nests in the System RAM that holds it.
            Iomem.Insert("System RAM", MemoryRange.FromBounds(old.Start + newSize, old.End));
        }
    }

    /// <summary>Memory the running kernel may use: RAM minus its reservations.</summary>
    public ulong AvailableMemory()
    {
        ulong total = 0;
        foreach (var r in Memory)
        {
            ulong free = r.Size;
            foreach (var res in _memblock.Reserved)
            {
                ulong a = Math.Max(res.Start, r.Start), b = Math.Min(res.End, r.End);
                if (a < b)
                {
                    free -= b - a;
                }
            }

            total += free;
        }

        return total;
    }
}
