namespace Fadump.Formats.IO;

/// <summary>
/// Where a random-access writer (kdump-compressed) puts its bytes: a regular file, or a flattened
/// stream that records each write as an (offset, size) record so that it can go through a pipe.
/// </summary>
public interface IPositionedSink : IDisposable
{
    void Write(long offset, ReadOnlySpan<byte> data);

    /// <summary>Makes everything durable (fsync for files, end marker for flattened streams).</summary>
    void Flush();
}

/// <summary>A regular file written with pwrite.</summary>
public sealed class FileSink : IPositionedSink
{
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _handle;

    public FileSink(Microsoft.Win32.SafeHandles.SafeFileHandle handle) => _handle = handle;

    public void Write(long offset, ReadOnlySpan<byte> data) => RandomAccess.Write(_handle, data, offset);

    public void Flush() => RandomAccess.FlushToDisk(_handle);

    public void Dispose()
    {
    }
}

/// <summary>A growable in-memory sink, for tests and small outputs.</summary>
public sealed class MemorySink : IPositionedSink
{
    private byte[] _data = [];

    public long Length { get; private set; }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        long end = offset + data.Length;
        if (end > _data.Length)
        {
            Array.Resize(ref _data, (int)Math.Max(end, Math.Min(int.MaxValue, (long)_data.Length * 2)));
        }

        data.CopyTo(_data.AsSpan((int)offset));
        Length = Math.Max(Length, end);
    }

    public void Flush()
    {
    }

    public byte[] ToArray() => _data.AsSpan(0, (int)Length).ToArray();

    public void Dispose()
    {
    }
}
