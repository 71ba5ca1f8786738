namespace Fadump.Formats.Elf;

/// <summary>A program header as it is encoded (Elf64_Phdr).</summary>
public readonly record struct ElfProgramHeader(uint Type, uint Flags, ulong Offset, ulong VirtualAddress, ulong PhysicalAddress, ulong FileSize, ulong MemorySize, ulong Align)
{
    public const uint PtLoad = 1;
    public const uint PtNote = 4;
}

/// <summary>Encoders for the ELF64 core header and program headers, shared by every writer of ELF cores
/// (the streaming writer, the simulated kernel's elfcorehdr, /proc/vmcore).</summary>
public static class ElfHeaders
{
    public const int EhdrSize = ElfLayout.EhdrSize;
    public const int PhdrSize = ElfLayout.PhdrSize;

    /// <summary>Writes an ET_CORE Elf64_Ehdr with program headers right after it.</summary>
    public static void WriteCoreHeader(Span<byte> eh, DumpMachine machine, int phnum, uint extraFlags = 0)
    {
        bool be = machine.BigEndian;
        eh[..EhdrSize].Clear();
        eh[0] = 0x7f;
        eh[1] = (byte)'E';
        eh[2] = (byte)'L';
        eh[3] = (byte)'F';
        eh[ElfLayout.EiClass] = ElfLayout.ElfClass64;
        eh[ElfLayout.EiData] = be ? ElfLayout.ElfData2Msb : ElfLayout.ElfData2Lsb;
        eh[ElfLayout.EiVersion] = ElfLayout.EvCurrent;
        Endian.Write(eh[ElfLayout.EType..], ElfLayout.EtCore, be);
        Endian.Write(eh[ElfLayout.EMachine..], machine.ElfMachine, be);
        Endian.Write(eh[ElfLayout.EVersion..], (uint)ElfLayout.EvCurrent, be);
        Endian.Write(eh[ElfLayout.EPhoff..], (ulong)EhdrSize, be);
        Endian.Write(eh[ElfLayout.EFlags..], machine.ElfFlags | extraFlags, be);
        Endian.Write(eh[ElfLayout.EEhsize..], (ushort)EhdrSize, be);
        Endian.Write(eh[ElfLayout.EPhentsize..], (ushort)PhdrSize, be);
        Endian.Write(eh[ElfLayout.EPhnum..], (ushort)phnum, be);
    }

    public static void WriteProgramHeader(Span<byte> p, bool bigEndian, in ElfProgramHeader h)
    {
        Endian.Write(p[ElfLayout.PType..], h.Type, bigEndian);
        Endian.Write(p[ElfLayout.PFlags..], h.Flags, bigEndian);
        Endian.Write(p[ElfLayout.POffset..], h.Offset, bigEndian);
        Endian.Write(p[ElfLayout.PVaddr..], h.VirtualAddress, bigEndian);
        Endian.Write(p[ElfLayout.PPaddr..], h.PhysicalAddress, bigEndian);
        Endian.Write(p[ElfLayout.PFilesz..], h.FileSize, bigEndian);
        Endian.Write(p[ElfLayout.PMemsz..], h.MemorySize, bigEndian);
        Endian.Write(p[ElfLayout.PAlign..], h.Align, bigEndian);
    }

    public static ElfProgramHeader ReadProgramHeader(ReadOnlySpan<byte> p, bool bigEndian) => new(
        Endian.U32(p[ElfLayout.PType..], bigEndian),
        Endian.U32(p[ElfLayout.PFlags..], bigEndian),
        Endian.U64(p[ElfLayout.POffset..], bigEndian),
        Endian.U64(p[ElfLayout.PVaddr..], bigEndian),
        Endian.U64(p[ElfLayout.PPaddr..], bigEndian),
        Endian.U64(p[ElfLayout.PFilesz..], bigEndian),
        Endian.U64(p[ElfLayout.PMemsz..], bigEndian),
        Endian.U64(p[ElfLayout.PAlign..], bigEndian));
}
