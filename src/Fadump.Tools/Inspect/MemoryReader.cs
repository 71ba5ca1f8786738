using Fadump.Formats;

namespace Fadump.Tools.Inspect;

/// <summary>Reads dump memory by physical or kernel virtual address.</summary>
public static class MemoryReader
{
    /// <summary>Returns the count of bytes read before the first unreadable one.</summary>
    public static int Read(IDump dump, ulong address, Span<byte> buffer, bool physical) =>
        physical ? dump.ReadPhysical(address, buffer) : KernelAddressSpace.Create(dump).ReadVirtual(address, buffer);
}
