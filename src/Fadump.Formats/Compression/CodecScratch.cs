namespace Fadump.Formats.Compression;

/// <summary>
/// Per-thread scratch output for codecs that need a worst-case sized output buffer (lzo, snappy) when the
/// caller's dst is smaller. Grows to the largest size asked for on the thread and is then reused.
/// </summary>
internal static class CodecScratch
{
    [ThreadStatic]
    private static byte[]? t_buffer;

    public static Span<byte> Get(int size)
    {
        byte[]? b = t_buffer;
        if (b is null || b.Length < size)
        {
            b = new byte[Math.Max(size, 8192)];
            t_buffer = b;
        }

        return b.AsSpan(0, size);
    }

    /// <summary>
    /// The end of a compression into <see cref="Get"/>'s buffer or straight into dst: -1 when the result
    /// does not fit in dst, else the length, copied into dst if it was compressed elsewhere.
    /// </summary>
    public static int Deliver(Span<byte> target, Span<byte> dst, int written)
    {
        if (written > dst.Length)
        {
            return -1;
        }

        if (target != dst)
        {
            target[..written].CopyTo(dst);
        }

        return written;
    }
}
