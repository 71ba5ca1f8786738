using Fadump.Firmware.Rtas;
using Fadump.Kernel.Arch.Ppc64;
using Fadump.Kernel.Fadump;
using Fadump.Kernel.Fadump.Rtas;
using Fadump.Kernel.Workload;
using Fadump.Machine;

namespace Fadump.Kernel.Platforms;

/// <summary>The shape of a simulated LPAR.</summary>
public sealed record LparSpec
{
    public ulong MemoryBytes { get; init; } = 64UL << 30;

    public int Cpus { get; init; } = 16;

    /// <summary>Memory holes (physical ranges that are not RAM), within [0, MemoryBytes + holes).</summary>
    public IReadOnlyList<MemoryRange> Holes { get; init; } = [];

    public string CommandLine { get; init; } = "root=/dev/sda2 fadump=on";

    public string Workload { get; init; } = "database";

    public ulong Seed { get; init; } = 42;

    public RtasOptions Firmware { get; init; } = new();

    public CostModel Cost { get; init; } = new();

    /// <summary>RAM from 0 up to here must be present: the kernel image, its static data and the capture kernel's structures.</summary>
    public const ulong KernelRamMinimum = 64UL << 20;

    /// <summary>Checks the shape: null when the LPAR can be built, else what is wrong.</summary>
    public string? Validate()
    {
        const ulong Page = 64 << 10;
        if (MemoryBytes < KernelRamMinimum || MemoryBytes % Page != 0)
        {
            return FormattableString.Invariant($"memory size 0x{MemoryBytes:x} must be a multiple of 64K and at least 64M");
        }

        if (Cpus < 1)
        {
            return "an LPAR needs at least one CPU";
        }

        foreach (var r in Firmware.ReservedRanges)
        {
            if (r.Start < KernelRamMinimum)
            {
                return FormattableString.Invariant($"reserved-range 0x{r.Start:x}:0x{r.Size:x}: RAM from 0 to 64M holds the kernel; firmware-reserved memory must start at or above 0x4000000");
            }
        }

        ulong cursor = 0, ram = 0;
        foreach (var h in Holes.OrderBy(h => h.Start))
        {
            string what = FormattableString.Invariant($"hole 0x{h.Start:x}:0x{h.Size:x}");
            if (h.Size == 0 || h.Start % Page != 0 || h.Size % Page != 0 || h.Size > ulong.MaxValue - h.Start)
            {
                return what + ": start and size must be non-zero multiples of 64K (the kernel's page size)";
            }

            if (h.Start < KernelRamMinimum)
            {
                return what + ": RAM from 0 to 64M holds the kernel and the real mode area; a hole must start at or above 0x4000000";
            }

            if (h.Start < cursor)
            {
                return what + FormattableString.Invariant($": overlaps the hole before it (which ends at 0x{cursor:x})");
            }

            ram += h.Start - cursor;
            if (ram >= MemoryBytes)
            {
                return what + FormattableString.Invariant($": starts beyond the end of RAM (0x{MemoryBytes:x} bytes of RAM end at 0x{h.Start - (ram - MemoryBytes):x})");
            }

            cursor = h.End;
        }

        return null;
    }

    /// <summary>RAM ranges: MemoryBytes of RAM laid out from 0, skipping the holes.</summary>
    public IReadOnlyList<MemoryRange> RamRanges()
    {
        var ranges = new List<MemoryRange>();
        ulong remaining = MemoryBytes, cursor = 0;
        foreach (var h in Holes.OrderBy(h => h.Start))
        {
            if (remaining == 0)
            {
                break;
            }

            if (h.Start > cursor)
            {
                ulong n = Math.Min(h.Start - cursor, remaining);
                ranges.Add(new MemoryRange(cursor, n));
                remaining -= n;
            }

            cursor = Math.Max(cursor, h.End);
        }

        if (remaining > 0)
        {
            ranges.Add(new MemoryRange(cursor, remaining));
        }

        return ranges;
    }
}

/// <summary>
/// A pSeries LPAR, the one place that wires the platform: the machine, PHYP's RTAS firmware, ppc64le, and
/// FADump over RTAS (<see cref="FadumpCore"/> with <see cref="RtasFadumpOps"/>); and the kernel currently
/// running. Drives the lifecycle the seeds describe: boot and register, crash, firmware-assisted dump,
/// capture kernel, release, re-register.
/// </summary>
public class PseriesLpar
{
    public PseriesLpar(LparSpec spec)
        : this(spec, static (m, s) => new RtasFirmware(m, s.Firmware))
    {
    }

