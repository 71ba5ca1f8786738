using System.Globalization;
using System.IO.Compression;
using Fadump.Formats.Compression.Native;

namespace Fadump.Formats.Compression;

/// <summary>
/// zlib pages: native libz.so.1 with one deflate and one inflate z_stream per thread (allocation-free,
/// output byte-identical to makedumpfile's compress2(Z_BEST_SPEED)); <see cref="ZLibStream"/> when libz is
/// missing (allocates per call, different but compatible output).
/// </summary>
internal static class ZlibCodec
{
    /// <summary>Z_BEST_SPEED, as makedumpfile.</summary>
    public const int Level = 1;

    [ThreadStatic]
    private static ZStreamHandle? t_deflater;

    [ThreadStatic]
    private static ZStreamHandle? t_inflater;

    public static bool IsNative => ZlibNative.IsAvailable;

    /// <summary>compressBound() of zlib 1.2.x.</summary>
    public static int MaxCompressedLength(int n) => checked(n + (n >> 12) + (n >> 14) + (n >> 25) + 13);

    public static int Compress(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        if (!ZlibNative.IsAvailable)
        {
            return CompressManaged(src, dst);
        }

        ZStreamHandle z = t_deflater ??= ZlibNative.CreateDeflater(Level);
        int r = ZlibNative.Deflate(z, src, dst, out int written);
        return r switch
        {
            ZlibNative.Z_STREAM_END => written,
            ZlibNative.Z_OK or ZlibNative.Z_BUF_ERROR => -1,
            _ => throw new InvalidOperationException($"zlib deflate failed: {r}"),
        };
    }

    public static void Decompress(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        if (!ZlibNative.IsAvailable)
        {
            DecompressManaged(src, dst);
            return;
        }

        ZStreamHandle z = t_inflater ??= ZlibNative.CreateInflater();
        int r = ZlibNative.Inflate(z, src, dst, out int written, out int unused, out string? msg);
        switch (r)
        {
            case ZlibNative.Z_STREAM_END when written == dst.Length:
                // Like uncompress(), bytes after the end of the zlib stream are ignored.
                return;
            case ZlibNative.Z_STREAM_END:
                throw PageCodec.WrongLength("zlib", written, dst.Length);
            case ZlibNative.Z_OK or ZlibNative.Z_BUF_ERROR when written == dst.Length && unused > 0:
                throw PageCodec.TooLong("zlib", dst.Length);
            case ZlibNative.Z_OK or ZlibNative.Z_BUF_ERROR:
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"corrupt zlib page: truncated ({src.Length} bytes give only {written} of {dst.Length} bytes and no end of stream)"));
            default:
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"corrupt zlib page: inflate returned {r}{(msg is null ? "" : $" ({msg})")}"));
        }
    }

    internal static int CompressManaged(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        using var ms = new MemoryStream(MaxCompressedLength(src.Length));
        using (var z = new ZLibStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(src);
        }

        if (ms.Length > dst.Length)
        {
            return -1;
        }

        ms.GetBuffer().AsSpan(0, (int)ms.Length).CopyTo(dst);
        return (int)ms.Length;
    }

    internal static void DecompressManaged(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        int total = 0;
        bool more;
        try
        {
            using var ms = new MemoryStream(src.ToArray(), writable: false);
            using var z = new ZLibStream(ms, CompressionMode.Decompress);
            while (total < dst.Length)
            {
                int n = z.Read(dst[total..]);
                if (n == 0)
                {
                    break;
                }

                total += n;
            }

            Span<byte> extra = stackalloc byte[1];
            more = total == dst.Length && z.Read(extra) != 0;
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            throw new InvalidDataException($"corrupt zlib page: {e.Message}", e);
        }

        if (total != dst.Length)
        {
            throw PageCodec.WrongLength("zlib", total, dst.Length);
        }

        if (more)
        {
            throw PageCodec.TooLong("zlib", dst.Length);
        }
    }
}
