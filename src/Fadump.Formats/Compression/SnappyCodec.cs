using System.Globalization;
using Fadump.Formats.Compression.Native;

namespace Fadump.Formats.Compression;

/// <summary>
/// snappy pages (raw snappy blocks, as snappy_compress writes them): native libsnappy.so.1 when it loads,
/// else the managed IronSnappy (allocates per call, same format).
/// </summary>
internal static class SnappyCodec
{
    public static bool IsNative => SnappyNative.IsAvailable;

    /// <summary>snappy_max_compressed_length: 32 + n + n/6.</summary>
    public static int MaxCompressedLength(int n) => checked(32 + n + (n / 6));

    public static int Compress(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        if (!SnappyNative.IsAvailable)
        {
            return CompressManaged(src, dst);
        }

        // snappy_compress refuses an output smaller than its worst case, even when the result would fit.
        int bound = MaxCompressedLength(src.Length);
        Span<byte> target = dst.Length >= bound ? dst : CodecScratch.Get(bound);
        int r = SnappyNative.Compress(src, target, out int written);
        if (r != SnappyNative.SNAPPY_OK)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"snappy_compress failed: {r} ({SnappyNative.StatusName(r)})"));
        }

        return CodecScratch.Deliver(target, dst, written);
    }

    public static void Decompress(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        if (!SnappyNative.IsAvailable)
        {
            DecompressManaged(src, dst);
            return;
        }

        int r = SnappyNative.UncompressedLength(src, out ulong announced);
        if (r != SnappyNative.SNAPPY_OK)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"corrupt snappy page: snappy_uncompressed_length returned {r} ({SnappyNative.StatusName(r)})"));
        }

        if (announced != (ulong)dst.Length)
        {
            throw PageCodec.WrongLength("snappy", announced, dst.Length);
        }

        r = SnappyNative.Uncompress(src, dst, out int written);
        if (r != SnappyNative.SNAPPY_OK)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"corrupt snappy page: snappy_uncompress returned {r} ({SnappyNative.StatusName(r)})"));
        }

        if (written != dst.Length)
        {
            throw PageCodec.WrongLength("snappy", written, dst.Length);
        }
    }

    internal static int CompressManaged(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        byte[] encoded = IronSnappy.Snappy.Encode(src);
        if (encoded.Length > dst.Length)
        {
            return -1;
        }

        encoded.CopyTo(dst);
        return encoded.Length;
    }

    internal static void DecompressManaged(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        // Check the announced length first: IronSnappy allocates whatever the header says.
        if (!TryReadLength(src, out ulong announced))
        {
            throw new InvalidDataException("corrupt snappy page: invalid length header");
        }

        if (announced != (ulong)dst.Length)
        {
            throw PageCodec.WrongLength("snappy", announced, dst.Length);
        }

        byte[] decoded;
        try
        {
            decoded = IronSnappy.Snappy.Decode(src);
        }
        catch (Exception e) when (e is IOException or ArgumentException or IndexOutOfRangeException or InvalidOperationException or OverflowException)
        {
            throw new InvalidDataException($"corrupt snappy page: {e.Message}", e);
        }

        if (decoded.Length != dst.Length)
        {
            throw PageCodec.WrongLength("snappy", decoded.Length, dst.Length);
        }

        decoded.CopyTo(dst);
    }

    /// <summary>The block's leading little-endian base-128 varint (at most 5 bytes, 32 bits).</summary>
    internal static bool TryReadLength(ReadOnlySpan<byte> src, out ulong length)
    {
        length = 0;
        for (int i = 0; i < 5 && i < src.Length; i++)
        {
            length |= (ulong)(src[i] & 0x7f) << (7 * i);
            if ((src[i] & 0x80) == 0)
            {
                return length <= uint.MaxValue;
            }
        }

        return false;
    }
}
