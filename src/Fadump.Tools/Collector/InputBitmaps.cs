using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;

namespace Fadump.Tools.Collector;

/// <summary>
/// What the input says about each PFN: RAM (1st bitmap, or the ELF PT_LOADs) and dumped (2nd bitmap of a
/// kdump-compressed input, so that re-filtering never brings back a page the input excluded; for an ELF input,
/// every RAM page but those a PT_LOAD holds no data for).
/// </summary>
internal static class InputBitmaps
{
    /// <summary>
    /// The input's RAM pages (the output's 1st bitmap). For an ELF input, a page a PT_LOAD covers only in part at
    /// its end (/proc/vmcore's first PT_LOAD ends at the EBDA, 0x9fc00) is RAM exactly when makedumpfile 1.7.2
    /// makes it so: its one-cycle path counts such a page, its cyclic path (create_1st_bitmap_cyclic,
    /// paddr_to_pfn(phys_end)) does not, and it takes the cyclic path whenever the bitmap of
    /// <paramref name="maxPfn"/> pages is not a whole number of bytes (max_mapnr 0x3ffd9 of a 1 GiB QEMU guest),
    /// or memory is short. The second condition is not modelled: it depends on the free memory of the machine.
    /// A --split save is always cyclic: calculate_cyclic_buffer_size divides the bitmap buffer by the number of
    /// files, so a cycle covers at most max_mapnr / 2 pages (checked against makedumpfile 1.7.2: 2 and 3 files).
    /// </summary>
    public static IPfnBitmap Ram(IDump dump, ulong maxPfn, bool cyclic = false) => Kdump(dump) is { } k
        ? new KdumpFileBitmap(k.Source, k.Header.Bitmap1Offset, k.MaxPfn)
        : maxPfn % 8 == 0 && !cyclic
            ? new RangePfnBitmap(dump.MemoryRanges(), dump.PageSize)
            : RangePfnBitmap.FromPfnRuns(dump.MemoryRanges()
                .Select(r => (Start: r.Start / (ulong)dump.PageSize, End: r.End / (ulong)dump.PageSize))
                .Where(r => r.End > r.Start));

    /// <summary>The input's dumped pages, or null when every RAM page is.</summary>
    public static IPfnBitmap? Dumped(IDump dump) => Kdump(dump) is { } k
        ? new KdumpFileBitmap(k.Source, k.Header.Bitmap2Offset, k.MaxPfn)
        : dump is ElfDump e ? ElfWithData(e) : null;

    /// <summary>
    /// makedumpfile's exclude_nodata_pages: from the page of p_paddr + p_filesz up to p_paddr + p_memsz rounded up,
    /// a PT_LOAD's pages are not dumped. That is the part past p_filesz (which reads as zeros), and also the last
    /// page of a segment that ends inside it: /proc/vmcore's PT_LOADs follow the byte-granular e820 map, and the
    /// first one ends at the EBDA (0x9fc00), so PFN 0x9f is not dumped (whether it is RAM: see <see cref="Ram"/>).
    /// Null when no PT_LOAD has such pages.
    /// </summary>
    private static RangePfnBitmap? ElfWithData(ElfDump e)
    {
        ulong ps = (ulong)e.PageSize;
        var noData = e.Elf.Loads
            .Select(l => (Start: (l.PhysicalAddress + l.FileSize) / ps, End: (l.PhysicalEnd + ps - 1) / ps))
            .Where(r => r.Start < r.End).OrderBy(r => r.Start).ToList();
        if (noData.Count == 0)
        {
            return null;
        }

        var keep = new List<(ulong Start, ulong End)>();
        ulong at = 0;
        foreach (var (s, end) in noData)
        {
            if (s > at)
            {
                keep.Add((at, s));
            }

            at = Math.Max(at, end);
        }

        keep.Add((at, ulong.MaxValue));
        return RangePfnBitmap.FromPfnRuns(keep);
    }

    private static KdumpCompressedDump? Kdump(IDump dump) => dump switch
    {
        KdumpCompressedDump k => k,
        KdumpSplitSet s => s.Parts[0],   // every file of a split set holds the complete bitmaps
        _ => null,
    };

    /// <summary>One bitmap of a kdump-compressed file, read straight from the file.</summary>
    private sealed class KdumpFileBitmap(IRandomAccessSource src, long offset, ulong maxPfn) : IPfnBitmap
    {
        public void Fill(ulong firstPfn, Span<byte> bits)
        {
            bits.Clear();
            if (firstPfn >= maxPfn)
            {
                return;
            }

            ulong bytesLeft = ((maxPfn + 7) / 8) - (firstPfn / 8);
            int n = (int)Math.Min((ulong)bits.Length, bytesLeft);
            src.ReadExactly(offset + (long)(firstPfn / 8), bits[..n], "kdump bitmap");
        }
    }
}
