namespace Fadump.Tools.Service;

/// <summary>What one run of the dump service did.</summary>
public sealed record CollectResult
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;

    /// <summary>0 when there was nothing to collect, or the dump was saved, verified and (FADump, phyp) released and re-armed; else 1.</summary>
    public int ExitCode { get; init; }

    public DumpMechanism Mechanism { get; init; }

    /// <summary>The dump directory (local path, or user@host:path).</summary>
    public string? Directory { get; init; }

    /// <summary>The saved vmcore, or what is left of it (vmcore-incomplete) after a failure.</summary>
    public string? Vmcore { get; init; }

    public bool DmesgSaved { get; init; }

    /// <summary>PowerNV MPIPL: where the OPAL core was saved (DIR/opalcore), or null (none, or its save failed).</summary>
    public string? OpalCore { get; init; }

    public bool OpalCoreSaved => OpalCore is not null;

    /// <summary>"1" was written to /sys/firmware/opal/mpipl/release_core after the save, and accepted.</summary>
    public bool OpalCoreReleased { get; init; }

    /// <summary>Saved and verified under its final name.</summary>
    public bool VmcoreSaved { get; init; }

    /// <summary>Saved by failure_action dump_to_rootfs after the configured target failed.</summary>
    public bool SavedToRootfs { get; init; }

    public DumpWriteResult? Write { get; init; }

    /// <summary>FADump: release_mem was written; phyp dump: every range was released.</summary>
    public bool MemoryReleased { get; init; }

    /// <summary>phyp dump: bytes given back through release_region (during the save and after it).</summary>
    public ulong ReleasedBytes { get; init; }

    /// <summary>FADump: registered reads 1 again.</summary>
    public bool Reregistered { get; init; }

    /// <summary>The final action was reboot but was not run, because the memory is back in production.</summary>
    public bool RebootSkipped { get; init; }

    /// <summary>The errors, in order.</summary>
    public IReadOnlyList<string> Errors { get; init; } = [];
}
