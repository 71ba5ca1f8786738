using System.Globalization;
using Fadump.Machine;

namespace Fadump.Kernel.Arch.X86_64;

/// <summary>E820 entry types (arch/x86/include/asm/e820/types.h) and their /proc/iomem names.</summary>
public enum E820Type
{
    Ram = 1,
    Reserved = 2,
    Acpi = 3,
    Nvs = 4,
}

public readonly record struct E820Entry(MemoryRange Range, E820Type Type)
{
    /// <summary>e820_type_to_string: the name /proc/iomem shows.</summary>
    public string IomemName => Type switch
    {
        E820Type.Ram => "System RAM",
        E820Type.Acpi => "ACPI Tables",
        E820Type.Nvs => "ACPI Non-volatile Storage",
        _ => "Reserved",
    };

    /// <summary>e820_print_type, as in "BIOS-e820: [mem 0x0000000000100000-0x00000000bffdffff] usable".</summary>
    public string BootLogType => Type switch
    {
        E820Type.Ram => "usable",
        E820Type.Acpi => "ACPI data",
        E820Type.Nvs => "ACPI NVS",
        _ => "reserved",
    };
}

/// <summary>
/// The firmware memory map of a PC as SeaBIOS builds it for QEMU's pc machine: 639 KiB of
/// conventional memory, the EBDA and the BIOS ROM reserved, RAM from 1 MiB to the end of low memory
/// (3 GiB when the machine has 3.5 GiB or more, the rest above 4 GiB), the last 128 KiB of low
/// memory reserved, and the reserved firmware windows below 4 GiB.
/// </summary>
public sealed class E820
{
    public const ulong LowMemoryMax = 0xc0000000;           // QEMU pc: below_4g_mem_size when RAM >= 0xe0000000
    public const ulong LowMemorySplit = 0xe0000000;
    public const ulong FourGiB = 1UL << 32;
    public const ulong EbdaStart = 0x9fc00;
    public const ulong BiosRomStart = 0xf0000;
    public const ulong OneMiB = 1UL << 20;

    private E820(IReadOnlyList<E820Entry> entries) => Entries = entries;

    public IReadOnlyList<E820Entry> Entries { get; }

    /// <summary>The usable entries as the firmware gives them (byte granular: the first ends at the EBDA, 0x9fc00).</summary>
    public IReadOnlyList<MemoryRange> Usable => [.. Entries.Where(e => e.Type == E820Type.Ram).Select(e => e.Range)];

    /// <summary>The usable ranges in whole 4 KiB pages (memblock's PFN_UP/PFN_DOWN view): what the kernel may use.</summary>
    public IReadOnlyList<MemoryRange> UsablePages =>
    [
        .. Usable.Select(r => MemoryRange.FromBounds((r.Start + 4095) & ~4095UL, r.End & ~4095UL)).Where(r => r.Size > 0),
    ];

    /// <summary>
    /// The DRAM the machine has: conventional memory up to 640 KiB (the EBDA is RAM the BIOS keeps), low
    /// memory from 1 MiB including the firmware's reserved top, and high memory. The legacy VGA and ROM
    /// window [640 KiB, 1 MiB) and the PCI hole are not RAM.
    /// </summary>
    public IReadOnlyList<MemoryRange> Dram { get; private init; } = [];

    /// <summary>The map of a machine with <paramref name="memoryBytes"/> of RAM (at least 64 MiB, a multiple of 4 KiB).</summary>
    public static E820 ForMachine(ulong memoryBytes)
    {
        if (memoryBytes < (64UL << 20) || memoryBytes % 4096 != 0)
        {
            throw new ArgumentException(FormattableString.Invariant($"memory size 0x{memoryBytes:x} must be a multiple of 4K and at least 64M"), nameof(memoryBytes));
        }

        ulong low = memoryBytes >= LowMemorySplit ? LowMemoryMax : memoryBytes;
        ulong high = memoryBytes - low;
        var e = new List<E820Entry>
        {
            new(MemoryRange.FromBounds(0, EbdaStart), E820Type.Ram),
            new(MemoryRange.FromBounds(EbdaStart, 0xa0000), E820Type.Reserved),
            new(MemoryRange.FromBounds(BiosRomStart, OneMiB), E820Type.Reserved),
            new(MemoryRange.FromBounds(OneMiB, low - 0x20000), E820Type.Ram),
            new(MemoryRange.FromBounds(low - 0x20000, low), E820Type.Reserved),
            new(MemoryRange.FromBounds(0xfeffc000, 0xff000000), E820Type.Reserved),
            new(MemoryRange.FromBounds(0xfffc0000, FourGiB), E820Type.Reserved),
        };
        if (high > 0)
        {
            e.Add(new(new MemoryRange(FourGiB, high), E820Type.Ram));
        }

        List<MemoryRange> dram = [MemoryRange.FromBounds(0, 0xa0000), MemoryRange.FromBounds(OneMiB, low)];
        if (high > 0)
        {
            dram.Add(new MemoryRange(FourGiB, high));
        }

        return new E820(e) { Dram = dram };
    }

    /// <summary>The boot log's map (e820__print_table): "BIOS-e820: [mem 0x%016Lx-0x%016Lx] type".</summary>
    public IEnumerable<string> BootLog() => BootLog(Entries);

    public static IEnumerable<string> BootLog(IEnumerable<E820Entry> entries)
    {
        yield return "BIOS-provided physical RAM map:";
        foreach (var x in entries)
        {
            yield return string.Create(CultureInfo.InvariantCulture, $"BIOS-e820: [mem 0x{x.Range.Start:x16}-0x{x.Range.End - 1:x16}] {x.BootLogType}");
        }
    }
}
