namespace Fadump.Formats.Kdump;

/// <summary>
/// PFNs of pages that overlap physical ranges (a page partly inside a range counts, as makedumpfile rounds
/// PT_LOAD starts down). Ranges may be unsorted and overlap.
/// </summary>
public sealed class RangePfnBitmap : IPfnBitmap
{
    private readonly (ulong Start, ulong End)[] _pfnRuns;

    public RangePfnBitmap(IEnumerable<PhysicalRange> ranges, int pageSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        var runs = new List<(ulong Start, ulong End)>();
        foreach (var r in ranges.Where(r => r.End > r.Start).OrderBy(r => r.Start))
        {
            ulong s = r.Start / (ulong)pageSize;
            ulong e = (r.End / (ulong)pageSize) + (r.End % (ulong)pageSize != 0 ? 1UL : 0UL);
            if (runs.Count > 0 && s <= runs[^1].End)
            {
                runs[^1] = (runs[^1].Start, Math.Max(runs[^1].End, e));
            }
            else
            {
                runs.Add((s, e));
            }
        }

        _pfnRuns = [.. runs];
    }

    /// <summary>A bitmap of PFN runs [Start, End).</summary>
    public static RangePfnBitmap FromPfnRuns(IEnumerable<(ulong Start, ulong End)> runs) =>
        new(runs.Select(r => new PhysicalRange(r.Start, r.End)), 1);

    public void Fill(ulong firstPfn, Span<byte> bits)
    {
        bits.Clear();
        ulong last = firstPfn + ((ulong)bits.Length * 8);
        int lo = 0, hi = _pfnRuns.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_pfnRuns[mid].End <= firstPfn)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        for (int i = lo; i < _pfnRuns.Length && _pfnRuns[i].Start < last; i++)
        {
            ulong s = Math.Max(_pfnRuns[i].Start, firstPfn) - firstPfn;
            ulong e = Math.Min(_pfnRuns[i].End, last) - firstPfn;
            PfnBits.SetRange(bits, s, e);
        }
    }
}
