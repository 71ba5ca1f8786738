using Fadump.Formats;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;

namespace Fadump.Tools.Collector;

/// <summary>
/// What the input says about each PFN: RAM (1st bitmap, or the ELF PT_LOADs) and dumped (2nd bitmap of a
/// kdump-compressed input, so that re-filtering never brings back a page the input excluded).
/// </summary>
internal static class InputBitmaps
{
    public static IPfnBitmap Ram(IDump dump) => Kdump(dump) is { } k
        ? new KdumpFileBitmap(k.Source, k.Header.Bitmap1Offset, k.MaxPfn)
        : new RangePfnBitmap(dump.MemoryRanges(), dump.PageSize);

    /// <summary>The input's dumped pages, or null when every RAM page is (ELF).</summary>
    public static IPfnBitmap? Dumped(IDump dump) => Kdump(dump) is { } k
        ? new KdumpFileBitmap(k.Source, k.Header.Bitmap2Offset, k.MaxPfn)
        : null;

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
