using System.Runtime.InteropServices;

namespace Fadump.Formats.Compression.Native;

/// <summary>libsnappy (Debian libsnappy1v5) through its C API (snappy-c.h): raw snappy blocks.</summary>
internal static unsafe partial class SnappyNative
{
    public const int SNAPPY_OK = 0;
    public const int SNAPPY_INVALID_INPUT = 1;
    public const int SNAPPY_BUFFER_TOO_SMALL = 2;

    public static bool IsAvailable => NativeLibraries.Snappy.IsAvailable;

    /// <summary>snappy_compress; dst must hold snappy_max_compressed_length(src) bytes (the library checks).</summary>
    public static int Compress(ReadOnlySpan<byte> src, Span<byte> dst, out int written)
    {
        nuint outLen = (nuint)dst.Length;
        int r;
        fixed (byte* s = &NativeSpan.Ref(src))
        fixed (byte* d = &NativeSpan.Ref(dst))
        {
            r = snappy_compress(s, (nuint)src.Length, d, &outLen);
        }

        written = r == SNAPPY_OK ? (int)outLen : 0;
        return r;
    }

    /// <summary>snappy_uncompressed_length: the length the block header announces.</summary>
    public static int UncompressedLength(ReadOnlySpan<byte> src, out ulong length)
    {
        nuint len = 0;
        int r;
        fixed (byte* s = &NativeSpan.Ref(src))
        {
            r = snappy_uncompressed_length(s, (nuint)src.Length, &len);
        }

        length = len;
        return r;
    }

    /// <summary>snappy_uncompress: bounds-checked, never writes past dst.</summary>
    public static int Uncompress(ReadOnlySpan<byte> src, Span<byte> dst, out int written)
    {
        nuint outLen = (nuint)dst.Length;
        int r;
        fixed (byte* s = &NativeSpan.Ref(src))
        fixed (byte* d = &NativeSpan.Ref(dst))
        {
            r = snappy_uncompress(s, (nuint)src.Length, d, &outLen);
        }

        written = r == SNAPPY_OK ? (int)Math.Min(outLen, (nuint)dst.Length) : 0;
        return r;
    }

    public static string StatusName(int status) => status switch
    {
        SNAPPY_OK => "SNAPPY_OK",
        SNAPPY_INVALID_INPUT => "SNAPPY_INVALID_INPUT",
        SNAPPY_BUFFER_TOO_SMALL => "SNAPPY_BUFFER_TOO_SMALL",
        _ => "unknown snappy status",
    };

    [LibraryImport(NativeLibraries.SnappyImport)]
    private static partial int snappy_compress(byte* input, nuint inputLength, byte* compressed, nuint* compressedLength);

    [LibraryImport(NativeLibraries.SnappyImport)]
    private static partial int snappy_uncompress(byte* compressed, nuint compressedLength, byte* uncompressed, nuint* uncompressedLength);

    [LibraryImport(NativeLibraries.SnappyImport)]
    private static partial int snappy_uncompressed_length(byte* compressed, nuint compressedLength, nuint* result);
}
