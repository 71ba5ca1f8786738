using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Fadump.Formats.Compression.Native;

/// <summary>libzstd (Debian libzstd1): ZSTD_compressCCtx / ZSTD_decompressDCtx with reusable contexts.</summary>
internal static unsafe partial class ZstdNative
{
    /// <summary>ZSTD_error_dstSize_tooSmall (zstd_errors.h).</summary>
    public const int ErrorDstSizeTooSmall = 70;

    /// <summary>ZSTD_CONTENTSIZE_UNKNOWN.</summary>
    public const ulong ContentSizeUnknown = ulong.MaxValue;

    /// <summary>ZSTD_CONTENTSIZE_ERROR.</summary>
    public const ulong ContentSizeError = ulong.MaxValue - 1;

    public static bool IsAvailable => NativeLibraries.Zstd.IsAvailable;

    public static ZstdContextHandle CreateCompressionContext()
    {
        var h = new ZstdContextHandle(compression: true);
        h.Attach(ZSTD_createCCtx());
        return h;
    }

    public static ZstdContextHandle CreateDecompressionContext()
    {
        var h = new ZstdContextHandle(compression: false);
        h.Attach(ZSTD_createDCtx());
        return h;
    }

    /// <summary>ZSTD_compressCCtx: returns the compressed size or a zstd error code (see <see cref="IsError"/>).</summary>
    public static nuint Compress(ZstdContextHandle cctx, ReadOnlySpan<byte> src, Span<byte> dst, int level)
    {
        nuint r;
        fixed (byte* s = &NativeSpan.Ref(src))
        fixed (byte* d = &NativeSpan.Ref(dst))
        {
            r = ZSTD_compressCCtx(cctx.DangerousGetHandle(), d, (nuint)dst.Length, s, (nuint)src.Length, level);
        }

        GC.KeepAlive(cctx);
        return r;
    }

    /// <summary>ZSTD_decompressDCtx: bounds-checked; returns the decompressed size or an error code.</summary>
    public static nuint Decompress(ZstdContextHandle dctx, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        nuint r;
        fixed (byte* s = &NativeSpan.Ref(src))
        fixed (byte* d = &NativeSpan.Ref(dst))
        {
            r = ZSTD_decompressDCtx(dctx.DangerousGetHandle(), d, (nuint)dst.Length, s, (nuint)src.Length);
        }

        GC.KeepAlive(dctx);
        return r;
    }

    /// <summary>ZSTD_getFrameContentSize of the first frame: a size, <see cref="ContentSizeUnknown"/> or <see cref="ContentSizeError"/>.</summary>
    public static ulong FrameContentSize(ReadOnlySpan<byte> src)
    {
        fixed (byte* s = &NativeSpan.Ref(src))
        {
            return ZSTD_getFrameContentSize(s, (nuint)src.Length);
        }
    }

    public static bool IsError(nuint code) => ZSTD_isError(code) != 0;

    public static int ErrorCode(nuint code) => ZSTD_getErrorCode(code);

    /// <summary>ZSTD_getErrorName returns a static string: read it, never free it.</summary>
    public static string ErrorName(nuint code) => Marshal.PtrToStringUTF8(ZSTD_getErrorName(code)) ?? "unknown zstd error";

    public static string Version => Marshal.PtrToStringUTF8(ZSTD_versionString()) ?? "?";

    internal static void Free(nint ctx, bool compression)
    {
        if (compression)
        {
            _ = ZSTD_freeCCtx(ctx);
        }
        else
        {
            _ = ZSTD_freeDCtx(ctx);
        }
    }

    [LibraryImport(NativeLibraries.ZstdImport)]
    private static partial nint ZSTD_createCCtx();

    [LibraryImport(NativeLibraries.ZstdImport)]
    private static partial nuint ZSTD_freeCCtx(nint cctx);

    [LibraryImport(NativeLibraries.ZstdImport)]
    private static partial nint ZSTD_createDCtx();

    [LibraryImport(NativeLibraries.ZstdImport)]
    private static partial nuint ZSTD_freeDCtx(nint dctx);

    [LibraryImport(NativeLibraries.ZstdImport)]
    private static partial nuint ZSTD_compressCCtx(nint cctx, byte* dst, nuint dstCapacity, byte* src, nuint srcSize, int compressionLevel);

    [LibraryImport(NativeLibraries.ZstdImport)]
    private static partial nuint ZSTD_decompressDCtx(nint dctx, byte* dst, nuint dstCapacity, byte* src, nuint srcSize);

    [LibraryImport(NativeLibraries.ZstdImport)]
    private static partial ulong ZSTD_getFrameContentSize(byte* src, nuint srcSize);

    [LibraryImport(NativeLibraries.ZstdImport)]
    private static partial uint ZSTD_isError(nuint code);

    [LibraryImport(NativeLibraries.ZstdImport)]
    private static partial int ZSTD_getErrorCode(nuint functionResult);

    [LibraryImport(NativeLibraries.ZstdImport)]
    private static partial nint ZSTD_getErrorName(nuint code);

    [LibraryImport(NativeLibraries.ZstdImport)]
    private static partial nint ZSTD_versionString();
}

/// <summary>A ZSTD_CCtx or ZSTD_DCtx; freed by the finalizer when its (thread-static) owner goes away.</summary>
internal sealed class ZstdContextHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    private readonly bool _compression;

    public ZstdContextHandle(bool compression)
        : base(ownsHandle: true) => _compression = compression;

    internal void Attach(nint ctx)
    {
        if (ctx == 0)
        {
            throw new OutOfMemoryException($"cannot allocate a zstd {(_compression ? "compression" : "decompression")} context");
        }

        SetHandle(ctx);
    }

    protected override bool ReleaseHandle()
    {
        ZstdNative.Free(handle, _compression);
        return true;
    }
}
