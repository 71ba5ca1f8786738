namespace Fadump.Kernel;

/// <summary>
/// What the common kernel needs from the platform it runs on (ppc_md and the platform's firmware
/// interfaces): its boot messages, memory hotplug granularity, and a firmware-initiated termination.
/// </summary>
public interface IKernelPlatform
{
    /// <summary>ppc_md.name, as die() prints it ("pSeries").</summary>
    string Name { get; }

    /// <summary>setup_arch's messages after the banner (machine description, MMU page sizes).</summary>
    IEnumerable<string> SetupArchMessages { get; }

    /// <summary>memory_block_size_bytes: hotplug adds whole blocks.</summary>
    ulong MemoryBlockSize { get; }

    /// <summary>The platform's hot-add message before the memory is added.</summary>
    string HotAddStarting(ulong blocks);

    /// <summary>The platform's message for one hot-added memory block.</summary>
    string HotAdded(ulong blockStart);

    /// <summary>The partition is terminated from outside (HMC): no OS involvement.</summary>
    void TerminateFromFirmware();
}
