using System.Globalization;
using Fadump.Formats.Compression.Native;

namespace Fadump.Formats.Compression;

/// <summary>
/// LZ4 block format (no frame, no length header) through native liblz4.so.1 (Debian liblz4-1):
/// LZ4_compress_default / LZ4_decompress_safe. Not a kdump page compression; used by Fadump's own
/// formats. Static and thread-safe.
/// </summary>
public static class Lz4Codec
{
    /// <summary>LZ4_COMPRESSBOUND: the largest block <paramref name="length"/> input bytes can give.</summary>
    public static int GetMaxCompressedLength(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return checked(length + (length / 255) + 16);
    }

    /// <summary>Whether liblz4 can be loaded; otherwise <paramref name="reason"/> says what to install.</summary>
    public static bool IsAvailable(out string? reason)
    {
        reason = NativeLibraries.Lz4.UnavailableReason;
        return reason is null;
    }

    /// <summary>
    /// Compresses src into dst as one LZ4 block. Returns the block length, or -1 when it does not fit in
    /// dst. A dst of <see cref="GetMaxCompressedLength"/> bytes always fits and saves a copy through a
    /// per-thread scratch buffer.
    /// </summary>
    /// <exception cref="CodecUnavailableException">liblz4 is missing.</exception>
    public static int Compress(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        NativeLibraries.Lz4.EnsureAvailable();
        if (dst.IsEmpty)
        {
            return -1;
        }

        // LZ4's limited-output checks keep a few bytes of margin, so a block that would just fit can fail:
        // below the bound, compress into scratch so that -1 means exactly "does not fit".
        int bound = GetMaxCompressedLength(src.Length);
        Span<byte> target = dst.Length >= bound ? dst : CodecScratch.Get(bound);
        int n = Lz4Native.CompressDefault(src, target);
        if (n <= 0)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"LZ4_compress_default failed on {src.Length} bytes"));
        }

        if (n > dst.Length)
        {
            return -1;
        }

        if (target != dst)
        {
            target[..n].CopyTo(dst);
        }

        return n;
    }

    /// <summary>
    /// Decompresses one LZ4 block into exactly dst.Length bytes. Never writes past dst; throws
    /// <see cref="InvalidDataException"/> when the block is corrupt or decompresses to another length.
    /// </summary>
    /// <exception cref="CodecUnavailableException">liblz4 is missing.</exception>
    public static void Decompress(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        NativeLibraries.Lz4.EnsureAvailable();
        if (src.IsEmpty)
        {
            throw new InvalidDataException("corrupt lz4 block: empty input");
        }

        int n = Lz4Native.DecompressSafe(src, dst);
        if (n < 0)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"corrupt lz4 block: LZ4_decompress_safe returned {n} (malformed, or decompresses to more than {dst.Length} bytes)"));
        }

        if (n != dst.Length)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"lz4 block decompresses to {n} bytes: expected {dst.Length}"));
        }
    }
}
