using Fadump.Formats.IO;
using Microsoft.Win32.SafeHandles;

namespace Fadump.Tools.Sysroot;

/// <summary>
/// A character device read with pread at any offset (/dev/mem: offset = physical address). Its size is not
/// known (stat says 0), so <see cref="Length"/> is unbounded and a read past the end returns what the device gives.
/// </summary>
public sealed class DeviceSource : IRandomAccessSource
{
    private readonly SafeFileHandle _handle;

    public DeviceSource(string path)
    {
        Name = path;
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
    }

    public string Name { get; }

    public long Length => long.MaxValue;

    public int Read(long offset, Span<byte> buffer) => RandomAccess.Read(_handle, buffer, offset);

    public void Dispose() => _handle.Dispose();
}
