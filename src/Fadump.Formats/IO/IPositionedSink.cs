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

    /// <summary>
    /// Makes what was written so far durable before anything written later (fsync for files; nothing for a
    /// stream, whose records arrive in order). Writers call it before they clear the incomplete flag.
    /// </summary>
    void Barrier()
    {
    }
}

/// <summary>A regular file written with pwrite.</summary>
public sealed class FileSink : IPositionedSink
{
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _handle;

    public FileSink(Microsoft.Win32.SafeHandles.SafeFileHandle handle) => _handle = handle;

    public void Write(long offset, ReadOnlySpan<byte> data) => RandomAccess.Write(_handle, data, offset);

    public void Flush() => RandomAccess.FlushToDisk(_handle);

    public void Barrier() => RandomAccess.FlushToDisk(_handle);

    public void Dispose()
    {
    }
}
