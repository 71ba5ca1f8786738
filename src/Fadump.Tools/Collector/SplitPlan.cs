using Fadump.Formats.Kdump;
using static System.FormattableString;

namespace Fadump.Tools.Collector;

/// <summary>
/// The PFN ranges of the files of a --split set, chosen as makedumpfile chooses them (setup_splitting,
/// calculate_end_pfn_by_splitblock): memory is cut in splitblocks of --splitblock-size; every file but the last
/// takes whole splitblocks until it holds at least (dumped pages / files) pages, the last takes the rest.
/// </summary>
/// <remarks>
/// makedumpfile keeps a table of the dumped pages of each splitblock and never records the last one when it is
/// partial (get_num_dumpable_cyclic_withsplit writes an entry only when a block is full), so that block counts
/// as empty; reproduced here. Needs no table: the need per file is fixed (num_dumpable / num_dumpfile), so two
/// passes over the dump bitmap (count, then cut) do in constant memory what the table does.
/// </remarks>
internal static class SplitPlan
{
    /// <summary>makedumpfile DEFAULT_SPLITBLOCK_SIZE: 1 GiB.</summary>
    public const long DefaultSplitBlockBytes = 1L << 30;

    private const int WindowBytes = 1 << 16;

    public static IReadOnlyList<(ulong Start, ulong End)> Compute(IPfnBitmap dumped, ulong maxPfn, int files, ulong pagesPerBlock, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(dumped);
        if (files < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(files), files, "a split set has at least two files");
        }

        if (pagesPerBlock == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pagesPerBlock), pagesPerBlock, "a splitblock holds at least one page");
        }

        ulong total = Count(dumped, 0, maxPfn, ct);
        ulong blocks = (maxPfn + pagesPerBlock - 1) / pagesPerBlock;
        long need = (long)(total / (ulong)files);
        var ranges = new List<(ulong Start, ulong End)>(files);
        ulong end = 0, block = 0;
        for (int i = 0; i < files - 1; i++)
        {
            ulong start = end;
            if (start >= maxPfn)
            {
                end = maxPfn;
            }
            else
            {
                long left = need;
                while (block < blocks && left > 0)
                {
                    ulong bs = block * pagesPerBlock;
                    bool full = maxPfn - bs >= pagesPerBlock;
                    left -= full ? (long)Count(dumped, bs, bs + pagesPerBlock, ct) : 0;
                    block++;
                }

                end = Math.Min(block * pagesPerBlock, maxPfn);
            }

            ranges.Add((start, end));
        }

        ranges.Add((end, maxPfn));
        return ranges;
    }

    /// <summary>PFNs set in [start, end), a window at a time.</summary>
    internal static ulong Count(IPfnBitmap bitmap, ulong start, ulong end, CancellationToken ct = default)
    {
        var window = new byte[WindowBytes];
        ulong count = 0;
        ulong first = start & ~7UL;
        while (first < end)
        {
            ct.ThrowIfCancellationRequested();
            ulong span = Math.Min((ulong)WindowBytes * 8, ((end - first) + 7) & ~7UL);
            var bits = window.AsSpan(0, (int)(span / 8));
            bitmap.Fill(first, bits);
            ulong lo = Math.Max(start, first) - first, hi = Math.Min(end, first + span) - first;
            count += CountBits(bits, lo, hi);
            first += span;
        }

        return count;
    }

    /// <summary>Set bits in [lo, hi): whole bytes by population count, the partial ones at the ends bit by bit.</summary>
    private static ulong CountBits(ReadOnlySpan<byte> bits, ulong lo, ulong hi)
    {
        ulong count = 0, i = lo;
        for (; i < hi && (i & 7) != 0; i++)
        {
            count += Bits.Test(bits, i) ? 1UL : 0;
        }

        for (; i + 8 <= hi; i += 8)
        {
            count += (ulong)System.Numerics.BitOperations.PopCount(bits[(int)(i >> 3)]);
        }

        for (; i < hi; i++)
        {
            count += Bits.Test(bits, i) ? 1UL : 0;
        }

        return count;
    }

    /// <summary>--splitblock-size (KiB, as makedumpfile takes it) in pages; refused below one page.</summary>
    public static ulong PagesPerBlock(long splitBlockBytes, int pageSize)
    {
        if (splitBlockBytes < pageSize)
        {
            throw new ArgumentOutOfRangeException(nameof(splitBlockBytes), splitBlockBytes, Invariant($"a splitblock of {splitBlockBytes} bytes is smaller than a {pageSize}-byte page"));
        }

        return (ulong)(splitBlockBytes / pageSize);
    }
}
