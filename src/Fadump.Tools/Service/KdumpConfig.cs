namespace Fadump.Tools.Service;

/// <summary>kdump.conf failure_action (older name: default): what to do when the dump could not be saved.</summary>
public enum FailureAction
{
    /// <summary>kdump-utils: systemctl reboot -f (the default).</summary>
    Reboot,

    /// <summary>kdump-utils: halt.</summary>
    Halt,

    /// <summary>kdump-utils: systemctl poweroff -f.</summary>
    PowerOff,

    /// <summary>kdump-utils: kdump_emergency_shell (an interactive shell), then the final action.</summary>
    Shell,

    /// <summary>kdump-utils: dump_to_rootfs (save to <c>path</c> on the root file system), then the final action.</summary>
    DumpToRootfs,
}

/// <summary>kdump.conf final_action: what to do after the dump service is done.</summary>
public enum FinalAction
{
    /// <summary>kdump-utils: systemctl reboot -f (the default).</summary>
    Reboot,

    /// <summary>kdump-utils: halt.</summary>
    Halt,

    /// <summary>kdump-utils: systemctl poweroff -f.</summary>
    PowerOff,
}

/// <summary>An ssh dump target: kdump.conf <c>ssh user@host</c>.</summary>
public sealed record SshDestination(string User, string Host)
{
    public override string ToString() => User + "@" + Host;
}

/// <summary>
/// A file-system dump target: kdump.conf <c>ext4 /dev/vdb1</c>, <c>xfs UUID=...</c>, <c>nfs host:/export</c>. The
/// service mounts it and saves under <see cref="KdumpConfig.Path"/> relative to its root, as kdump-utils' initramfs
/// does (it mounts the target under /kdumproot).
/// </summary>
public sealed record FileSystemTarget(string Type, string Device)
{
    public override string ToString() => $"{Type} {Device}";
}

/// <summary>
/// /etc/kdump.conf as the capture side reads it (kdump-utils dracut/99kdumpbase/kdump.sh, get_kdump_confs).
/// Defaults are kdump-utils' own.
/// </summary>
public sealed record KdumpConfig
{
    public const string DefaultPath = "/var/crash";

    /// <summary>kdump-utils DEFAULT_CORE_COLLECTOR.</summary>
    public const string DefaultCoreCollector = "makedumpfile -l --message-level 7 -d 31";

    /// <summary>kdump-utils DEFAULT_SSHKEY.</summary>
    public const string DefaultSshKey = "/root/.ssh/kdump_id_rsa";

    /// <summary>The file the values came from ("(defaults)" when there was none), for messages.</summary>
    public string Source { get; init; } = "(defaults)";

    /// <summary><c>path</c>: the directory dumps are saved under (on the target: local, or the ssh server).</summary>
    public string Path { get; init; } = DefaultPath;

    /// <summary><c>core_collector</c> as written.</summary>
    public string CoreCollectorText { get; init; } = DefaultCoreCollector;

    /// <summary><c>core_collector</c> parsed.</summary>
    public CoreCollectorOptions CoreCollector { get; init; } = CoreCollectorParser.Parse(DefaultCoreCollector);

    /// <summary><c>ssh user@host</c>; null saves locally under <see cref="Path"/>.</summary>
    public SshDestination? Ssh { get; init; }

    /// <summary>A file-system target (<c>ext4 /dev/vdb</c>...); null with <see cref="Ssh"/> null saves under <see cref="Path"/> as it is.</summary>
    public FileSystemTarget? FileSystem { get; init; }

    /// <summary><c>sshkey</c>: the private key for the ssh target.</summary>
    public string SshKey { get; init; } = DefaultSshKey;

    /// <summary>True when <c>sshkey</c> was given (a missing configured key is an error; a missing default key is not passed to ssh).</summary>
    public bool SshKeyConfigured { get; init; }

    public FailureAction FailureAction { get; init; } = FailureAction.Reboot;

    public FinalAction FinalAction { get; init; } = FinalAction.Reboot;

    /// <summary><c>kdump_pre</c>: run before the dump; non-zero exit skips the dump and runs the final action.</summary>
    public string? KdumpPre { get; init; }

    /// <summary><c>kdump_post</c>: run after the dump with its exit status (0 or 1) as the only argument; its status is only logged.</summary>
    public string? KdumpPost { get; init; }

    /// <summary>Directives that only matter when the first kernel builds the capture environment, with their lines (reported, not used).</summary>
    public IReadOnlyList<string> Ignored { get; init; } = [];
}
