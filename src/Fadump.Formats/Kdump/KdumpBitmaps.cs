using System.Collections.Concurrent;
using System.Numerics;
using Fadump.Formats.IO;
using static System.FormattableString;

namespace Fadump.Formats.Kdump;

/// <summary>
/// The two bitmaps of a kdump-compressed file, read on demand through a small bounded cache, and the rank
/// index over the 2nd bitmap: per <see cref="KdumpLayout.RankChunkBits"/> PFNs, the count of dumped PFNs
/// before the chunk. The index is built on first use by one bounded pass over both bitmaps, which also checks
/// that every dumped PFN is RAM (set in the 1st bitmap). Thread-safe.
/// </summary>
internal sealed class KdumpBitmaps
{
    private const int CacheBlockBytes = 4096;
    private const int CacheCapacity = 64;
    private const int ScanBytes = 1 << 20;

    private readonly IRandomAccessSource _src;
    private readonly KdumpHeader _header;
    private readonly ConcurrentDictionary<long, byte[]> _cache1 = new();
    private readonly ConcurrentDictionary<long, byte[]> _cache2 = new();
    private readonly Lock _indexLock = new();
    private ulong[]? _rank;

    public KdumpBitmaps(IRandomAccessSource src, KdumpHeader header)
    {
        _src = src;
        _header = header;
        MaxPfn = header.MaxMapnr;
    }

    public ulong MaxPfn { get; }

    public bool IsRam(ulong pfn) => pfn < MaxPfn && TestBit(_cache1, _header.Bitmap1Offset, pfn);

    public bool IsDumped(ulong pfn) => pfn < MaxPfn && TestBit(_cache2, _header.Bitmap2Offset, pfn);

    /// <summary>File offset of the 2nd-bitmap byte holding a PFN's bit (for error messages).</summary>
    public long Bitmap2ByteOffset(ulong pfn) => _header.Bitmap2Offset + (long)(pfn >> 3);

    /// <summary>Count of dumped PFNs in [0, pfn).</summary>
    public ulong Rank(ulong pfn)
    {
        if (pfn > MaxPfn)
        {
            pfn = MaxPfn;
        }

        ulong[] rank = GetIndex();
        ulong chunk = pfn / KdumpLayout.RankChunkBits;
        ulong count = rank[chunk];
        ulong first = chunk * KdumpLayout.RankChunkBits;
        if (first == pfn)
        {
            return count;
        }

        // Popcount of the chunk's bits below pfn; the chunk is 512 bytes inside one cache block.
        long byteStart = (long)(first >> 3);
        long byteEnd = (long)(pfn >> 3);
        byte[] block = GetBlock(_cache2, _header.Bitmap2Offset, byteStart / CacheBlockBytes);
        int inBlock = (int)(byteStart % CacheBlockBytes);
        var bytes = block.AsSpan(inBlock, (int)(byteEnd - byteStart));
        count += PopCount(bytes);
        int rem = (int)(pfn & 7);
        if (rem != 0)
        {
            count += (ulong)BitOperations.PopCount((uint)(block[inBlock + bytes.Length] & ((1 << rem) - 1)));
        }

        return count;
    }

    /// <summary>Count of dumped PFNs below <see cref="MaxPfn"/>.</summary>
    public ulong DumpedCount => Rank(MaxPfn);

    /// <summary>Runs [start, end) of PFNs set in one bitmap, ascending, read in bounded blocks.</summary>
    public IEnumerable<(ulong Start, ulong End)> Runs(bool dumped)
    {
        long baseOffset = dumped ? _header.Bitmap2Offset : _header.Bitmap1Offset;
        long totalBytes = (long)((MaxPfn + 7) / 8);
        var buf = new byte[(int)Math.Min(ScanBytes, Math.Max(totalBytes, 1))];
        ulong runStart = 0;
        bool inRun = false;
        for (long pos = 0; pos < totalBytes; pos += buf.Length)
        {
            int n = (int)Math.Min(buf.Length, totalBytes - pos);
            _src.ReadExactly(baseOffset + pos, buf.AsSpan(0, n), dumped ? "2nd bitmap" : "1st bitmap");
            int i = 0;
            while (i < n)
            {
                // Whole bytes continue the current state quickly; mixed bytes go bit by bit.
                byte skip = inRun ? (byte)0xff : (byte)0;
                int next = buf.AsSpan(i, n - i).IndexOfAnyExcept(skip);
                if (next < 0)
                {
                    break;
                }

                i += next;
                byte b = buf[i];
                for (int bit = 0; bit < 8; bit++)
                {
                    ulong pfn = ((ulong)(pos + i) << 3) + (ulong)bit;
                    if (pfn >= MaxPfn)
                    {
                        break;
                    }

                    bool set = (b & (1 << bit)) != 0;
                    if (set && !inRun)
                    {
                        runStart = pfn;
                        inRun = true;
                    }
                    else if (!set && inRun)
                    {
                        yield return (runStart, pfn);
                        inRun = false;
                    }
                }

                i++;
            }
        }

        if (inRun)
        {
            yield return (runStart, MaxPfn);
        }
    }

