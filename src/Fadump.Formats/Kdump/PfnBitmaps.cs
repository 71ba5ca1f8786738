namespace Fadump.Formats.Kdump;

/// <summary>
/// A bitmap over page frame numbers that fills its bits on demand, so that a writer never holds O(max_pfn)
/// memory. Bit order is the kdump one: PFN i is bit <c>1 &lt;&lt; (i &amp; 7)</c> of byte <c>i &gt;&gt; 3</c>.
/// Fill must be deterministic: a writer may ask for the same range more than once.
/// </summary>
public interface IPfnBitmap
{
    /// <summary>Fills the bits of PFNs [firstPfn, firstPfn + 8 × bits.Length); firstPfn is a multiple of 8.</summary>
    void Fill(ulong firstPfn, Span<byte> bits);
}

/// <summary>A bitmap held in a byte array; PFNs past its end are clear.</summary>
public sealed class ByteArrayPfnBitmap(byte[] bits) : IPfnBitmap
{
    public void Fill(ulong firstPfn, Span<byte> dest)
    {
        dest.Clear();
        ulong start = firstPfn >> 3;
        if (start < (ulong)bits.Length)
        {
            int n = (int)Math.Min((ulong)dest.Length, (ulong)bits.Length - start);
            bits.AsSpan((int)start, n).CopyTo(dest);
        }
    }
}

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

/// <summary>Another bitmap minus the PFNs a predicate excludes: e.g. RAM minus filtered pages.</summary>
public sealed class ExcludingPfnBitmap(IPfnBitmap source, Func<ulong, bool> exclude) : IPfnBitmap
{
    public void Fill(ulong firstPfn, Span<byte> bits)
    {
        source.Fill(firstPfn, bits);
        for (int i = 0; i < bits.Length; i++)
        {
            byte b = bits[i];
            while (b != 0)
            {
                int bit = System.Numerics.BitOperations.TrailingZeroCount(b);
                b &= (byte)(b - 1);
                if (exclude(firstPfn + ((ulong)i * 8) + (ulong)bit))
                {
                    bits[i] &= (byte)~(1 << bit);
                }
            }
        }
    }
}

internal static class PfnBits
{
    /// <summary>Sets bits [from, to) of an LSB-first bitmap.</summary>
    public static void SetRange(Span<byte> bits, ulong from, ulong to)
    {
        while (from < to && (from & 7) != 0)
        {
            bits[(int)(from >> 3)] |= (byte)(1 << (int)(from & 7));
            from++;
        }

        ulong wholeEnd = to & ~7UL;
        if (from < wholeEnd)
        {
            bits.Slice((int)(from >> 3), (int)((wholeEnd - from) >> 3)).Fill(0xff);
            from = wholeEnd;
        }

        while (from < to)
        {
            bits[(int)(from >> 3)] |= (byte)(1 << (int)(from & 7));
            from++;
        }
    }

    public static bool Test(ReadOnlySpan<byte> bits, ulong bit) => (bits[(int)(bit >> 3)] & (1 << (int)(bit & 7))) != 0;
}
