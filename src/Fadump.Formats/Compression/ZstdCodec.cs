using Fadump.Formats.Compression.Native;

namespace Fadump.Formats.Compression;

/// <summary>zstd pages: ZSTD_compressCCtx level 1 (as makedumpfile) / ZSTD_decompressDCtx, one context of each per thread.</summary>
internal static class ZstdCodec
{
    /// <summary>makedumpfile: ZSTD_compressCCtx(cctx, ..., 1).</summary>
    public const int Level = 1;

    [ThreadStatic]
    private static ZstdContextHandle? t_cctx;

    [ThreadStatic]
    private static ZstdContextHandle? t_dctx;

    /// <summary>ZSTD_COMPRESSBOUND.</summary>
    public static int MaxCompressedLength(int n) => checked(n + (n >> 8) + (n < (128 << 10) ? ((128 << 10) - n) >> 11 : 0));

    public static int Compress(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        NativeLibraries.Zstd.EnsureAvailable();
        ZstdContextHandle cctx = t_cctx ??= ZstdNative.CreateCompressionContext();

        // libzstd needs some slack: it can fail with dstSize_tooSmall although the frame would just fit.
        // Below the bound, compress into scratch so that -1 means exactly "does not fit".
        int bound = MaxCompressedLength(src.Length);
        Span<byte> target = dst.Length >= bound ? dst : CodecScratch.Get(bound);
        nuint r = ZstdNative.Compress(cctx, src, target, Level);
        if (ZstdNative.IsError(r))
        {
            throw new InvalidOperationException($"ZSTD_compressCCtx failed: {ZstdNative.ErrorName(r)}");
        }

        int written = (int)r;
        return CodecScratch.Deliver(target, dst, written);
    }

    public static void Decompress(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        NativeLibraries.Zstd.EnsureAvailable();
        ulong announced = ZstdNative.FrameContentSize(src);
        if (announced == ZstdNative.ContentSizeError)
        {
            throw new InvalidDataException("corrupt zstd page: no valid zstd frame header");
        }

        if (announced != ZstdNative.ContentSizeUnknown && announced != (ulong)dst.Length)
        {
            throw PageCodec.WrongLength("zstd", announced, dst.Length);
        }

        ZstdContextHandle dctx = t_dctx ??= ZstdNative.CreateDecompressionContext();
        nuint r = ZstdNative.Decompress(dctx, src, dst);
        if (ZstdNative.IsError(r))
        {
            if (ZstdNative.ErrorCode(r) == ZstdNative.ErrorDstSizeTooSmall)
            {
                throw PageCodec.TooLong("zstd", dst.Length);
            }

            throw new InvalidDataException($"corrupt zstd page: ZSTD_decompressDCtx failed: {ZstdNative.ErrorName(r)}");
        }

        if (r != (nuint)dst.Length)
        {
            throw PageCodec.WrongLength("zstd", r, dst.Length);
        }
    }
}
