using Fadump.Formats;
using Fadump.Machine;

namespace Fadump.Kernel.Structures;

/// <summary>Writes kernel variables into RAM at linear-map addresses, in the kernel's byte order.</summary>
public sealed class KernelMemoryWriter(PhysicalMemory memory, bool bigEndian)
{
    public PhysicalMemory Memory => memory;

    public bool BigEndian => bigEndian;

    public static ulong ToPhys(ulong vaddr) => vaddr - Ppc64KernelLayout.KernelBase;

    public void U64(ulong vaddr, ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        Endian.Write(b, v, bigEndian);
        memory.Write(ToPhys(vaddr), b);
    }

    public void U32(ulong vaddr, uint v)
    {
        Span<byte> b = stackalloc byte[4];
        Endian.Write(b, v, bigEndian);
        memory.Write(ToPhys(vaddr), b);
    }

    public void U16(ulong vaddr, ushort v)
    {
        Span<byte> b = stackalloc byte[2];
        Endian.Write(b, v, bigEndian);
        memory.Write(ToPhys(vaddr), b);
    }

    public void Bytes(ulong vaddr, ReadOnlySpan<byte> data) => memory.Write(ToPhys(vaddr), data);

    public ulong ReadU64(ulong vaddr)
    {
        Span<byte> b = stackalloc byte[8];
        memory.Read(ToPhys(vaddr), b);
        return Endian.U64(b, bigEndian);
    }
}
