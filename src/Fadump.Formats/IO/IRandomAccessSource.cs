namespace Fadump.Formats.IO;

/// <summary>
/// Bytes addressed by offset: a plain file, or the logical file behind a flattened stream.
/// Implementations must be safe for concurrent reads.
/// </summary>
public interface IRandomAccessSource : IDisposable
{
    /// <summary>Name used in error messages (normally the file path).</summary>
    string Name { get; }

    /// <summary>Logical length in bytes.</summary>
    long Length { get; }

    /// <summary>
    /// Bytes of the logical file backed by stored data; the rest reads as zeros. <see cref="Length"/> for a plain
    /// file; for a flattened file the bytes of its records, which may be far fewer than its logical length (a
    /// record at a high offset). Readers size what they allocate and scan from the file by this, not by Length.
    /// </summary>
    long StoredLength => Length;

    /// <summary>Reads up to buffer.Length bytes at offset; returns the count read (short only at the end).</summary>
    int Read(long offset, Span<byte> buffer);
}

public static class RandomAccessSourceExtensions
{
    /// <summary>Reads exactly buffer.Length bytes or throws a <see cref="DumpFormatException"/> naming what was being read.</summary>
    public static void ReadExactly(this IRandomAccessSource source, long offset, Span<byte> buffer, string what)
    {
        if (offset < 0 || offset > source.Length || buffer.Length > source.Length - offset)
        {
            throw new DumpFormatException(source.Name, offset,
                FormattableString.Invariant($"{what}: expected {buffer.Length} bytes, but the file is {source.Length} bytes long (truncated or corrupt)"));
        }

        int total = 0;
        while (total < buffer.Length)
        {
            int n = source.Read(offset + total, buffer[total..]);
            if (n <= 0)
            {
                throw new DumpFormatException(source.Name, offset + total,
                    FormattableString.Invariant($"{what}: unexpected end of file ({buffer.Length - total} bytes missing)"));
            }

            total += n;
        }
    }
}
