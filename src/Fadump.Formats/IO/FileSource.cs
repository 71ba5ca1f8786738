using Microsoft.Win32.SafeHandles;

namespace Fadump.Formats.IO;

/// <summary>A regular file read with pread (RandomAccess): thread-safe, no shared position.</summary>
/// <remarks>
/// Anything but a regular file (a symbolic link is followed) is refused before it is opened: opening a FIFO
/// would block until a writer comes, a device has no length. Errors are IOExceptions "PATH: reason".
/// </remarks>
public sealed class FileSource : IRandomAccessSource
{
    private readonly SafeFileHandle _handle;

    public FileSource(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        Name = path;
        var kind = PosixFile.Kind(path, followSymlinks: true);
        switch (kind)
        {
            case FileKind.Regular:
                break;
            case FileKind.Missing:
                throw new IOException($"{path}: No such file or directory", 2);
            case FileKind.Directory:
                throw new IOException($"{path}: Is a directory (expected a dump file)", 21);
            default:
                throw new IOException($"{path}: is {PosixFile.Describe(kind)}, not a regular file: expected a dump file (a flattened dump on a pipe goes to save -R on standard input)", 22);
        }

        try
        {
            _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (UnauthorizedAccessException)
        {
            throw new IOException($"{path}: Permission denied", 13);
        }
        catch (FileNotFoundException)
        {
            throw new IOException($"{path}: No such file or directory", 2);
        }

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
