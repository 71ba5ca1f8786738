using System.IO.Compression;

namespace Fadump.Formats.Compression;

/// <summary>
/// Compresses and decompresses single pages as makedumpfile does: zlib level 1 (compress2 with
/// Z_BEST_SPEED, zlib header), lzo1x_1, snappy raw, zstd level 1. Static and thread-safe.
/// </summary>
public static partial class PageCodec
{
    /// <summary>
    /// Compresses src into dst. Returns the compressed length, or -1 when the result would not fit
    /// in dst (the caller then stores the page raw, as makedumpfile does when compression does not help).
    /// </summary>
    public static int Compress(PageCompression method, ReadOnlySpan<byte> src, Span<byte> dst) => method switch
    {
        PageCompression.Zlib => CompressZlib(src, dst),
        _ => throw new NotSupportedException($"{method} compression is not available yet"),
    };

    /// <summary>
    /// Decompresses src into exactly dst.Length bytes; throws <see cref="InvalidDataException"/> when the
    /// data is corrupt or decompresses to another length.
    /// </summary>
    public static void Decompress(PageCompression method, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        switch (method)
        {
            case PageCompression.Zlib:
                DecompressZlib(src, dst);
                break;
            default:
                throw new NotSupportedException($"{method} compression is not available yet");
        }
    }

    private static int CompressZlib(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        using var ms = new MemoryStream(src.Length + 64);
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

    private static void DecompressZlib(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        try
        {
            using var ms = new MemoryStream(src.ToArray(), writable: false);
            using var z = new ZLibStream(ms, CompressionMode.Decompress);
            int total = 0;
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
            if (total != dst.Length || z.Read(extra) != 0)
            {
                throw new InvalidDataException($"zlib page decompresses to {(total != dst.Length ? total.ToString(System.Globalization.CultureInfo.InvariantCulture) : "more than " + dst.Length.ToString(System.Globalization.CultureInfo.InvariantCulture))} bytes: expected {dst.Length}");
            }
        }
        catch (InvalidDataException)
        {
            throw;
        }
        catch (Exception e) when (e is IOException)
        {
            throw new InvalidDataException($"corrupt zlib page: {e.Message}", e);
        }
    }
}
