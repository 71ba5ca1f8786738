using Fadump.Formats.IO;
using Fadump.Machine;

namespace Fadump.Kernel.Sysfs;

/// <summary>
/// /dev/mem: the machine's physical memory as the running kernel reads it (read_mem), RAM only. A read that
/// reaches a hole fails with EFAULT, as the real device does for memory the kernel cannot map. Memory the
/// running kernel reused reads as it is now, not as the crashed kernel left it.
/// </summary>
public sealed class PhysicalMemorySource(PhysicalMemory memory, string path = "/dev/mem") : IRandomAccessSource
{
    public string Name => path;

    public long Length => (long)Math.Min(memory.Top, long.MaxValue);

    public int Read(long offset, Span<byte> buffer)
    {
        if (offset < 0 || offset >= Length || buffer.IsEmpty)
        {
            return 0;
        }

        int n = (int)Math.Min(buffer.Length, Length - offset);
        if (!memory.IsRam((ulong)offset, (ulong)n))
        {
            throw new KernelFileException(path, Errno.EFAULT);
        }

        memory.Read((ulong)offset, buffer[..n]);
        return n;
    }

    public void Dispose()
    {
    }
}
