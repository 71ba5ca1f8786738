using Fadump.Kernel.Sysfs;
using Fadump.Machine;

namespace Fadump.Kernel;

/// <summary>
/// What the common kernel needs from the platform it runs on (ppc_md and the platform's firmware
/// interfaces): its boot messages, memory hotplug granularity, and a firmware-initiated termination.
/// </summary>
public interface IKernelPlatform
{
    /// <summary>ppc_md.name, as die() prints it ("pSeries"); x86_64's DMI "Hardware name".</summary>
    string Name { get; }

    /// <summary>The memory the firmware hands the kernel (the device tree's memory nodes, the e820 map's usable RAM), page-aligned.</summary>
    IReadOnlyList<MemoryRange> Memory { get; }

    /// <summary>Ranges the arch reserves in memblock before anything allocates (x86_64: the low 1 MiB, the boot params).</summary>
    IEnumerable<MemoryRange> EarlyReservations { get; }

    /// <summary>The firmware's entries of /proc/iomem (System RAM and the rest), before the kernel adds its own.</summary>
    IEnumerable<(string Name, MemoryRange Range)> IomemEntries { get; }

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

    /// <summary>
    /// The platform's own initcalls once the kernel is up (PowerNV: opalcore_init's /sys/firmware/opal/mpipl):
    /// per-boot state lives in what they add to <paramref name="files"/>. Most platforms have none.
    /// </summary>
    void PlatformInitcalls(LinuxKernel kernel, KernelFileSystem files)
    {
    }
}
