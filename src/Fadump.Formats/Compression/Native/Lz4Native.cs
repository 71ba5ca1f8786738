using System.Runtime.InteropServices;

namespace Fadump.Formats.Compression.Native;

/// <summary>liblz4 (Debian liblz4-1): LZ4 block format.</summary>
internal static unsafe partial class Lz4Native
{
    public static bool IsAvailable => NativeLibraries.Lz4.IsAvailable;

    /// <summary>LZ4_compress_default: the compressed size, or 0 when it does not fit in dst.</summary>
    public static int CompressDefault(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        fixed (byte* s = &NativeSpan.Ref(src))
        fixed (byte* d = &NativeSpan.Ref(dst))
        {
            return LZ4_compress_default(s, d, src.Length, dst.Length);
        }
    }

    /// <summary>LZ4_decompress_safe: never writes past dst; the decompressed size or a negative error.</summary>
    public static int DecompressSafe(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        fixed (byte* s = &NativeSpan.Ref(src))
        fixed (byte* d = &NativeSpan.Ref(dst))
        {
            return LZ4_decompress_safe(s, d, src.Length, dst.Length);
        }
    }

    public static string Version => Marshal.PtrToStringUTF8(LZ4_versionString()) ?? "?";

    [LibraryImport(NativeLibraries.Lz4Import)]
    private static partial int LZ4_compress_default(byte* src, byte* dst, int srcSize, int dstCapacity);

    [LibraryImport(NativeLibraries.Lz4Import)]
    private static partial int LZ4_decompress_safe(byte* src, byte* dst, int compressedSize, int dstCapacity);

    [LibraryImport(NativeLibraries.Lz4Import)]
    private static partial nint LZ4_versionString();
}