    private ulong[] GetIndex()
    {
        var rank = Volatile.Read(ref _rank);
        if (rank is not null)
        {
            return rank;
        }

        lock (_indexLock)
        {
            _rank ??= BuildIndex();
            return _rank;
        }
    }

    private ulong[] BuildIndex()
    {
        ulong chunks = (MaxPfn + KdumpLayout.RankChunkBits - 1) / KdumpLayout.RankChunkBits;
        var rank = new ulong[chunks + 1];
        long totalBytes = (long)((MaxPfn + 7) / 8);
        const int chunkBytes = KdumpLayout.RankChunkBits / 8;
        var b1 = new byte[(int)Math.Min(ScanBytes, Math.Max(totalBytes, 1))];
        var b2 = new byte[b1.Length];
        ulong count = 0;
        ulong chunk = 0;
        for (long pos = 0; pos < totalBytes; pos += b1.Length)
        {
            int n = (int)Math.Min(b1.Length, totalBytes - pos);
            _src.ReadExactly(_header.Bitmap1Offset + pos, b1.AsSpan(0, n), "1st bitmap");
            _src.ReadExactly(_header.Bitmap2Offset + pos, b2.AsSpan(0, n), "2nd bitmap");
            if (pos + n == totalBytes && (MaxPfn & 7) != 0)
            {
                // Bits past max_mapnr in the last byte are padding: ignore them.
                byte keep = (byte)((1 << (int)(MaxPfn & 7)) - 1);
                b1[n - 1] &= keep;
                b2[n - 1] &= keep;
            }

            CheckSubset(b1.AsSpan(0, n), b2.AsSpan(0, n), pos);
            for (int c = 0; c < n; c += chunkBytes)
            {
                rank[chunk++] = count;
                count += PopCount(b2.AsSpan(c, Math.Min(chunkBytes, n - c)));
            }
        }

        rank[chunks] = count;
        return rank;
    }

    private void CheckSubset(ReadOnlySpan<byte> b1, ReadOnlySpan<byte> b2, long pos)
    {
        for (int i = 0; i < b1.Length; i++)
        {
            int bad = b2[i] & ~b1[i];
            if (bad != 0)
            {
                ulong pfn = ((ulong)(pos + i) << 3) + (ulong)BitOperations.TrailingZeroCount(bad);
                throw new DumpFormatException(_src.Name, _header.Bitmap2Offset + pos + i,
                    Invariant($"PFN 0x{pfn:x} is set in the 2nd bitmap (dumped) but not in the 1st (RAM): expected every dumped page to be RAM"));
            }
        }
    }

    private static ulong PopCount(ReadOnlySpan<byte> bytes)
    {
        ulong n = 0;
        int i = 0;
        for (; i + 8 <= bytes.Length; i += 8)
        {
            n += (ulong)BitOperations.PopCount(System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes[i..]));
        }

        for (; i < bytes.Length; i++)
        {
            n += (ulong)BitOperations.PopCount(bytes[i]);
        }

        return n;
    }

    private bool TestBit(ConcurrentDictionary<long, byte[]> cache, long baseOffset, ulong pfn)
    {
        long byteIndex = (long)(pfn >> 3);
        byte[] block = GetBlock(cache, baseOffset, byteIndex / CacheBlockBytes);
        return (block[byteIndex % CacheBlockBytes] & (1 << (int)(pfn & 7))) != 0;
    }

    private byte[] GetBlock(ConcurrentDictionary<long, byte[]> cache, long baseOffset, long blockIndex)
    {
        if (cache.TryGetValue(blockIndex, out var block))
        {
            return block;
        }

        // Bitmaps are validated to lie inside the file; a block is cut at the bitmap's end and zero-padded.
        block = new byte[CacheBlockBytes];
        long start = blockIndex * CacheBlockBytes;
        int n = (int)Math.Min(CacheBlockBytes, _header.BitmapBytes - start);
        _src.ReadExactly(baseOffset + start, block.AsSpan(0, n), baseOffset == _header.Bitmap1Offset ? "1st bitmap" : "2nd bitmap");
        if (cache.Count >= CacheCapacity)
        {
            cache.Clear();
        }

        cache[blockIndex] = block;
        return block;
    }
}
