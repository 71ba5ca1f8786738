namespace Fadump.Machine;

/// <summary>Simulated time. Phases advance it by modelled durations; measured work is reported beside it.</summary>
public sealed class VirtualClock
{
    public TimeSpan Now { get; private set; }

    /// <summary>Seconds since the epoch at simulated time zero (for CRASHTIME and log timestamps).</summary>
    public long EpochSeconds { get; init; } = 1_795_249_800;

    public void Advance(TimeSpan by)
    {
        if (by < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(by));
        }

        Now += by;
    }

    public long WallSeconds => EpochSeconds + (long)Now.TotalSeconds;
}

/// <summary>
/// The named parameters of the time model (shared/DESIGN.md §3). Defaults are round figures of the
/// right order for a POWER LPAR; every modelled phase says which parameters it used.
/// </summary>
public sealed record CostModel
{
    /// <summary>Firmware copy of boot memory at the crash, GB/s (PHYP copies in the hypervisor).</summary>
    public double FirmwareCopyGBps { get; init; } = 4.0;

    /// <summary>Hardware reset and firmware IPL to the boot loader, seconds.</summary>
    public double ResetAndIplSeconds { get; init; } = 45.0;

    /// <summary>Kernel boot: fixed part, seconds.</summary>
    public double KernelBootSeconds { get; init; } = 12.0;

    /// <summary>Kernel boot: struct page initialisation per GiB of memory the kernel brings up, seconds.</summary>
    public double KernelBootSecondsPerGiB { get; init; } = 0.05;

    /// <summary>Full reboot of the LPAR (shutdown + reset + IPL), seconds: what kdump-style capture pays again.</summary>
    public double RebootSeconds { get; init; } = 60.0;

    /// <summary>Freeing memory back to the buddy allocator, GiB/s (release_mem).</summary>
    public double ReleaseGiBps { get; init; } = 50.0;

    /// <summary>kdump: machine_crash_shutdown's NMI to every other CPU (the panicking CPU waits at most 1 s; a few ms in practice).</summary>
    public double NmiShootdownSeconds { get; init; } = 0.005;

    /// <summary>kdump: machine_kexec, purgatory's SHA-256 over the segments and the jump (0.03 s shutdown + 0.29 s start measured on arm64).</summary>
    public double KexecJumpSeconds { get; init; } = 0.32;

    public TimeSpan FirmwareCopy(ulong bytes) => TimeSpan.FromSeconds(bytes / (FirmwareCopyGBps * 1e9));

    public TimeSpan KernelBoot(ulong memoryBytes) => TimeSpan.FromSeconds(KernelBootSeconds + (KernelBootSecondsPerGiB * memoryBytes / (double)(1UL << 30)));

    public TimeSpan Release(ulong bytes) => TimeSpan.FromSeconds(bytes / (ReleaseGiBps * (1UL << 30)));
}
