namespace Fadump.Tools.Collector;

/// <summary>PFNs [Start, End).</summary>
internal readonly record struct PfnSpan(ulong Start, ulong End);

/// <summary>
/// The PT_LOADs of an ELF output, from the final dump bitmap (makedumpfile write_elf_header: a run of 256 or
/// more excluded pages (PFN_EXCLUDED) ends a segment, shorter runs stay inside it, written with their bytes
/// from the input ("those pages are not excluded"); a hole
/// always ends one). Built in one bounded pass over the bitmap, a window of chunks at a time.
/// </summary>
internal static class ElfSegments
{
    /// <summary>PFN_EXCLUDED.</summary>
    public const ulong MinExcludedRun = 256;

    /// <summary>PN_XNUM − 2: what our ELF writer accepts besides the PT_NOTE.</summary>
    private const int MaxSegments = 0xffff - 2;

    public static List<PfnSpan> Build(PageFilter filter, ulong maxPfn, int threads, Action<ulong>? progress)
    {
        // Pass 1: the bitmap, computed in parallel windows; segments from a sequential walk of it.
        var spans = new List<PfnSpan>();
        var ram = new byte[PageFilter.ChunkPfns / 8];
        int window = Math.Max(1, threads * 2);
        var bits = new byte[window * (int)(PageFilter.ChunkPfns / 8)];
        ulong threshold = MinExcludedRun;
        ulong? start = null;
        ulong lastDumped = 0, gap = 0;
        bool hole = false;
        for (ulong first = 0; first < maxPfn; first += (ulong)window * PageFilter.ChunkPfns)
        {
            filter.Fill(first, bits);
            for (int c = 0; c < window; c++)
            {
                ulong cFirst = first + ((ulong)c * PageFilter.ChunkPfns);
                if (cFirst >= maxPfn)
                {
                    break;
                }

                ulong n = Math.Min(PageFilter.ChunkPfns, maxPfn - cFirst);
                var cb = bits.AsSpan(c * ram.Length, ram.Length);
                filter.RamBitmap.Fill(cFirst, ram);
                ulong pos = 0;
                while (pos < n)
                {
                    ulong next = Bits.NextSet(cb, pos, n);
                    if (Bits.NextClear(ram, pos, next) < next)
                    {
                        hole = true;
                    }

                    gap += next - pos;
                    if (next >= n)
                    {
                        break;
                    }

                    ulong pfn = cFirst + next;
                    if (start is null || hole || gap >= threshold)
                    {
                        if (start is { } s)
                        {
                            spans.Add(new PfnSpan(s, lastDumped + 1));
                        }

                        start = pfn;
                    }

                    ulong runEnd = Bits.NextClear(cb, next, n);
                    lastDumped = cFirst + runEnd - 1;
                    gap = 0;
                    hole = false;
                    pos = runEnd;
                }
            }

            progress?.Invoke(Math.Min(maxPfn, first + ((ulong)window * PageFilter.ChunkPfns)));
        }

        if (start is { } last)
        {
            spans.Add(new PfnSpan(last, lastDumped + 1));
        }

        return spans.Count <= MaxSegments ? spans : Coarsen(spans);
    }

    /// <summary>
    /// Too many segments for the ELF header (a badly fragmented bitmap on a huge machine): merge neighbours
    /// pairwise until they fit. The pages between them are written as the input has them (zeros for holes).
    /// </summary>
    private static List<PfnSpan> Coarsen(List<PfnSpan> spans)
    {
        while (spans.Count > MaxSegments)
        {
            var merged = new List<PfnSpan>((spans.Count / 2) + 1);
            for (int i = 0; i < spans.Count; i += 2)
            {
                merged.Add(i + 1 < spans.Count ? new PfnSpan(spans[i].Start, spans[i + 1].End) : spans[i]);
            }

            spans = merged;
        }

        return spans;
    }
}
