using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Fadump.Formats.Compression.Native;

/// <summary>
/// zlib (Debian zlib1g) through reusable z_streams, like makedumpfile's initialize_zlib()/compress_mdf():
/// deflateInit(level) once, then deflateReset + deflate(Z_FINISH) per page; output is identical to
/// compress2(). Inflate likewise (inflateReset + inflate(Z_FINISH)), which is what uncompress() does.
/// </summary>
internal static unsafe partial class ZlibNative
{
    public const int Z_OK = 0;
    public const int Z_STREAM_END = 1;
    public const int Z_NEED_DICT = 2;
    public const int Z_BUF_ERROR = -5;
    private const int Z_FINISH = 4;
    private const int Z_DEFLATED = 8;
    private const int MaxWindowBits = 15;
    private const int DefaultMemLevel = 8;
    private const int DefaultStrategy = 0;

    public static bool IsAvailable => NativeLibraries.Zlib.IsAvailable;

    public static string Version => Marshal.PtrToStringUTF8((nint)zlibVersion()) ?? "?";

    /// <summary>deflateInit(strm, level): zlib header, 32 KiB window, memLevel 8, default strategy.</summary>
    public static ZStreamHandle CreateDeflater(int level)
    {
        var h = new ZStreamHandle(inflate: false);
        ZStream* s = (ZStream*)NativeMemory.AllocZeroed((nuint)sizeof(ZStream));
        int r = deflateInit2_(s, level, Z_DEFLATED, MaxWindowBits, DefaultMemLevel, DefaultStrategy, zlibVersion(), sizeof(ZStream));
        if (r != Z_OK)
        {
            NativeMemory.Free(s);
            throw new InvalidOperationException($"zlib deflateInit2_ failed: {r}");
        }

        h.Attach(s);
        return h;
    }

    /// <summary>inflateInit(strm): zlib header, any window up to 32 KiB.</summary>
    public static ZStreamHandle CreateInflater()
    {
        var h = new ZStreamHandle(inflate: true);
        ZStream* s = (ZStream*)NativeMemory.AllocZeroed((nuint)sizeof(ZStream));
        int r = inflateInit2_(s, MaxWindowBits, zlibVersion(), sizeof(ZStream));
        if (r != Z_OK)
        {
            NativeMemory.Free(s);
            throw new InvalidOperationException($"zlib inflateInit2_ failed: {r}");
        }

        h.Attach(s);
        return h;
    }

    /// <summary>
    /// Compresses all of src in one deflate(Z_FINISH) call. Returns Z_STREAM_END when it fit in dst,
    /// Z_OK or Z_BUF_ERROR when dst was too small, another code on failure.
    /// </summary>
    public static int Deflate(ZStreamHandle h, ReadOnlySpan<byte> src, Span<byte> dst, out int written)
    {
        ZStream* z = h.Stream;
        int r = deflateReset(z);
        if (r != Z_OK)
        {
            written = 0;
            return r;
        }

        fixed (byte* s = &NativeSpan.Ref(src))
        fixed (byte* d = &NativeSpan.Ref(dst))
        {
            z->NextIn = s;
            z->AvailIn = (uint)src.Length;
            z->NextOut = d;
            z->AvailOut = (uint)dst.Length;
            r = deflate(z, Z_FINISH);
            written = dst.Length - (int)z->AvailOut;
            z->NextIn = null;
            z->NextOut = null;
        }

        GC.KeepAlive(h);
        return r;
    }

    /// <summary>
    /// Decompresses src in one inflate(Z_FINISH) call into dst (never past it). Returns the inflate code;
    /// unusedInput is what remained of src, message zlib's msg (or null).
    /// </summary>
    public static int Inflate(ZStreamHandle h, ReadOnlySpan<byte> src, Span<byte> dst, out int written, out int unusedInput, out string? message)
    {
        ZStream* z = h.Stream;
        int r = inflateReset(z);
        if (r != Z_OK)
        {
            written = unusedInput = 0;
            message = null;
            return r;
        }

        fixed (byte* s = &NativeSpan.Ref(src))
        fixed (byte* d = &NativeSpan.Ref(dst))
        {
            z->NextIn = s;
            z->AvailIn = (uint)src.Length;
            z->NextOut = d;
            z->AvailOut = (uint)dst.Length;
            r = inflate(z, Z_FINISH);
            written = dst.Length - (int)z->AvailOut;
            unusedInput = (int)z->AvailIn;
            message = z->Msg == null ? null : Marshal.PtrToStringUTF8((nint)z->Msg);
            z->NextIn = null;
            z->NextOut = null;
        }

        GC.KeepAlive(h);
        return r;
    }

    internal static void End(ZStream* z, bool inflate)
    {
        _ = inflate ? inflateEnd(z) : deflateEnd(z);
        NativeMemory.Free(z);
    }

    [LibraryImport(NativeLibraries.ZlibImport)]
    private static partial byte* zlibVersion();

    [LibraryImport(NativeLibraries.ZlibImport)]
    private static partial int deflateInit2_(ZStream* strm, int level, int method, int windowBits, int memLevel, int strategy, byte* version, int streamSize);

    [LibraryImport(NativeLibraries.ZlibImport)]
    private static partial int deflateReset(ZStream* strm);

    [LibraryImport(NativeLibraries.ZlibImport)]
    private static partial int deflate(ZStream* strm, int flush);

    [LibraryImport(NativeLibraries.ZlibImport)]
    private static partial int deflateEnd(ZStream* strm);

    [LibraryImport(NativeLibraries.ZlibImport)]
    private static partial int inflateInit2_(ZStream* strm, int windowBits, byte* version, int streamSize);

    [LibraryImport(NativeLibraries.ZlibImport)]
    private static partial int inflateReset(ZStream* strm);

    [LibraryImport(NativeLibraries.ZlibImport)]
    private static partial int inflate(ZStream* strm, int flush);

    [LibraryImport(NativeLibraries.ZlibImport)]
    private static partial int inflateEnd(ZStream* strm);
}

/// <summary>zlib.h's z_stream (uInt = 32 bits, uLong = C long). Lives in native memory: zlib keeps a pointer to it.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ZStream
{
    public byte* NextIn;
    public uint AvailIn;
    public CULong TotalIn;
    public byte* NextOut;
    public uint AvailOut;
    public CULong TotalOut;
    public byte* Msg;
    public nint State;
    public nint ZAlloc;
    public nint ZFree;
    public nint Opaque;
    public int DataType;
    public CULong Adler;
    public CULong Reserved;
}

/// <summary>An initialised z_stream in native memory; deflateEnd/inflateEnd + free on release.</summary>
internal sealed unsafe class ZStreamHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    private readonly bool _inflate;

    public ZStreamHandle(bool inflate)
        : base(ownsHandle: true) => _inflate = inflate;

    public ZStream* Stream => (ZStream*)handle;

    internal void Attach(ZStream* stream) => SetHandle((nint)stream);

    protected override bool ReleaseHandle()
    {
        ZlibNative.End((ZStream*)handle, _inflate);
        return true;
    }
}
