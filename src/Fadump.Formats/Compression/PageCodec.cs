using System.Globalization;
using Fadump.Formats.Compression.Native;

namespace Fadump.Formats.Compression;

/// <summary>
/// Compresses and decompresses single pages exactly as makedumpfile does:
/// <list type="bullet">
/// <item><see cref="PageCompression.Zlib"/>: deflate level 1 (Z_BEST_SPEED) with zlib header through libz.so.1,
/// byte-identical to compress2(); managed <see cref="System.IO.Compression.ZLibStream"/> if libz is missing.</item>
/// <item><see cref="PageCompression.Lzo"/>: lzo1x_1_compress / lzo1x_decompress_safe of liblzo2.so.2 (liblzo2-2).</item>
/// <item><see cref="PageCompression.Snappy"/>: raw snappy through libsnappy.so.1 (libsnappy1v5); managed IronSnappy
/// if it is missing.</item>
/// <item><see cref="PageCompression.Zstd"/>: ZSTD_compressCCtx level 1 / ZSTD_decompressDCtx of libzstd.so.1 (libzstd1).</item>
/// </list>
/// Static and thread-safe. Native state (z_streams, zstd contexts, LZO work memory, scratch output) is kept
/// per thread, so the native paths allocate nothing per call after a thread's first page.
/// </summary>
public static class PageCodec
{
    /// <summary>
    /// Compresses src into dst. Returns the compressed length, or -1 when the result does not fit in dst.
    /// </summary>
    /// <remarks>
    /// Whether compressing is worth it is the caller's decision. makedumpfile stores a page raw unless its
    /// compressed size is smaller than the page (<c>size_out &lt; page_size</c>); to get exactly that, pass a dst
    /// of <c>pageSize - 1</c> bytes and store the page raw when this returns -1. A dst of
    /// <see cref="GetMaxCompressedLength"/> bytes never gives -1 (and saves lzo and snappy a copy
    /// through a scratch buffer, as their libraries need worst-case sized outputs).
    /// </remarks>
    /// <exception cref="CodecUnavailableException">The method's native library is missing (lzo, zstd).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="method"/> is not a single compression method.</exception>
    public static int Compress(PageCompression method, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        if (dst.IsEmpty)
        {
            ThrowIfUnknown(method);
            return -1;
        }

        return method switch
        {
            PageCompression.Zlib => ZlibCodec.Compress(src, dst),
            PageCompression.Lzo => LzoCodec.Compress(src, dst),
            PageCompression.Snappy => SnappyCodec.Compress(src, dst),
            PageCompression.Zstd => ZstdCodec.Compress(src, dst),
            _ => throw NotAMethod(method),
        };
    }

    /// <summary>
    /// Decompresses src into exactly dst.Length bytes; never writes past dst.
    /// Throws <see cref="InvalidDataException"/> (naming the codec and the problem) when the data is corrupt
    /// or decompresses to another length. Bytes after the end of a zlib stream are ignored, as uncompress()
    /// does; the other codecs reject trailing data, as their libraries do.
    /// </summary>
    /// <exception cref="CodecUnavailableException">The method's native library is missing (lzo, zstd).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="method"/> is not a single compression method.</exception>
    public static void Decompress(PageCompression method, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        if (src.IsEmpty)
        {
            ThrowIfUnknown(method);
            if (method != PageCompression.None)
            {
                throw new InvalidDataException($"corrupt {Name(method)} page: empty input");
            }
        }

        switch (method)
        {
            case PageCompression.Zlib:
                ZlibCodec.Decompress(src, dst);
                break;
            case PageCompression.Lzo:
                LzoCodec.Decompress(src, dst);
                break;
            case PageCompression.Snappy:
                SnappyCodec.Decompress(src, dst);
                break;
            case PageCompression.Zstd:
                ZstdCodec.Decompress(src, dst);
                break;
            default:
                throw NotAMethod(method);
        }
    }

