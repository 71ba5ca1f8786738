using System.Buffers.Binary;
using Fadump.Formats.IO;
using static System.FormattableString;

namespace Fadump.Formats.Flattened;

/// <summary>makedumpfile -R: turns a flattened stream back into the random-access file it describes.</summary>
public static class FlattenedRearranger
{
    private const int CopyBufferSize = 1 << 20;

    /// <summary>
    /// Reads a flattened stream sequentially (a pipe or stdin is fine: it never seeks) and writes each record at
    /// its offset; later records overwrite earlier ones. Flushes the output after the end marker. A stream that
    /// ends before the end marker is a <see cref="DumpFormatException"/> naming the stream offset.
    /// Returns the logical length (the highest record end).
    /// </summary>
    public static long Rearrange(Stream input, IPositionedSink output, string name = "<stdin>")
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        long pos = 0;
        var header = new byte[FlattenedLayout.HeaderSize];
        pos += ReadFull(input, header, name, pos, "flattened header");
        FlattenedSource.CheckHeader(header, name, 0);

        var buf = new byte[CopyBufferSize];
        var rh = new byte[FlattenedLayout.RecordHeaderSize];
        long length = 0;
        while (true)
        {
            long at = pos;
            pos += ReadFull(input, rh, name, pos, "flattened record header (or the end marker -1, -1)");
            long offset = BinaryPrimitives.ReadInt64BigEndian(rh.AsSpan(FlattenedLayout.RecordOffset));
            long size = BinaryPrimitives.ReadInt64BigEndian(rh.AsSpan(FlattenedLayout.RecordSize));
            if (offset == FlattenedLayout.EndFlag && size == FlattenedLayout.EndFlag)
            {
                break;
            }

            FlattenedSource.RecordCheck(name, at, offset, size, -1, allowTruncated: false, out _);
            long left = size;
            while (left > 0)
            {
                int n = (int)Math.Min(buf.Length, left);
                pos += ReadFull(input, buf.AsMemory(0, n), name, pos, Invariant($"data of the flattened record at stream offset 0x{at:x}"));
                output.Write(offset + (size - left), buf.AsSpan(0, n));
                left -= n;
            }

            length = Math.Max(length, offset + size);
        }

        output.Flush();
        return length;
    }

    private static int ReadFull(Stream input, Memory<byte> buffer, string name, long pos, string what)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = input.Read(buffer.Span[total..]);
            if (n == 0)
            {
                throw new DumpFormatException(name, pos + total,
                    Invariant($"{what}: expected {buffer.Length} bytes, but the stream ends after {total} (truncated stream?)"));
            }

            total += n;
        }

        return total;
    }
}
