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
/// from /dev/mem) cannot be filtered: it goes to <see cref="ElfCopyDumpWriter"/>, which also reports how far
/// the output is fsynced so that the memory behind it can be released during the save.
/// </summary>
public sealed class DumpSaverWriter : IDumpWriter
{
    private readonly ElfCopyDumpWriter _unfiltered = new();

    public int DefaultThreads { get; init; } = Environment.ProcessorCount;

    public DumpWriteResult Save(IDump input, string outputPath, CoreCollectorOptions options, Action<ulong>? durableThrough = null, CancellationToken ct = default)
    {
        if (input.VmcoreInfo is null)
        {
            return _unfiltered.Save(input, outputPath, options, durableThrough, ct);
        }

        var r = DumpSaver.Save(input, outputPath, options.ToSaveOptions(DefaultThreads), ct);

        // The saver does not report durability as it goes: the whole file is fsynced when it returns.
        if (!r.Incomplete)
        {
            durableThrough?.Invoke(ulong.MaxValue);
        }

        return Map(r);
    }

    public DumpWriteResult Save(IDump input, Stream flattenedOutput, CoreCollectorOptions options, CancellationToken ct = default) =>
        input.VmcoreInfo is null
            ? _unfiltered.Save(input, flattenedOutput, options, ct)
            : Map(DumpSaver.Save(input, flattenedOutput, options.ToSaveOptions(DefaultThreads), ct));

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
