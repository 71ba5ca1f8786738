using System.Buffers.Binary;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Kernel.Kexec;
using Fadump.Machine;

namespace Fadump.Kernel.Tests.Kexec;

/// <summary>An 8 GiB x86_64 machine with 512 MiB reserved at 0x2b000000 (crashkernel=512M@0x2b000000), as /proc/iomem shows it.</summary>
internal sealed class KexecMachine
{
    public const ulong CrashStart = 0x2b000000, CrashSize = 512UL << 20, CrashEnd = CrashStart + CrashSize;
    public const ulong PageOffset = 0xffff888000000000;
    public const ulong TextVirtual = 0xffffffff81000000, TextPhysical = 0x1000000, TextSize = 0x2400000;
    public const ulong NoteSize = 368;  // sizeof(note_buf_t) on x86_64
    public const ulong VmcoreInfoAddress = 0x13fffe000, VmcoreInfoSize = 0x1024;

    public const string Iomem =
        "00000000-00000fff : Reserved\n" +
        "00001000-0009ffff : System RAM\n" +
        "000a0000-000fffff : Reserved\n" +
        "  000a0000-000bffff : PCI Bus 0000:00\n" +
        "  000f0000-000fffff : System ROM\n" +
        "00100000-bffdffff : System RAM\n" +
        "  01000000-01ffffff : Kernel code\n" +
        "  02000000-0266ffff : Kernel rodata\n" +
        "  02800000-02b3ffff : Kernel data\n" +
        "  02f9e000-033fffff : Kernel bss\n" +
        "  2b000000-4affffff : Crash kernel\n" +
        "bffe0000-bffeffff : ACPI Tables\n" +
        "bfff0000-bfffffff : Reserved\n" +
        "c0000000-febfffff : PCI Bus 0000:00\n" +
        "fec00000-fec003ff : IOAPIC 0\n" +
        "fee00000-fee00fff : Local APIC\n" +
        "100000000-23fffffff : System RAM\n";

    public static readonly MemoryRange[] Ram =
    [
        MemoryRange.FromBounds(0x1000, 0xa0000),
        MemoryRange.FromBounds(0x100000, 0xbffe0000),
        MemoryRange.FromBounds(0x100000000, 0x240000000),
    ];

    public static readonly NoteBuffer[] CpuNotes = [.. Enumerable.Range(0, 4).Select(i => new NoteBuffer(0x23fe1c000 + ((ulong)i * 0x40000), NoteSize))];

    public KexecMachine(bool withInfo = true)
    {
        Memory = new PhysicalMemory(Ram, new PatternContent());
        Core = new KexecCore(Memory, new MemoryRange(CrashStart, CrashSize), null, withInfo ? Info : null);
    }

    public PhysicalMemory Memory { get; }

    public KexecCore Core { get; }

    public static CrashElfInfo Info => new(CpuNotes, new NoteBuffer(VmcoreInfoAddress, VmcoreInfoSize), TextVirtual, TextPhysical, TextSize, Ram, []);

    public static KexecToolsInput ToolsInput(string cmdline = "BOOT_IMAGE=/vmlinuz root=/dev/sda1 crashkernel=512M@0x2b000000 1 irqpoll nr_cpus=1 reset_devices", byte[]? initrd = null) =>
        new(Iomem, BzImage.Build("6.1.0-kdump"), initrd ?? Initrd(), cmdline, CpuNotes,
            FormattableString.Invariant($"0x{VmcoreInfoAddress:x16} {VmcoreInfoSize:x}\n"), new KernelMapping(PageOffset, TextVirtual, TextSize));

    public static byte[] Initrd() => [.. Enumerable.Range(0, (1 << 20) + 100).Select(i => (byte)(i * 7))];

    public byte[] Read(ulong address, int size)
    {
        var b = new byte[size];
        Memory.Read(address, b);
        return b;
    }

    /// <summary>Parses an elfcorehdr with Fadump.Formats' ELF program header reader.</summary>
    public static (ushort Machine, List<ElfProgramHeader> Headers) ParseElfCoreHeader(byte[] h)
    {
        Assert.True(ElfCoreFile.HasMagic(h));
        Assert.Equal(2, h[4]);   // ELFCLASS64
        Assert.Equal(1, h[5]);   // ELFDATA2LSB
        Assert.Equal(4, BinaryPrimitives.ReadUInt16LittleEndian(h.AsSpan(16)));   // ET_CORE
        ulong phoff = BinaryPrimitives.ReadUInt64LittleEndian(h.AsSpan(32));
        int phnum = BinaryPrimitives.ReadUInt16LittleEndian(h.AsSpan(56));
        Assert.Equal(64UL, phoff);
        Assert.Equal(56, BinaryPrimitives.ReadUInt16LittleEndian(h.AsSpan(54)));
        var list = new List<ElfProgramHeader>();
        for (int i = 0; i < phnum; i++)
        {
            list.Add(ElfHeaders.ReadProgramHeader(h.AsSpan(64 + (i * 56), 56), bigEndian: false));
        }

        return (BinaryPrimitives.ReadUInt16LittleEndian(h.AsSpan(18)), list);
    }

    /// <summary>RAM that is not zero: every byte is a function of its address, so a copy or a zero-fill shows.</summary>
    private sealed class PatternContent : IMemoryContent
    {
        public void Fill(ulong frameAddress, Span<byte> dest)
        {
            for (int i = 0; i < dest.Length; i++)
            {
                dest[i] = (byte)(((frameAddress + (ulong)i) * 0x9E3779B1) >> 24 | 1);
            }
        }
    }
}
