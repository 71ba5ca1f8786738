namespace Fadump.Kernel.Fadump;

/// <summary>
/// The platform half of FADump, shaped like Linux's struct fadump_ops (arch/powerpc/kernel/fadump-internal.h):
/// pSeries fills it with RTAS calls (platforms/pseries/rtas-fadump.c), PowerNV with OPAL MPIPL. Each member
/// gets the common code (<see cref="FadumpCore"/>: fw_dump and its helpers), as the C functions get fw_dump.
/// </summary>
public interface IFadumpOps
{
    /// <summary>fadump_get_bootmem_min and the platform's region limits (how many, how large each copy).</summary>
    FadumpPlatform Limits { get; }

    /// <summary>The platform code's pr_fmt ("rtas fadump: ", "opal fadump: "): its messages count as FADump's.</summary>
    string LogPrefix { get; }

    /// <summary>Whether the platform copies the 2 KiB param area (bootargs_append): pSeries does, OPAL does not.</summary>
    bool ParamAreaSupported { get; }

    /// <summary>fadump_get_metadata_size: bytes at the end of the reservation for the platform's own metadata (0: none).</summary>
    ulong MetadataSize { get; }

    /// <summary>fadump_setup_metadata: place the metadata and tell the firmware where it is. 0 or a negative errno.</summary>
    int SetupMetadata(FadumpCore fadump);

    /// <summary>
    /// The device-tree scan (rtas_fadump_dt_scan): whether the firmware offers FADump, the sizes of its CPU state
    /// and HPTE regions; returns the active dump's structure when the firmware left one, else null.
    /// </summary>
    byte[]? DtScan(FadumpCore fadump);

    /// <summary>The active dump's configuration (rtas_fadump_get_config), early in the capture kernel. False: the structure is invalid.</summary>
    bool GetConfig(FadumpCore fadump, byte[] activeDump);

    /// <summary>fadump_init_mem_struct: the registration structure for the reservation; returns where the crash info header goes.</summary>
    ulong InitMemStruct(FadumpCore fadump);

    /// <summary>fadump_register: 0 or a negative errno (the ops set dump_registered and log as the kernel does).</summary>
    int Register(FadumpCore fadump);

    /// <summary>fadump_unregister: 0 or a negative errno.</summary>
    int Unregister(FadumpCore fadump);

    /// <summary>fadump_invalidate: the firmware forgets the active dump.</summary>
    int Invalidate(FadumpCore fadump);

    /// <summary>fadump_cleanup: the platform's own state at shutdown, after the common cleanup.</summary>
    void Cleanup(FadumpCore fadump);

    /// <summary>
    /// fadump_process: validates what the firmware saved (with the common crash info header check,
    /// <see cref="FadumpCore.ReadCrashInfoHeader"/>) and builds the CPU notes. Null when the dump cannot be
    /// used (the failure is already logged and the memory released).
    /// </summary>
    (ulong Address, ulong Size)? Process(FadumpCore fadump);

    /// <summary>fadump_region_show: the text of /sys/kernel/debug/powerpc/fadump_region.</summary>
    string RegionShow(FadumpCore fadump);

    /// <summary>fadump_trigger: hands the crash to the firmware. True when the firmware took the dump and reset the machine.</summary>
    bool Trigger(FadumpCore fadump, CrashInfoHeader header, string message);
}
