using Fadump.Kernel.Sysfs;
using Fadump.Machine;

namespace Fadump.Kernel;

/// <summary>
/// A crash dump mechanism as the common kernel drives it (FADump: arch/powerpc/kernel/fadump.c; kdump:
/// kernel/kexec_core.c and crash_core.c): hooks at the points of boot, panic and shutdown where Linux
/// calls into it. One instance per boot, bound to its kernel.
/// </summary>
public interface ICrashDumpMechanism
{
    /// <summary>Early boot, after memblock is set up and before anything allocates (fadump_reserve_mem).</summary>
    void EarlyReserve();

    /// <summary>Whether the mechanism holds memory for a dump (reserved, or an active dump): crashkernel= then does not apply.</summary>
    bool HoldsDumpMemory { get; }

    /// <summary>This kernel is the capture kernel of an active dump.</summary>
    bool IsCaptureKernel { get; }

    /// <summary>The memory the booting kernel initialises when it is not all of RAM (a capture kernel's boot memory).</summary>
    ulong? BootMemoryLimit { get; }

    /// <summary>Memory the first kernel's image marks reserved for the mechanism (its struct pages say PG_reserved).</summary>
    IEnumerable<MemoryRange> ReservedAreas { get; }

    /// <summary>The mechanism's static data in the kernel image starts zeroed (bss), once the memory image exists.</summary>
    void ClearStaticData();

    /// <summary>Late init (setup_fadump, an initcall): register with the firmware, or process the active dump.</summary>
    void LateInit();

    /// <summary>The mechanism's /sys and debugfs files.</summary>
    void AddFiles(KernelFileSystem files);

    /// <summary>Whether a crash now would be dumped (FADump registered, a crash kernel loaded).</summary>
    bool Armed { get; }

    /// <summary>
    /// The panic path once armed (crash_fadump and the trigger, or __crash_kexec). True when the machine was
    /// reset with a dump; false when control came back and panic() carries on without one.
    /// </summary>
    bool OnPanic(int crashingCpu, string message);

    /// <summary>Whether the firmware offers the mechanism at all (machine_shutdown's FADump cleanup runs only then).</summary>
    bool Present { get; }

    /// <summary>machine_shutdown before a reboot or a kexec: leave nothing stale for the next kernel.</summary>
    void Shutdown();

    /// <summary>The kernel's messages about the dump so far, without timestamps, in order.</summary>
    IEnumerable<string> Messages { get; }

    /// <summary>What the CLI and the pictures may see: state, sizes, regions and messages; no internals.</summary>
    CrashDumpStatus Status { get; }
}

/// <summary>What a band of memory is to a dump mechanism, for the layout pictures.</summary>
public enum DumpRegionKind
{
    /// <summary>Memory the crashed kernel ran in that is saved (boot memory), or the capture kernel's own memory.</summary>
    BootMemory,

    /// <summary>Where dump data is kept (the boot memory copy, a reservation for it).</summary>
    DumpData,

    /// <summary>Headers and register state.</summary>
    Metadata,
}

/// <summary>A labelled band of physical memory belonging to a dump mechanism.</summary>
public sealed record DumpRegion(ulong Start, ulong End, string Label, DumpRegionKind Kind);

/// <summary>A dump mechanism's state as the CLI reports it.</summary>
public sealed record CrashDumpStatus
{
    /// <summary>The firmware offers the mechanism.</summary>
    public required bool Supported { get; init; }

    /// <summary>A crash now would be dumped.</summary>
    public required bool Armed { get; init; }

    /// <summary>Bytes reserved for the dump (0: nothing could be reserved).</summary>
    public required ulong ReservedBytes { get; init; }

    /// <summary>The bytes the firmware copies at the crash.</summary>
    public required ulong FirmwareCopyBytes { get; init; }

    /// <summary>This kernel is a capture kernel with a dump to save.</summary>
    public required bool DumpActive { get; init; }

    /// <summary>The memory a capture kernel runs in.</summary>
    public required ulong CaptureKernelMemory { get; init; }

    /// <summary>The dump's memory has been released to the running kernel, and how much.</summary>
    public required bool Released { get; init; }

    public required ulong ReleasedBytes { get; init; }

    /// <summary>The capture kernel's messages about the dump (errors explain a missing /proc/vmcore).</summary>
    public required IReadOnlyList<string> CaptureLog { get; init; }

    /// <summary>The mechanism's memory in the first kernel (empty when nothing is reserved).</summary>
    public required IReadOnlyList<DumpRegion> FirstKernelRegions { get; init; }

    /// <summary>The capture kernel's view (empty when this kernel is not one).</summary>
    public required IReadOnlyList<DumpRegion> CaptureKernelRegions { get; init; }
}
