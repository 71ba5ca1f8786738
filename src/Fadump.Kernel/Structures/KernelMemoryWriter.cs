using Fadump.Formats;
using Fadump.Kernel.Arch;
using Fadump.Machine;

namespace Fadump.Kernel.Structures;

/// <summary>Writes kernel variables into RAM at kernel virtual addresses (__pa through the arch), in the arch's byte order.</summary>
public sealed class KernelMemoryWriter(PhysicalMemory memory, KernelArch arch)
{
    private readonly bool _bigEndian = arch.BigEndian;

    public PhysicalMemory Memory => memory;

    public KernelArch Arch => arch;

    public bool BigEndian => _bigEndian;

    public ulong ToPhys(ulong vaddr) => arch.ToPhys(vaddr);

    /// <summary>
    /// Physical ranges the kernel's page tables map read-only (kexec's crash region once an image is loaded:
    /// arch_kexec_protect_crashkres). A write there is the page fault a real kernel takes.
    /// </summary>
    public Func<ulong, ulong, bool>? ReadOnly { get; set; }

    private void Store(ulong vaddr, ReadOnlySpan<byte> data)
    {
        ulong pa = ToPhys(vaddr);
        if (ReadOnly is { } ro && ro(pa, (ulong)data.Length))
        {
            throw new Kexec.CrashRegionProtectionException(pa, (ulong)data.Length);
        }

        memory.Write(pa, data);
    }

    public void U64(ulong vaddr, ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        Endian.Write(b, v, _bigEndian);
        Store(vaddr, b);
    }

    public void U32(ulong vaddr, uint v)
    {
        Span<byte> b = stackalloc byte[4];
        Endian.Write(b, v, _bigEndian);
        Store(vaddr, b);
    }

    public void U16(ulong vaddr, ushort v)
    {
        Span<byte> b = stackalloc byte[2];
        Endian.Write(b, v, _bigEndian);
        Store(vaddr, b);
    }

    public void Bytes(ulong vaddr, ReadOnlySpan<byte> data) => Store(vaddr, data);

    public ulong ReadU64(ulong vaddr)
    {
        Span<byte> b = stackalloc byte[8];
        memory.Read(ToPhys(vaddr), b);
        return Endian.U64(b, _bigEndian);
    }
}
