using Fadump.Formats.Compression;

namespace Fadump.Tools.Collector;

/// <summary>The container format <see cref="DumpSaver"/> writes.</summary>
public enum SaveFormat
{
    /// <summary>kdump-compressed ("KDUMP   ", header version 6): makedumpfile's default.</summary>
    Kdump,

    /// <summary>ELF64 core (makedumpfile -E).</summary>
    Elf,
}

/// <summary>makedumpfile's options for one save (shared/DESIGN.md §4).</summary>
public sealed record SaveOptions
{
    /// <summary>makedumpfile -d: 0 to 31, the sum of <see cref="Collector.DumpLevel"/> bits.</summary>
    public int DumpLevel { get; init; } = 31;

    /// <summary>
    /// Levels to retry with, in order, when the output runs out of space or reaches <see cref="SizeLimit"/>
    /// (makedumpfile -d A,B). Only for file outputs: a stream cannot be rewound.
    /// </summary>
    public IReadOnlyList<int> FallbackLevels { get; init; } = [];

    /// <summary>Per-page compression of kdump output (-c zlib, -l lzo, -p snappy, -z zstd); ignored for ELF.</summary>
    public PageCompression Compression { get; init; } = PageCompression.None;

    public SaveFormat Format { get; init; } = SaveFormat.Kdump;

    /// <summary>
    /// Write makedumpfile's flattened format (-F) to the file overload too. The stream overload always writes
    /// flattened records.
    /// </summary>
    public bool Flattened { get; init; }

    /// <summary>Workers that read, detect zero pages and compress in parallel (--num-threads); one writer keeps PFN order.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>makedumpfile -L: the output may not grow beyond this many bytes; reaching it is like a full disk.</summary>
    public long? SizeLimit { get; init; }

    /// <summary>makedumpfile --message-level (bits: 1 progress, 2 common, 4 error, 8 debug, 16 report); the library only reports through <see cref="Progress"/> and the result, callers print.</summary>
    public int MessageLevel { get; init; } = 7;

    /// <summary>The file overload replaces an existing regular file (makedumpfile -f); otherwise "File exists" is an error.</summary>
    public bool Overwrite { get; init; } = true;

    /// <summary>Progress with rate and ETA, reported from the writer thread about four times a second.</summary>
    public IProgress<SaveProgress>? Progress { get; init; }

    /// <summary>
    /// When set (file output only), called on the writer thread every <see cref="DurableReportBytes"/> of output,
    /// after the page data and its descriptors were written and the file fsynced, with a physical address below
    /// which every page the dump will hold is on disk (pages are written in PFN order); and with
    /// <see cref="ulong.MaxValue"/> once the whole file is complete and fsynced. Not called during a save that has
    /// <see cref="FallbackLevels"/> before it completes: a retry at another level starts a new file.
    /// </summary>
    public Action<ulong>? DurableThrough { get; init; }

    /// <summary>Bytes of output between two <see cref="DurableThrough"/> reports (each costs an fsync).</summary>
    public long DurableReportBytes { get; init; } = 64L << 20;

    /// <summary>
    /// PFNs whose fate <see cref="SaveResult.ExcludedWatchedPfns"/> reports: which of them the save left out on
    /// purpose (filtered by the dump level, or beyond the last memory section with a mem_map). The dump
    /// service's verification sample, so that it can tell a page legitimately dropped from one lost.
    /// </summary>
    public IReadOnlyCollection<ulong>? WatchPfns { get; init; }

    /// <summary>
    /// makedumpfile --splitblock-size, in bytes: the unit in which <see cref="DumpSaver.SaveSplit"/> cuts memory
    /// among the files of a split set (1 GiB, makedumpfile's DEFAULT_SPLITBLOCK_SIZE). At least one page.
    /// </summary>
    public long SplitBlockBytes { get; init; } = SplitPlan.DefaultSplitBlockBytes;
}
