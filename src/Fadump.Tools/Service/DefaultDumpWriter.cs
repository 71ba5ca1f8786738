using Fadump.Formats;
using Fadump.Tools.Collector;

namespace Fadump.Tools.Service;

/// <summary>The vmcore writer the dump service uses unless <see cref="CollectOptions.Writer"/> says otherwise.</summary>
public static class DefaultDumpWriter
{
    public static IDumpWriter Create() => new DumpSaverWriter();
}

/// <summary>
/// The dump service's writer: makedumpfile's job done by <see cref="DumpSaver"/> (filtering from struct page,
/// parallel compression, kdump-compressed, ELF or flattened). A dump without VMCOREINFO (a phyp dump read
/// from /dev/mem without its VMCOREINFO) cannot be filtered: it goes to <see cref="ElfCopyDumpWriter"/>. Both
/// report how far the output is fsynced as they go, so that the memory behind it can be released during the save.
/// </summary>
public sealed class DumpSaverWriter : IDumpWriter
{

    public int DefaultThreads { get; init; } = Environment.ProcessorCount;

    /// <summary>The saver's progress (scanning, then writing), for a display; null: none.</summary>
    public IProgress<SaveProgress>? Progress { get; init; }

    /// <summary>Output bytes between two durability reports of the filtering saver (each an fsync).</summary>
    public long DurableReportBytes { get; init; } = 64L << 20;

    public DumpWriteResult Save(IDump input, string outputPath, CoreCollectorOptions options, Action<ulong>? durableThrough = null, CancellationToken ct = default)
    {
        if (input.VmcoreInfo is null)
        {
            return Unfiltered.Save(input, outputPath, options, durableThrough, ct);
        }

        // The saver reports durability every DurableReportBytes of output, and ulong.MaxValue once committed.
        var r = DumpSaver.Save(input, outputPath, options.ToSaveOptions(DefaultThreads, Progress) with { DurableThrough = durableThrough, DurableReportBytes = DurableReportBytes }, ct);
        return Map(r);
    }

    public DumpWriteResult Save(IDump input, Stream flattenedOutput, CoreCollectorOptions options, CancellationToken ct = default) =>
        input.VmcoreInfo is null
            ? Unfiltered.Save(input, flattenedOutput, options, ct)
            : Map(DumpSaver.Save(input, flattenedOutput, options.ToSaveOptions(DefaultThreads, Progress), ct));

    private ElfCopyDumpWriter Unfiltered => new() { DurableReportBytes = DurableReportBytes };

    private static DumpWriteResult Map(SaveResult r) => new()
    {
        TotalPages = r.TotalPages,
        DumpedPages = r.DumpedPages,
        ZeroPages = r.ExcludedByClass.TryGetValue(PageClassNames.Zero, out ulong zero) ? zero : 0,
        BytesWritten = r.BytesWritten,
        Elapsed = r.Elapsed,
        Incomplete = r.Incomplete,
        DumpLevelUsed = r.DumpLevelUsed,
        Error = r.Error,
        MaxPfn = r.MaxPfn,
        ExcludedSamplePfns = r.ExcludedWatchedPfns,
    };
}
