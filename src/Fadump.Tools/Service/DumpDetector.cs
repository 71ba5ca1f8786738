using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Service;

/// <summary>How the crashed kernel's memory was preserved.</summary>
public enum DumpMechanism
{
    /// <summary>Nothing to collect: a normal boot.</summary>
    None,

    /// <summary>Firmware-assisted dump (POWER): /proc/vmcore plus release_mem; the capture kernel is the production kernel.</summary>
    Fadump,

    /// <summary>kexec-based kdump: /proc/vmcore in a capture kernel that must reboot to return the memory.</summary>
    Kdump,

    /// <summary>Power6 hypervisor-assisted dump: /sys/kernel/release_region, memory released range by range.</summary>
    PhypDump,
}

/// <summary>The FADump sysfs files of the running kernel: today's names under /sys/kernel/fadump/, or the old ones.</summary>
public sealed record FadumpSysfs(string Enabled, string Registered, string ReleaseMem)
{
    /// <summary>Linux 5.x and later (Documentation/ABI/testing/sysfs-kernel-fadump).</summary>
    public static FadumpSysfs Current { get; } = new("/sys/kernel/fadump/enabled", "/sys/kernel/fadump/registered", "/sys/kernel/fadump/release_mem");

    /// <summary>The original names, kept as links by newer kernels (Documentation/ABI/removed/sysfs-kernel-fadump_*).</summary>
    public static FadumpSysfs Old { get; } = new("/sys/kernel/fadump_enabled", "/sys/kernel/fadump_registered", "/sys/kernel/fadump_release_mem");

    public bool IsOld => Registered == Old.Registered;
}

/// <summary>What <see cref="DumpDetector"/> found under a root.</summary>
public sealed record DetectedDump(DumpMechanism Mechanism, string Reason)
{
    /// <summary>/proc/vmcore for FADump and kdump.</summary>
    public string? VmcorePath { get; init; }

    /// <summary>The sysfs names to release and re-register with (FADump).</summary>
    public FadumpSysfs? Fadump { get; init; }

    /// <summary>/sys/kernel/release_region (phyp dump).</summary>
    public string? ReleaseRegionPath { get; init; }
}

/// <summary>
/// Finds the dump under a root directory, as the capture side of kdump-utils does but for all three
/// mechanisms. Order matters: a phyp dump has no /proc/vmcore of its own; FADump is told from kdump by
/// release_mem, which the kernel creates only while a dump is active (fadump_init_files:
/// <c>if (fw_dump.dump_active)</c>); a kernel with FADump enabled that fell back to kdump has /proc/vmcore but
/// no release_mem.
/// </summary>
public static class DumpDetector
{
    public const string Vmcore = "/proc/vmcore";
    public const string ReleaseRegion = "/sys/kernel/release_region";

    public static DetectedDump Detect(ISysroot root)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (root.Exists(ReleaseRegion))
        {
            return new DetectedDump(DumpMechanism.PhypDump, ReleaseRegion + " is present (Power6 hypervisor-assisted dump)")
            {
                ReleaseRegionPath = ReleaseRegion,
            };
        }

        if (!root.Exists(Vmcore))
        {
            return new DetectedDump(DumpMechanism.None, "no /proc/vmcore and no /sys/kernel/release_region: no dump to collect");
        }

        foreach (var names in new[] { FadumpSysfs.Current, FadumpSysfs.Old })
        {
            if (root.Exists(names.ReleaseMem) && root.Exists(names.Registered))
            {
                return new DetectedDump(DumpMechanism.Fadump, $"/proc/vmcore and {names.ReleaseMem} are present (firmware-assisted dump)")
                {
                    VmcorePath = Vmcore,
                    Fadump = names,
                };
            }
        }

        return new DetectedDump(DumpMechanism.Kdump, "/proc/vmcore is present without FADump's release_mem (kdump)") { VmcorePath = Vmcore };
    }
}
