using Microsoft.Win32.SafeHandles;

namespace Fadump.Formats.IO;

/// <summary>A regular file read with pread (RandomAccess): thread-safe, no shared position.</summary>
public sealed class FileSource : IRandomAccessSource
{
    private readonly SafeFileHandle _handle;

    public FileSource(string path)
    {
        Name = path;
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        Length = RandomAccess.GetLength(_handle);
    }

    public string Name { get; }

    public long Length { get; }

    public int Read(long offset, Span<byte> buffer)
    {
        if (offset >= Length)
        {
            return 0;
        }

        return RandomAccess.Read(_handle, buffer, offset);
    }

    public void Dispose() => _handle.Dispose();
}

/// <summary>An in-memory source, for tests and small embedded dumps.</summary>
public sealed class MemorySource(byte[] data, string name = "<memory>") : IRandomAccessSource
{
    public string Name => name;

    public long Length => data.Length;

    public int Read(long offset, Span<byte> buffer)
    {
        if (offset >= data.Length)
        {
            return 0;
        }

        int n = (int)Math.Min(buffer.Length, data.Length - offset);
        data.AsSpan((int)offset, n).CopyTo(buffer);
        return n;
    }

    public void Dispose()
    {
    }
}
