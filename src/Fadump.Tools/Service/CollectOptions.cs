namespace Fadump.Tools.Service;

/// <summary>How the dump service runs: its collaborators, injected so that tests see everything it does.</summary>
public sealed record CollectOptions
{
    /// <summary>The vmcore saver.</summary>
    public IDumpWriter Writer { get; init; } = DefaultDumpWriter.Create();

    /// <summary>Runs failure and final actions; required (the real one is <see cref="SystemActionRunner"/>).</summary>
    public required IActionRunner Actions { get; init; }

    /// <summary>Progress and error messages, one line each.</summary>
    public TextWriter Log { get; init; } = TextWriter.Null;

    /// <summary>The capture time that names the dump directory (local time, as <c>date</c> gives it).</summary>
    public Func<DateTimeOffset> Now { get; init; } = () => DateTimeOffset.Now;

    /// <summary>ssh -o options placed before kdump-utils' own, so that they win (Port=2222, UserKnownHostsFile=...).</summary>
    public IReadOnlyList<string> SshOptions { get; init; } = [];

    public string SshProgram { get; init; } = "ssh";

    /// <summary>The root file system failure_action dump_to_rootfs saves under (kdump-utils: /sysroot; here the running system's /).</summary>
    public string RootFs { get; init; } = "/";

    /// <summary>Mounts a file-system target (kdump.conf <c>ext4 /dev/vdb</c>...).</summary>
    public IMounter Mounter { get; init; } = new SystemMounter();

    /// <summary>Where a file-system target is mounted; the dump goes to <c>path</c> under it (kdump-utils: /kdumproot).</summary>
    public string MountRoot { get; init; } = "/kdumproot";

    /// <summary>Reserved memory of a phyp dump is released in pieces of this size as the save proceeds.</summary>
    public ulong ReleaseChunkBytes { get; init; } = PhypReleaser.DefaultChunkBytes;

    /// <summary>Source pages hashed before the save and compared with the saved file after it.</summary>
    public int VerifySamplePages { get; init; } = DumpSample.DefaultCount;

    /// <summary>--num-threads when core_collector gives none (kdump-utils adds --num-threads=$(nproc)).</summary>
    public int DefaultThreads { get; init; } = Environment.ProcessorCount;

    /// <summary>Machine of a phyp dump, which carries no ELF header to say it: Power6 ran big-endian ppc64.</summary>
    public Fadump.Formats.DumpMachine PhypMachine { get; init; } = Fadump.Formats.DumpMachine.Ppc64;

    /// <summary>
    /// Cancelled by SIGINT, SIGTERM or SIGHUP (systemd stops kdump-capture.service with SIGHUP): the save stops,
    /// its partial file stays under the "-incomplete" name, and the failure action runs.
    /// </summary>
    public CancellationToken CancellationToken { get; init; }

    /// <summary>Where a phyp dump's memory is read, by physical address.</summary>
    public string PhysicalMemoryPath { get; init; } = "/dev/mem";
}
