using System.Globalization;
using Fadump.Formats.Compression.Native;

namespace Fadump.Formats.Compression;

/// <summary>lzo pages: lzo1x_1_compress / lzo1x_decompress_safe of native liblzo2.so.2.</summary>
internal static class LzoCodec
{
    [ThreadStatic]
    private static byte[]? t_workMemory;

    public static bool IsAvailable(out string? reason) => LzoNative.IsAvailable(out reason);

    public static int MaxCompressedLength(int n) => LzoNative.MaxCompressedLength(n);

    public static int Compress(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        EnsureAvailable();
        byte[] work = t_workMemory ??= new byte[LzoNative.WorkMemorySize];
        int bound = LzoNative.MaxCompressedLength(src.Length);

        // lzo1x_1_compress has no output limit: compress into a worst-case buffer unless dst is one.
        Span<byte> target = dst.Length >= bound ? dst : CodecScratch.Get(bound);
        int r = LzoNative.Compress(src, target, work, out int written);
        if (r != LzoNative.LZO_E_OK)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"lzo1x_1_compress failed: {r} ({LzoNative.ErrorName(r)})"));
        }

        return CodecScratch.Deliver(target, dst, written);
    }

    public static void Decompress(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        EnsureAvailable();
        int r = LzoNative.DecompressSafe(src, dst, out int written);
        if (r != LzoNative.LZO_E_OK)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"corrupt lzo page: lzo1x_decompress_safe returned {r} ({LzoNative.ErrorName(r)})"));
        }

        if (written != dst.Length)
        {
            throw PageCodec.WrongLength("lzo", written, dst.Length);
        }
    }

    private static void EnsureAvailable()
    {
        if (!LzoNative.IsAvailable(out string? reason))
        {
            throw new CodecUnavailableException(reason!);
        }
    }
}
