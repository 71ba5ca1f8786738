namespace Fadump.Machine;

/// <summary>
/// The hardware: RAM that survives resets, CPUs, a device tree the firmware fills, and a clock.
/// Firmware and kernels come and go; the machine stays.
/// </summary>
public sealed class SimulatedMachine
{
    public SimulatedMachine(IReadOnlyList<MemoryRange> ram, int cpus, CostModel? cost = null)
    {
        if (cpus is < 1 or > 8192)
        {
            throw new ArgumentOutOfRangeException(nameof(cpus), "1 to 8192 CPUs");
        }

        Memory = new PhysicalMemory(ram);
        Dma = new DmaEngine(Memory);
        Cpus = [.. Enumerable.Range(0, cpus).Select(i => new Cpu(i))];
        Cost = cost ?? new CostModel();
    }

    public PhysicalMemory Memory { get; }

    public IReadOnlyList<Cpu> Cpus { get; }

    /// <summary>Bus-master devices: they keep writing through a crash until a driver resets them.</summary>
    public DmaEngine Dma { get; }

    public DeviceTreeNode DeviceTree { get; private set; } = new("/");

    public VirtualClock Clock { get; } = new();

    public CostModel Cost { get; }

    /// <summary>How many times the machine has been reset (0 = first power-on).</summary>
    public int Resets { get; private set; }

    /// <summary>The machine was powered off (sysrq o, poweroff): nothing runs on it any more.</summary>
    public bool PoweredOff { get; private set; }

    /// <summary>Switches the machine off; the simulation has no power-on (a new machine is booted instead).</summary>
    public void PowerOff() => PoweredOff = true;

    /// <summary>
    /// Resets the hardware without clearing RAM: CPUs go to their reset state, devices are
    /// reinitialised, the firmware rebuilds the device tree.
    /// </summary>
    public void Reset(DeviceTreeNode newTree)
    {
        foreach (var c in Cpus)
        {
            c.Reset();
        }

        DeviceTree = newTree;
        Resets++;
    }

    public void SetDeviceTree(DeviceTreeNode tree) => DeviceTree = tree;
}
