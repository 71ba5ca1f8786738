namespace Fadump.Formats.Elf;

/// <summary>ELF64 on-disk layout (include/uapi/linux/elf.h): Elf64_Ehdr and Elf64_Phdr field offsets.</summary>
internal static class ElfLayout
{
    public const int EhdrSize = 64;
    public const int PhdrSize = 56;
    public const int ShdrSize = 64;

    // e_ident
    public const byte ElfClass64 = 2;
    public const byte ElfData2Lsb = 1;
    public const byte ElfData2Msb = 2;
    public const byte EvCurrent = 1;
    public const int EiClass = 4;
    public const int EiData = 5;
    public const int EiVersion = 6;

    // Elf64_Ehdr
    public const int EType = 16;       // u16
    public const int EMachine = 18;    // u16
    public const int EVersion = 20;    // u32
    public const int EEntry = 24;      // u64
    public const int EPhoff = 32;      // u64
    public const int EShoff = 40;      // u64
    public const int EFlags = 48;      // u32
    public const int EEhsize = 52;     // u16
    public const int EPhentsize = 54;  // u16
    public const int EPhnum = 56;      // u16
    public const int EShentsize = 58;  // u16
    public const int EShnum = 60;      // u16
    public const int EShstrndx = 62;   // u16

    public const ushort EtCore = 4;
    public const ushort PnXnum = 0xffff;

    // Elf64_Phdr
    public const int PType = 0;    // u32
    public const int PFlags = 4;   // u32
    public const int POffset = 8;  // u64
    public const int PVaddr = 16;  // u64
    public const int PPaddr = 24;  // u64
    public const int PFilesz = 32; // u64
    public const int PMemsz = 40;  // u64
    public const int PAlign = 48;  // u64

    public const uint PtNull = 0;
    public const uint PtLoad = 1;
    public const uint PtNote = 4;

    // Elf64_Shdr: sh_info holds the real phnum when e_phnum == PN_XNUM
    public const int ShInfo = 44;  // u32

    /// <summary>e_flags bit 0 marks an incomplete dump (makedumpfile DUMP_ELF_INCOMPLETE).</summary>
    public const uint DumpElfIncomplete = 0x1;

    /// <summary>Cap on program headers: far beyond any real machine's memory map, small enough to allocate.</summary>
    public const int MaxPhnum = 1 << 20;

    /// <summary>Cap on the merged note segments (4096 CPUs × 536-byte notes is 2 MiB).</summary>
    public const long MaxNotesSize = 64L << 20;
}

/// <summary>One PT_LOAD: physical and virtual start, file extent, memory extent.</summary>
public readonly record struct ElfLoadSegment(ulong PhysicalAddress, ulong VirtualAddress, long FileOffset, ulong FileSize, ulong MemorySize)
{
    public ulong PhysicalEnd => PhysicalAddress + MemorySize;

    public ulong VirtualEnd => VirtualAddress + MemorySize;
}
