namespace Fadump.Formats.IO;

/// <summary>A growable in-memory sink, for tests and small dumps. Unwritten gaps read as zeros.</summary>
public sealed class MemorySink : IPositionedSink
{
    private byte[] _buffer = new byte[4096];

    public long Length { get; private set; }

    public int FlushCount { get; private set; }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (data.IsEmpty)
        {
            return;
        }

        long end = offset + data.Length;
        if (end > Array.MaxLength)
        {
            throw new IOException("MemorySink is limited to 2 GiB");
        }

        if (end > _buffer.Length)
        {
            Array.Resize(ref _buffer, (int)Math.Min(Array.MaxLength, Math.Max(end, (long)_buffer.Length * 2)));
        }

        data.CopyTo(_buffer.AsSpan((int)offset));
        Length = Math.Max(Length, end);
    }

    public void Flush() => FlushCount++;

    public byte[] ToArray() => _buffer.AsSpan(0, (int)Length).ToArray();

    public void Dispose()
    {
    }
}
