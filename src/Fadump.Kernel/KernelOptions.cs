using Fadump.Kernel.Workload;

namespace Fadump.Kernel;

/// <summary>How the simulated Linux is built and booted.</summary>
public sealed record KernelOptions
{
    public string CommandLine { get; init; } = "root=/dev/sda2 fadump=on";

    public string Release { get; init; } = "6.1.0-50-powerpc64le";

    public string Version { get; init; } = "#1 SMP Debian 6.1.153-1 (2025-09-20)";

    public string BuildId { get; init; } = "e04703597006cc36ab4eb3e421c377f39b50aecc";

    public string NodeName { get; init; } = "lpar1";

    public WorkloadModel? Workload { get; init; }

    /// <summary>
    /// How much memory the kernel has written beyond its image and boot allocations (null: all of it, a kernel that
    /// has run its workload for long). A short-lived kernel (petitboot) leaves the rest of RAM as the kernel before
    /// it left it: only its image, its boot allocations and this much below them show its own contents.
    /// </summary>
    public ulong? WorkingSet { get; init; }

    /// <summary>The kernel generation: how printk's buffer and VMCOREINFO look.</summary>
    public KernelProfile Profile { get; init; } = KernelProfile.Linux61;
}

/// <summary>How the first kernel dies.</summary>
public enum CrashKind
{
    /// <summary>panic(): "Kernel panic - not syncing: ...", then the panic notifier calls crash_fadump.</summary>
    Panic,

    /// <summary>An oops: die() calls crash_fadump(regs, "die oops") with the faulting registers.</summary>
    Oops,

    /// <summary>echo c &gt; /proc/sysrq-trigger.</summary>
    Sysrq,

    /// <summary>The LPAR is terminated from the HMC: no OS trigger, the firmware dumps on its own.</summary>
    FirmwareTerminate,
}

/// <summary>The simulated kernel panicked while booting (before anything could register a dump): its last message.</summary>
public sealed class KernelPanicException(string message) : Exception(message);
