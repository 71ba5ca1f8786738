using Fadump.Tools.Collector;
using Fadump.Formats.Compression;

namespace Fadump.Tools.Service;

/// <summary>
/// What kdump.conf's <c>core_collector</c> asks the saver for: the saver's <see cref="SaveOptions"/> plus what
/// only the service decides (whether -F was asked for, the options accepted and ignored).
/// </summary>
public sealed record CoreCollectorOptions
{
    /// <summary>makedumpfile, or cp / scp: the vmcore copied byte for byte (the options below then do not apply).</summary>
    public CoreCollectorProgram Program { get; init; } = CoreCollectorProgram.Makedumpfile;

    /// <summary>cp --sparse=always: blocks of zeros are left as holes in the copy (they read back as zeros).</summary>
    public bool Sparse { get; init; }

    /// <summary>makedumpfile -d: the first level given.</summary>
    public int DumpLevel { get; init; } = 31;

    /// <summary>makedumpfile -d A,B,C: the levels after the first, tried in order when -L is exceeded.</summary>
    public IReadOnlyList<int> FallbackLevels { get; init; } = [];

    /// <summary>-c zlib, -l lzo, -p snappy, -z zstd; none by default (makedumpfile writes pages uncompressed).</summary>
    public PageCompression Compression { get; init; } = PageCompression.None;

    /// <summary>-E: ELF instead of kdump-compressed.</summary>
    public SaveFormat Format { get; init; } = SaveFormat.Kdump;

    /// <summary>
    /// -F: makedumpfile's flattened stream. Decided by the target as kdump-utils does (removed for local
    /// targets, added for ssh); the value parsed from the line is kept in <see cref="FlattenedRequested"/>.
    /// </summary>
    public bool Flattened { get; init; }

    /// <summary>True when the core_collector line had -F.</summary>
    public bool FlattenedRequested { get; init; }

    /// <summary>--num-threads; 0 when not given (the service then uses the CPU count, as kdump-utils adds --num-threads=$(nproc)).</summary>
    public int Threads { get; init; }

    /// <summary>-L SIZE: the output may not exceed this many bytes.</summary>
    public long? SizeLimit { get; init; }

    /// <summary>--message-level (0–31).</summary>
    public int MessageLevel { get; init; } = 7;

    /// <summary>Options accepted for compatibility that do not change the saved pages (--cyclic-buffer, --work-dir, -e, ...).</summary>
    public IReadOnlyList<string> IgnoredOptions { get; init; } = [];

    /// <summary>
    /// Not from kdump.conf: the PFNs of the service's verification sample, whose fate the writer reports in
    /// <see cref="DumpWriteResult.ExcludedSamplePfns"/> (<see cref="SaveOptions.WatchPfns"/>).
    /// </summary>
    public IReadOnlyCollection<ulong>? WatchPfns { get; init; }

    /// <summary>The saver's options for this line; threads default to the CPU count (kdump-utils adds --num-threads=$(nproc)).</summary>
    public SaveOptions ToSaveOptions(int defaultThreads, IProgress<SaveProgress>? progress = null) => new()
    {
        DumpLevel = DumpLevel,
        FallbackLevels = FallbackLevels,
        Compression = Compression,
        Format = Format,
        Flattened = Flattened,
        Threads = Threads > 0 ? Threads : defaultThreads,
        SizeLimit = SizeLimit,
        MessageLevel = MessageLevel,
        Progress = progress,
        WatchPfns = WatchPfns,
    };
}
