using System.Globalization;
using Fadump.Formats.IO;
using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Tests.Service;

/// <summary>
/// A Power6 capture kernel after a hypervisor-assisted dump, in memory: /sys/kernel/release_region lists the
/// firmware's copies and the reserved memory, /dev/mem is the machine's memory, and a write to
/// release_region records the range and gives it to the "running kernel", which overwrites it at once (so a
/// range released before it was saved would show in the dump).
/// </summary>
internal sealed class FakePhypSysroot : ISysroot
{
    public const ulong Top = 48UL << 20;
    public const ulong LowMemory = 4UL << 20;      // R: the capture kernel runs in [0, R); the firmware copied it
    public const ulong CpuLength = 0x10000;
    public const ulong HpteLength = 0x1000;
    public const ulong ScratchSize = CpuLength + HpteLength + LowMemory;
    public const ulong ScratchStart = Top - ScratchSize;
    public const byte CaptureKernelByte = 0xEE;
    public const byte ReusedByte = 0xAA;

    public FakePhypSysroot()
    {
        Memory = new byte[Top];
        Listing = new ReleaseRegionListing(
            new AddressLength(ScratchStart, CpuLength),
            new AddressLength(ScratchStart + CpuLength, HpteLength),
            new AddressLength(ScratchStart + CpuLength + HpteLength, LowMemory),
            new AddressLength(LowMemory, Top - LowMemory - ScratchSize));
        Memory.AsSpan(0, (int)LowMemory).Fill(CaptureKernelByte);
        for (ulong a = 0; a < LowMemory; a++)
        {
            Memory[Listing.Dump.Address + a] = Original(a);
        }

        for (ulong a = Listing.Reserved.Address; a < Listing.Reserved.End; a++)
        {
            Memory[a] = Original(a);
        }

        Memory.AsSpan((int)Listing.Cpu.Address, (int)CpuLength).Fill(0x11);
        Memory.AsSpan((int)Listing.Hpte.Address, (int)HpteLength).Fill(0x22);
    }

    public byte[] Memory { get; }

    public ReleaseRegionListing Listing { get; }

    /// <summary>Asked at each release: is the save still running?</summary>
    public Func<bool> SaveInProgress { get; set; } = () => false;

    public List<(string Text, AddressLength Range, bool DuringSave)> Releases { get; } = [];

    public string Description => "fake Power6 LPAR";

    /// <summary>The crashed kernel's byte at a physical address.</summary>
    public static byte Original(ulong paddr) => (byte)((paddr * 2654435761UL) >> 13);

    public string ListingText => string.Create(CultureInfo.InvariantCulture,
        $"CPU:0x{Listing.Cpu.Address:x}-0x{Listing.Cpu.Length:x}: HPTE:0x{Listing.Hpte.Address:x}-0x{Listing.Hpte.Length:x}: DUMP:0x{Listing.Dump.Address:x}-0x{Listing.Dump.Length:x}, 0x{Listing.Reserved.Address:x}-0x{Listing.Reserved.Length:x}:\n");

    public bool Exists(string path) => path is "/sys/kernel/release_region" or "/dev/mem" or "/sys/kernel/phyp_dump_active";

    public string ReadText(string path) => path == "/sys/kernel/release_region"
        ? ListingText
        : throw new IOException($"{path}: No such file or directory");

    public void WriteText(string path, string text)
    {
        if (path != "/sys/kernel/release_region")
        {
            throw new IOException($"{path}: Permission denied");
        }

        var parts = text.Trim().Split(' ');
        if (parts.Length != 2)
        {
            throw new IOException($"{path}: Invalid argument");
        }

        var range = new AddressLength(Hex(parts[0]), Hex(parts[1]));
        Releases.Add((text, range, SaveInProgress()));
        Memory.AsSpan((int)range.Address, (int)range.Length).Fill(ReusedByte);
    }

    public IRandomAccessSource OpenRead(string path) => path == "/dev/mem"
        ? new MemorySource(Memory, "/dev/mem")
        : throw new IOException($"{path}: No such file or directory");

    private static ulong Hex(string s) => ulong.Parse(s.StartsWith("0x", StringComparison.Ordinal) ? s[2..] : s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
}
