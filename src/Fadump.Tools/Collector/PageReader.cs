using System.Buffers;
using Fadump.Formats;
using Fadump.Formats.Elf;

namespace Fadump.Tools.Collector;

/// <summary>Reads runs of pages with as few, as large reads as the input format allows.</summary>
internal static class PageReader
{
    /// <summary>Reads are at most this large (and at least one page).</summary>
    public const int MaxReadBytes = 1 << 20;

    /// <summary>
    /// Reads pages [pfn, pfn + count) into dest. ELF inputs are read with one positioned read per covered
    /// stretch; other formats page by page (they decompress per page anyway). Pages not in the input read as
    /// zeros.
    /// </summary>
    public static void Read(IDump dump, ulong pfn, int count, Span<byte> dest)
    {
        int ps = dump.PageSize;
        int done = 0;
        if (dump is ElfDump)
        {
            int n = dump.ReadPhysical(pfn * (ulong)ps, dest[..(count * ps)]);
            done = n / ps;
            if (done == count)
            {
                return;
            }
        }

        for (int i = done; i < count; i++)
        {
            dump.ReadPage(pfn + (ulong)i, dest.Slice(i * ps, ps));
        }
    }
}

/// <summary>makedumpfile exclude_zero_pages: reads the pages a bitmap keeps and clears those filled with zeros.</summary>
internal static class ZeroPages
{
    public static ulong Exclude(IDump dump, ulong first, Span<byte> bits)
    {
        int ps = dump.PageSize;
        int maxPages = Math.Max(1, PageReader.MaxReadBytes / ps);
        byte[] buf = ArrayPool<byte>.Shared.Rent(maxPages * ps);
        ulong zero = 0;
        try
        {
            ulong total = (ulong)bits.Length * 8;
            ulong i = 0;
            while (i < total)
            {
                if ((i & 7) == 0)
                {
                    int nz = bits[(int)(i >> 3)..].IndexOfAnyExcept((byte)0);
                    if (nz < 0)
                    {
                        break;
                    }

                    i += (ulong)nz * 8;
                }

                if (!Test(bits, i))
                {
                    i++;
                    continue;
                }

                ulong runEnd = i + 1;
                while (runEnd < total && runEnd - i < (ulong)maxPages && Test(bits, runEnd))
                {
                    runEnd++;
                }

                int count = (int)(runEnd - i);
                PageReader.Read(dump, first + i, count, buf.AsSpan(0, count * ps));
                for (int k = 0; k < count; k++)
                {
                    if (!buf.AsSpan(k * ps, ps).ContainsAnyExcept((byte)0))
                    {
                        ulong b = i + (ulong)k;
                        bits[(int)(b >> 3)] &= (byte)~(1 << (int)(b & 7));
                        zero++;
                    }
                }

                i = runEnd;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }

        return zero;
    }

    private static bool Test(ReadOnlySpan<byte> bits, ulong bit) => (bits[(int)(bit >> 3)] & (1 << (int)(bit & 7))) != 0;
}
