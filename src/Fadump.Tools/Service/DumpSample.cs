using System.Globalization;
using Fadump.Formats;
using Fadump.Formats.Hashing;

namespace Fadump.Tools.Service;

/// <summary>
/// Checks a saved dump against its source by reading it back. The source pages are sampled (hashed) before
/// the save starts, because the source may be gone by the time the save ends (a phyp dump releases memory
/// while saving; the running kernel reuses it at once). Addresses are compared physically, so that the saved
/// file may use another page size (a dump without VMCOREINFO opens with the architecture's default).
/// </summary>
public sealed class DumpSample
{
    public const int DefaultCount = 256;

    private readonly List<SampledPage> _pages;

    private DumpSample(DumpMachine machine, int pageSize, List<SampledPage> pages, List<PhysicalRange> ranges)
    {
        Machine = machine;
        PageSize = pageSize;
        _pages = pages;
        Ranges = ranges;
    }

    public DumpMachine Machine { get; }

    public int PageSize { get; }

    public IReadOnlyList<PhysicalRange> Ranges { get; }

    public int Count => _pages.Count;

    /// <summary>The sampled PFNs (in the source's page size), for the writer to report which it left out on purpose.</summary>
    public IReadOnlyCollection<ulong> Pfns => [.. _pages.Select(p => p.Address / (ulong)PageSize)];

    /// <summary>Hashes the first and last page of every range and <paramref name="count"/> pages spread evenly over all of them.</summary>
    public static DumpSample Take(IDump source, int count = DefaultCount)
    {
        ArgumentNullException.ThrowIfNull(source);
        ulong ps = (ulong)source.PageSize;
        var ranges = source.MemoryRanges().ToList();
        var pfns = new SortedSet<ulong>();
        ulong total = 0;
        foreach (var r in ranges)
        {
            ulong first = r.Start / ps, last = (r.End - 1) / ps;
            pfns.Add(first);
            pfns.Add(last);
            total += last - first + 1;
        }

        if (total > 0 && count > 0)
        {
            ulong stride = Math.Max(1, total / (ulong)count);
            ulong k = stride / 2;
            foreach (var r in ranges)
            {
                ulong first = r.Start / ps, last = (r.End - 1) / ps;
                ulong n = last - first + 1;
                for (; k < n; k += stride)
                {
                    pfns.Add(first + k);
                }

                k -= n;
            }
        }

        var page = new byte[ps];
        var pages = new List<SampledPage>();
        foreach (ulong pfn in pfns)
        {
            if (source.ReadPage(pfn, page) == PageState.Dumped)
            {
                pages.Add(new SampledPage(pfn * ps, Sha256.HashData(page), !page.AsSpan().ContainsAnyExcept((byte)0)));
            }
        }

        return new DumpSample(source.Machine, source.PageSize, pages, ranges);
    }