    /// <summary>An LPAR whose PHYP offers another dump interface (Power6's phyp dump).</summary>
    protected PseriesLpar(LparSpec spec, Func<SimulatedMachine, LparSpec, RtasFirmware> firmware)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(firmware);
        if (spec.Validate() is { } error)
        {
            throw new ArgumentException(error, nameof(spec));
        }

        Spec = spec;
        Machine = new SimulatedMachine(spec.RamRanges(), spec.Cpus, spec.Cost);
        Firmware = firmware(Machine, spec);
        Machine.SetDeviceTree(Firmware.BuildDeviceTree());
        _platform = new PseriesPlatform(Firmware, Machine);
    }

    private readonly PseriesPlatform _platform;

    public LparSpec Spec { get; }

    public SimulatedMachine Machine { get; }

    public RtasFirmware Firmware { get; }

    public LinuxKernel? Kernel { get; private set; }

    /// <summary>Kernels booted so far, oldest first.</summary>
    public List<LinuxKernel> Boots { get; } = [];

    /// <summary>The kernel's architecture: ppc64le for a current pSeries LPAR.</summary>
    protected virtual Arch.KernelArch KernelArch => Ppc64Arch.LittleEndian;

    /// <summary>The kernel as built and booted on this LPAR.</summary>
    protected virtual KernelOptions KernelOptions() => new()
    {
        CommandLine = Spec.CommandLine,
        Workload = WorkloadModel.ByName(Spec.Workload, Spec.Seed),
    };

    /// <summary>The dump mechanism of each kernel that boots: FADump over RTAS.</summary>
    protected virtual ICrashDumpMechanism CreateMechanism(LinuxKernel kernel) => new FadumpCore(kernel, new RtasFadumpOps(Firmware));

    public LinuxKernel Boot()
    {
        Kernel = LinuxKernel.Boot(Machine, KernelArch, _platform, CreateMechanism, KernelOptions());
        Kernel.CrashHandler = kind => Crash(kind);
        Kernel.RebootHandler = () => Reboot();
        Boots.Add(Kernel);
        return Kernel;
    }

    /// <summary>Crashes the running kernel; when the firmware took a dump, the capture kernel is booted. Returns whether a dump was taken.</summary>
    public bool Crash(CrashKind kind, int crashingCpu = 0)
    {
        var k = Kernel ?? throw new InvalidOperationException("no kernel is running");
        bool dumped = k.Crash(kind, crashingCpu);
        AfterCrash();
        return dumped;
    }

    /// <summary>`reboot`: the running kernel shuts down (unregistering FADump), the firmware reboots, a new kernel boots.</summary>
    public LinuxKernel Reboot()
    {
        Kernel?.Shutdown();
        Machine.Clock.Advance(TimeSpan.FromSeconds(Machine.Cost.RebootSeconds));
        Firmware.Reboot();
        return Boot();
    }

    private void AfterCrash()
    {
        // When the firmware reset the machine (a dump, or a terminated LPAR), the next kernel boots:
        // the capture kernel if a dump is active. Otherwise the crashed kernel just stays dead.
        if (Machine.Resets > Boots.Count - 1)
        {
            Boot();
        }
    }
}

/// <summary>What the kernel sees of a pSeries LPAR beyond its firmware calls: ppc_md and the hotplug messages.</summary>
internal sealed class PseriesPlatform(RtasFirmware firmware, SimulatedMachine machine) : IKernelPlatform
{
    public string Name => "pSeries";

    public IReadOnlyList<MemoryRange> Memory => machine.Memory.Ram;

    public IEnumerable<MemoryRange> EarlyReservations => [];

    public IEnumerable<(string Name, MemoryRange Range)> IomemEntries => machine.Memory.Ram.Select(r => ("System RAM", r));

    public IEnumerable<string> SetupArchMessages =>
    [
        "Using pSeries machine description",
        "Page sizes from device-tree:",
        "base_shift=16: shift=16, sllp=0x0110, avpnm=0x00000000, tlbiel=1, penc=1",
    ];

    /// <summary>Linux's memory block size on pSeries LPARs (an LMB).</summary>
    public ulong MemoryBlockSize => 256UL << 20;

    // arch/powerpc/platforms/pseries/hotplug-memory.c, one LMB (memory block) at a time.
    public string HotAddStarting(ulong blocks) => FormattableString.Invariant($"pseries-hotplug-mem: Attempting to hot-add {blocks} LMB(s)");

    public string HotAdded(ulong blockStart) =>
        FormattableString.Invariant($"pseries-hotplug-mem: Memory at {blockStart:x} (drc index {0x80000000UL + (blockStart / MemoryBlockSize):x}) was hot-added");

    public void TerminateFromFirmware() => firmware.TerminateLpar();
}