    /// <summary>
    /// Whether <paramref name="method"/> can be used here. False with a reason naming the missing library and
    /// its Debian package, e.g. <c>lzo compression needs liblzo2.so.2: install the Debian package liblzo2-2</c>.
    /// Zlib and snappy are always available (managed fallbacks); None needs nothing.
    /// </summary>
    public static bool IsAvailable(PageCompression method, out string? reason)
    {
        switch (method)
        {
            case PageCompression.None:
            case PageCompression.Zlib:
            case PageCompression.Snappy:
                reason = null;
                return true;
            case PageCompression.Lzo:
                return LzoCodec.IsAvailable(out reason);
            case PageCompression.Zstd:
                reason = NativeLibraries.Zstd.UnavailableReason;
                return reason is null;
            default:
                reason = UnknownMessage(method);
                return false;
        }
    }

    /// <summary>The largest output <paramref name="length"/> input bytes can compress to with <paramref name="method"/>.</summary>
    public static int GetMaxCompressedLength(PageCompression method, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return method switch
        {
            PageCompression.Zlib => ZlibCodec.MaxCompressedLength(length),
            PageCompression.Lzo => LzoCodec.MaxCompressedLength(length),
            PageCompression.Snappy => SnappyCodec.MaxCompressedLength(length),
            PageCompression.Zstd => ZstdCodec.MaxCompressedLength(length),
            _ => throw NotAMethod(method),
        };
    }

    /// <summary>Which implementation serves <paramref name="method"/>, e.g. "liblzo2.so.2 2.10" or "IronSnappy (managed)".</summary>
    public static string DescribeImplementation(PageCompression method) => method switch
    {
        PageCompression.None => "none",
        PageCompression.Zlib => ZlibNative.IsAvailable ? $"{NativeLibraries.Zlib.LoadedName} {ZlibNative.Version}" : "System.IO.Compression.ZLibStream (managed)",
        PageCompression.Lzo => LzoCodec.IsAvailable(out string? r) ? $"{NativeLibraries.Lzo.LoadedName} {LzoNative.Version}" : r!,
        PageCompression.Snappy => SnappyNative.IsAvailable ? $"{NativeLibraries.Snappy.LoadedName}" : "IronSnappy (managed)",
        PageCompression.Zstd => NativeLibraries.Zstd.IsAvailable ? $"{NativeLibraries.Zstd.LoadedName} {ZstdNative.Version}" : NativeLibraries.Zstd.UnavailableReason!,
        _ => UnknownMessage(method),
    };

    internal static string Name(PageCompression method) => method switch
    {
        PageCompression.Zlib => "zlib",
        PageCompression.Lzo => "lzo",
        PageCompression.Snappy => "snappy",
        PageCompression.Zstd => "zstd",
        _ => method.ToString(),
    };

    internal static InvalidDataException WrongLength(string codec, ulong actual, int expected) =>
        new(string.Create(CultureInfo.InvariantCulture, $"{codec} page decompresses to {actual} bytes: expected {expected}"));

    internal static InvalidDataException WrongLength(string codec, long actual, int expected) =>
        WrongLength(codec, (ulong)actual, expected);

    internal static InvalidDataException TooLong(string codec, int expected) =>
        new(string.Create(CultureInfo.InvariantCulture, $"{codec} page decompresses to more than {expected} bytes: expected {expected}"));

    private static void ThrowIfUnknown(PageCompression method)
    {
        if (method is not (PageCompression.None or PageCompression.Zlib or PageCompression.Lzo or PageCompression.Snappy or PageCompression.Zstd))
        {
            throw NotAMethod(method);
        }
    }

    private static ArgumentOutOfRangeException NotAMethod(PageCompression method) =>
        new(nameof(method), method, method == PageCompression.None ? "PageCompression.None is not a compression method" : UnknownMessage(method));

    private static string UnknownMessage(PageCompression method) =>
        string.Create(CultureInfo.InvariantCulture, $"unknown page compression 0x{(int)method:x}");
}