    /// <summary>
    /// Compares the saved dump with the sample. Returns the problems found (empty: verified). A sampled page
    /// must be in the file with the source's bytes unless the writer says it left the page out on purpose
    /// (<see cref="DumpWriteResult.ExcludedSamplePfns"/>: filtered by the dump level, or beyond the last
    /// section with a mem_map, as makedumpfile drops QEMU's device windows). A writer that cannot tell is
    /// excused only by a dump level above 0, or by an excluded zero page.
    /// </summary>
    public IReadOnlyList<string> Verify(IDump saved, DumpWriteResult result)
    {
        ArgumentNullException.ThrowIfNull(saved);
        ArgumentNullException.ThrowIfNull(result);
        var problems = new List<string>();
        if (saved.IsIncomplete)
        {
            problems.Add($"{saved.Path}: the file is flagged incomplete");
        }

        if (saved.Machine.Arch != Machine.Arch)
        {
            problems.Add($"{saved.Path}: architecture {saved.Machine}, the source is {Machine}");
        }

        if (result.DumpedPages > 0 && saved is IPageCounts counts && counts.DumpedPageCount != result.DumpedPages
            && !(saved.Format == DumpFormat.KdumpCompressed && counts.DumpedPageCount == result.DumpedPages + result.ZeroPages))
        {
            problems.Add(Invariant($"{saved.Path}: {counts.DumpedPageCount} pages in the file, the saver wrote {result.DumpedPages}"));
        }

        var savedRanges = saved.MemoryRanges().ToList();
        if (result.DumpLevelUsed == 0)
        {
            // What the writer covers: makedumpfile's max_mapnr; memory above it is dropped on purpose.
            ulong scopeEnd = result.MaxPfn > 0 ? result.MaxPfn * (ulong)PageSize : ulong.MaxValue;
            foreach (var r in Ranges)
            {
                ulong end = Math.Min(r.End, scopeEnd);
                if (r.Start < end && !savedRanges.Any(s => s.Start <= r.Start && s.End >= end))
                {
                    problems.Add(Invariant($"{saved.Path}: the source's memory 0x{r.Start:x}-0x{end:x} is not wholly in the file"));
                }
            }
        }

        var buf = new byte[PageSize];
        var savedPage = new byte[saved.PageSize];
        int compared = 0, leftOut = 0;
        foreach (var p in _pages)
        {
            ulong? missing = ReadSparse(saved, savedRanges, Ranges, p.Address, buf);
            if (missing is null)
            {
                if (!Sha256.HashData(buf).AsSpan().SequenceEqual(p.Hash))
                {
                    problems.Add(Invariant($"{saved.Path}: the page at physical 0x{p.Address:x} differs from the source"));
                }

                compared++;
                continue;
            }

            var state = saved.ReadPage(missing.Value / (ulong)saved.PageSize, savedPage);
            bool onPurpose = result.ExcludedSamplePfns is { } excluded
                ? excluded.Contains(p.Address / (ulong)PageSize)
                : state == PageState.Excluded && (result.DumpLevelUsed != 0 || p.IsZero);
            if (onPurpose)
            {
                leftOut++;
            }
            else
            {
                problems.Add(Invariant($"{saved.Path}: physical 0x{missing.Value:x} is {Describe(state)} in the file, but the source has it and the saver did not filter it out"));
            }
        }

        ComparedPages = compared;
        FilteredPages = leftOut;
        return problems;
    }

    /// <summary>Pages compared byte for byte by the last <see cref="Verify"/>.</summary>
    public int ComparedPages { get; private set; }

    /// <summary>Sampled pages the last <see cref="Verify"/> found left out of the file on purpose.</summary>
    public int FilteredPages { get; private set; }

    /// <summary>
    /// Reads a page of physical memory as the source's ReadPage does: bytes in gaps between the source's
    /// ranges (a PT_LOAD cut at an unaligned address) read as zeros. Returns null, or the first address that
    /// the source has and the dump does not hold (a filtered or lost page: inside one of the dump's ranges but
    /// unreadable, or in none of them, as a filtered ELF leaves it), or the address itself when no byte of the
    /// page is in the dump.
    /// </summary>
    private static ulong? ReadSparse(IDump dump, List<PhysicalRange> ranges, IReadOnlyList<PhysicalRange> sourceRanges, ulong address, Span<byte> buffer)
    {
        int pos = 0, covered = 0;
        while (pos < buffer.Length)
        {
            ulong a = address + (ulong)pos;
            int n = dump.ReadPhysical(a, buffer[pos..]);
            if (n > 0)
            {
                pos += n;
                covered += n;
                continue;
            }

            if (ranges.Any(r => a >= r.Start && a < r.End) || sourceRanges.Any(r => a >= r.Start && a < r.End))
            {
                return a;
            }

            ulong next = ranges.Concat(sourceRanges).Where(r => r.Start > a).Select(r => r.Start).DefaultIfEmpty(ulong.MaxValue).Min();
            int gap = (int)Math.Min((ulong)(buffer.Length - pos), next - a);
            buffer.Slice(pos, gap).Clear();
            pos += gap;
        }

        return covered > 0 ? null : address;
    }

    private static string Describe(PageState s) => s switch
    {
        PageState.Excluded => "excluded",
        PageState.Lost => "lost",
        PageState.NotPresent => "not present",
        _ => "unreadable",
    };

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private sealed record SampledPage(ulong Address, byte[] Hash, bool IsZero);
}
