using Fadump.Machine;

namespace Fadump.Kernel.Mm;

/// <summary>
/// Interval arithmetic over physical ranges, the one home for it (memblock's merge, the crash
/// memory ranges of kexec, the ELF core header's PT_LOADs): sort and merge, subtract, intersect, align.
/// Every result is sorted, non-overlapping and free of empty ranges.
/// </summary>
public static class Ranges
{
    /// <summary>Sorted, with overlapping and touching ranges merged; empty ranges dropped.</summary>
    public static List<MemoryRange> Merge(IEnumerable<MemoryRange> ranges)
    {
        var list = ranges.Where(r => r.Size > 0).OrderBy(r => r.Start).ToList();
        var merged = new List<MemoryRange>(list.Count);
        foreach (var r in list)
        {
            if (merged.Count > 0 && merged[^1].End >= r.Start)
            {
                merged[^1] = MemoryRange.FromBounds(merged[^1].Start, Math.Max(merged[^1].End, r.End));
            }
            else
            {
                merged.Add(r);
            }
        }

        return merged;
    }

    /// <summary>What of <paramref name="from"/> no range of <paramref name="remove"/> covers.</summary>
    public static List<MemoryRange> Subtract(IEnumerable<MemoryRange> from, IEnumerable<MemoryRange> remove)
    {
        var cut = Merge(remove);
        var result = new List<MemoryRange>();
        foreach (var r in Merge(from))
        {
            ulong start = r.Start;
            foreach (var c in cut)
            {
                if (c.End <= start || c.Start >= r.End)
                {
                    continue;
                }

                if (c.Start > start)
                {
                    result.Add(MemoryRange.FromBounds(start, c.Start));
                }

                start = Math.Max(start, c.End);
                if (start >= r.End)
                {
                    break;
                }
            }

            if (start < r.End)
            {
                result.Add(MemoryRange.FromBounds(start, r.End));
            }
        }

        return result;
    }

    /// <summary>The parts of <paramref name="ranges"/> inside <paramref name="window"/>.</summary>
    public static List<MemoryRange> Intersect(IEnumerable<MemoryRange> ranges, MemoryRange window)
    {
        var result = new List<MemoryRange>();
        foreach (var r in Merge(ranges))
        {
            ulong s = Math.Max(r.Start, window.Start), e = Math.Min(r.End, window.End);
            if (s < e)
            {
                result.Add(MemoryRange.FromBounds(s, e));
            }
        }

        return result;
    }

    public static ulong Total(IEnumerable<MemoryRange> ranges) => ranges.Aggregate(0UL, (s, r) => s + r.Size);

    /// <summary>Rounds up to a multiple of <paramref name="align"/> (any positive value, not only powers of two).</summary>
    public static ulong AlignUp(ulong v, ulong align) => (v + align - 1) / align * align;

    public static ulong AlignDown(ulong v, ulong align) => v / align * align;
}
