using Fadump.Firmware.Rtas;
using Fadump.Kernel.Workload;
using Fadump.Machine;

namespace Fadump.Kernel;

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
/// A pSeries LPAR: machine, PHYP firmware, and the kernel currently running. Drives the lifecycle the
/// seeds describe: boot and register, crash, firmware-assisted dump, capture kernel, release, re-register.
/// </summary>
public sealed class PseriesLpar
{
    public PseriesLpar(LparSpec spec)
    {
        Spec = spec;
        Machine = new SimulatedMachine(spec.RamRanges(), spec.Cpus, spec.Cost);
        Firmware = new RtasFirmware(Machine, spec.Firmware);
        Machine.SetDeviceTree(Firmware.BuildDeviceTree());
    }

    public LparSpec Spec { get; }

    public SimulatedMachine Machine { get; }

    public RtasFirmware Firmware { get; }

    public PseriesKernel? Kernel { get; private set; }

    /// <summary>Kernels booted so far, oldest first.</summary>
    public List<PseriesKernel> Boots { get; } = [];

    public PseriesKernel Boot()
    {
        var options = new KernelOptions
        {
            CommandLine = Spec.CommandLine,
            Workload = WorkloadModel.ByName(Spec.Workload, Spec.Seed),
        };
        Kernel = PseriesKernel.Boot(Machine, Firmware, options);
        Kernel.OnCrashed = (_, _) => AfterCrash();
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
    public PseriesKernel Reboot()
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
