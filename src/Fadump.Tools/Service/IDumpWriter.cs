using Fadump.Formats;

namespace Fadump.Tools.Service;

/// <summary>What a vmcore save did: the fields of the saver's SaveResult the service uses.</summary>
public sealed record DumpWriteResult
{
    /// <summary>An unfiltered copy's result (cp, or a dump without VMCOREINFO): every page kept, level 0, nothing left out.</summary>
    public static DumpWriteResult Unfiltered(ulong pages, long bytes, TimeSpan elapsed, string? error) => new()
    {
        TotalPages = pages,
        DumpedPages = pages,
        BytesWritten = bytes,
        Elapsed = elapsed,
        Incomplete = error is not null,
        DumpLevelUsed = 0,
        Error = error,
        ExcludedSamplePfns = new HashSet<ulong>(),
    };

    /// <summary>Pages of RAM the input describes.</summary>
    public ulong TotalPages { get; init; }

    /// <summary>Pages written (after filtering).</summary>
    public ulong DumpedPages { get; init; }

    /// <summary>
    /// Zero pages excluded by dump level bit 1. A kdump-compressed file keeps them in its dump bitmap,
    /// all sharing one zero-page descriptor (makedumpfile's pd_zero), so its page count includes them.
    /// </summary>
    public ulong ZeroPages { get; init; }

    public long BytesWritten { get; init; }

    public TimeSpan Elapsed { get; init; }

    /// <summary>The save stopped early (disk full, broken pipe, size limit): the output is flagged incomplete.</summary>
    public bool Incomplete { get; init; }

    /// <summary>The dump level the pages were filtered with (a fallback level when -L forced one).</summary>
    public int DumpLevelUsed { get; init; }

    /// <summary>Why the save is incomplete, for messages.</summary>
    public string? Error { get; init; }

    /// <summary>
    /// One past the highest PFN the output covers (makedumpfile's max_mapnr, cut to the last memory section
    /// with a mem_map); 0 when the writer does not say. Pages of the input at or beyond it were dropped on
    /// purpose, as makedumpfile drops them (firmware and device windows such as QEMU's 0xfd000000).
    /// </summary>
    public ulong MaxPfn { get; init; }

    /// <summary>
    /// Of <see cref="CoreCollectorOptions.WatchPfns"/>, the PFNs the writer left out on purpose (filtered by the
    /// dump level, or at or beyond <see cref="MaxPfn"/>); empty when it left none out, null when the writer
    /// cannot tell (then only a dump level above 0 excuses a page missing from the file).
    /// </summary>
    public IReadOnlySet<ulong>? ExcludedSamplePfns { get; init; }
}

/// <summary>
/// The vmcore saver as the dump service drives it: the shape of Fadump.Tools.Collector.DumpSaver.Save, plus
/// the durability report the phyp-dump incremental release needs. Contract, for both overloads: a failed
/// write (ENOSPC, EPIPE) returns <see cref="DumpWriteResult.Incomplete"/> with the output flagged incomplete
/// in its format, or throws an <see cref="IOException"/>; it never leaves a complete-looking file.
/// </summary>
public interface IDumpWriter
{
    /// <summary>
    /// Saves to a local file: created 0600 under a temporary name beside <paramref name="outputPath"/> and
    /// renamed to it when done, also when incomplete (flagged in the format) so that the partial dump is kept.
    /// </summary>
    /// <param name="durableThrough">
    /// When not null, called as the save proceeds with a physical address below which every byte the dump
    /// holds is fsynced in the output (the notes included): memory below it may be released.
    /// </param>
    DumpWriteResult Save(IDump input, string outputPath, CoreCollectorOptions options, Action<ulong>? durableThrough = null, CancellationToken ct = default);

    /// <summary>Streams makedumpfile's flattened format (for ssh); the stream is left open.</summary>
    DumpWriteResult Save(IDump input, Stream flattenedOutput, CoreCollectorOptions options, CancellationToken ct = default);
}
