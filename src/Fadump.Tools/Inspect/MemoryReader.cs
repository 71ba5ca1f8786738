using Fadump.Formats;

namespace Fadump.Tools.Inspect;

/// <summary>Reads dump memory by physical or kernel virtual address.</summary>
public static class MemoryReader
{
    public static int Read(IDump dump, ulong address, Span<byte> buffer, bool physical)
    {
        if (physical)
        {
            return dump.ReadPhysical(address, buffer);
        }

        throw new NotSupportedException("virtual addresses are not supported yet");
    }
}
