using System.Globalization;
using System.Security.Cryptography;
using Fadump.Formats;

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
                pages.Add(new SampledPage(pfn * ps, SHA256.HashData(page), !page.AsSpan().ContainsAnyExcept((byte)0)));
            }
        }

        return new DumpSample(source.Machine, source.PageSize, pages, ranges);
    }

    /// <summary>
    /// Compares the saved dump with the sample. Returns the problems found (empty: verified). Pages the saver
    /// filtered out (dump level above 0) are accepted but not compared; a page missing or different is not.
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

        if (result.DumpedPages > 0 && saved is IPageCounts counts && counts.DumpedPageCount != result.DumpedPages)
        {
            problems.Add(Invariant($"{saved.Path}: {counts.DumpedPageCount} pages in the file, the saver wrote {result.DumpedPages}"));
        }

        if (result.DumpLevelUsed == 0)
        {
            var savedRanges = saved.MemoryRanges().ToList();
            foreach (var r in Ranges)
            {
                if (!savedRanges.Any(s => s.Start <= r.Start && s.End >= r.End))
                {
                    problems.Add(Invariant($"{saved.Path}: the source's memory 0x{r.Start:x}-0x{r.End:x} is not wholly in the file"));
                }
            }
        }

        var buf = new byte[PageSize];
        var savedPage = new byte[saved.PageSize];
        int compared = 0;
        foreach (var p in _pages)
        {
            int n = saved.ReadPhysical(p.Address, buf);
            if (n == buf.Length)
            {
                if (!SHA256.HashData(buf).AsSpan().SequenceEqual(p.Hash))
                {
                    problems.Add(Invariant($"{saved.Path}: the page at physical 0x{p.Address:x} differs from the source"));
                }

                compared++;
                continue;
            }

            var state = saved.ReadPage((p.Address + (ulong)n) / (ulong)saved.PageSize, savedPage);
            bool filtered = state == PageState.Excluded && (result.DumpLevelUsed != 0 || p.IsZero);
            if (!filtered)
            {
                problems.Add(Invariant($"{saved.Path}: the page at physical 0x{p.Address:x} is {state.ToString().ToLowerInvariant()} in the file, the source has it"));
            }
        }

        ComparedPages = compared;
        return problems;
    }

    /// <summary>Pages compared byte for byte by the last <see cref="Verify"/>.</summary>
    public int ComparedPages { get; private set; }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private sealed record SampledPage(ulong Address, byte[] Hash, bool IsZero);
}
