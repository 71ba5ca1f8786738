using System.Buffers.Binary;
using System.Text;
using Fadump.Formats;
using Fadump.Formats.Elf;
using VmcoreInfoNote = Fadump.Formats.VmcoreInfo.VmcoreInfo;

namespace Fadump.Fuzz;

/// <summary>
/// The input of the kernel-memory targets (address-space walkers, printk readers): a compact description
/// of a crashed kernel's memory that the fuzzer can mutate structurally, instead of a multi-MiB dump.
/// <code>
///   [arch: 1 byte: 0 x86_64, 1 ppc64 (big-endian), 2 ppc64le]
///   [VMCOREINFO text] 0x00
///   records: [u32 LE physical address] [u16 LE length] [length bytes], written into zeroed RAM
/// </code>
/// RAM is <see cref="RamSize"/> bytes from physical 0; addresses are taken modulo its size and lengths
/// clipped to it. The dump is an <see cref="IDump"/> over that RAM with the VMCOREINFO note.
/// </summary>
internal sealed class KernelImage : IDump
{
    public const int RamSize = 4 << 20;

    private const int MaxVmcoreInfo = VmcoreInfoNote.MaxSize;

    /// <summary>One RAM buffer reused by every run in the process; only the bytes written are cleared.</summary>
    private static readonly byte[] SharedRam = new byte[RamSize];
    private static readonly List<(int Offset, int Length)> Dirty = [];

    private readonly byte[] _ram;

    private KernelImage(DumpMachine machine, VmcoreInfoNote info, byte[] ram, List<ulong> pointers)
    {
        Machine = machine;
        VmcoreInfo = info;
        _ram = ram;
        Pointers = pointers;
        PageSize = machine.Arch == DumpArch.X86_64 ? 4096 : 65536;
        Notes = [new ElfNote("VMCOREINFO", ElfNote.VMCOREINFO_TYPE, info.ToBytes())];
    }

    /// <summary>The first u64 of each record (in the dump's byte order): fuzzer-chosen addresses to translate.</summary>
    public IReadOnlyList<ulong> Pointers { get; }

    public string Path => "<fuzz kernel image>";

    public DumpFormat Format => DumpFormat.Elf;

    public bool IsFlattened => false;

    public DumpMachine Machine { get; }

    public int PageSize { get; }

    public IReadOnlyList<ElfNote> Notes { get; }

    public VmcoreInfoNote? VmcoreInfo { get; }

    public ulong MaxPfn => (ulong)(RamSize / PageSize);

    public int? DumpLevel => null;

    public bool IsIncomplete => false;

    /// <summary>Parses the input; null when it is not in the format (no NUL after the VMCOREINFO text).</summary>
    /// <exception cref="DumpFormatException">The VMCOREINFO text is rejected by its parser.</exception>
    public static KernelImage? Parse(ReadOnlySpan<byte> input, DumpMachine? forced = null)
    {
        if (input.Length < 2)
        {
            return null;
        }

        var machine = forced ?? (input[0] % 3) switch
        {
            0 => DumpMachine.X86_64,
            1 => DumpMachine.Ppc64,
            _ => DumpMachine.Ppc64le,
        };
        input = input[1..];
        int nul = input.IndexOf((byte)0);
        if (nul < 0 || nul > MaxVmcoreInfo)
        {
            return null;
        }

        var info = VmcoreInfoNote.Parse(input[..nul], "<fuzz VMCOREINFO>", 0);
        input = input[(nul + 1)..];

        foreach (var (off, len) in Dirty)
        {
            Array.Clear(SharedRam, off, len);
        }

        Dirty.Clear();
        var pointers = new List<ulong>();
        while (input.Length >= 6)
        {
            int addr = (int)(BinaryPrimitives.ReadUInt32LittleEndian(input) % RamSize);
            int len = BinaryPrimitives.ReadUInt16LittleEndian(input[4..]);
            input = input[6..];
            len = Math.Min(Math.Min(len, input.Length), RamSize - addr);
            input[..len].CopyTo(SharedRam.AsSpan(addr));
            Dirty.Add((addr, len));
            if (len >= 8)
            {
                pointers.Add(Endian.U64(input, machine.BigEndian));
            }

            input = input[len..];
        }

        return new KernelImage(machine, info, SharedRam, pointers);
    }

    /// <summary>Encodes a kernel image (used by the seed generator): non-zero runs of RAM become records.</summary>
    public static byte[] Encode(DumpMachine machine, VmcoreInfoNote info, ReadOnlySpan<byte> ram)
    {
        using var ms = new MemoryStream();
        ms.WriteByte(machine.Arch == DumpArch.X86_64 ? (byte)0 : machine.BigEndian ? (byte)1 : (byte)2);
        ms.Write(Encoding.ASCII.GetBytes(info.ToText()));
        ms.WriteByte(0);
        Span<byte> head = stackalloc byte[6];
        int i = 0;
        while (i < ram.Length)
        {
            if (ram[i] == 0)
            {
                i++;
                continue;
            }

            // A run ends at 16 zero bytes in a row (or the record's maximum length).
            int start = i, zeros = 0, end = i;
            while (i < ram.Length && i - start < ushort.MaxValue && zeros < 16)
            {
                zeros = ram[i] == 0 ? zeros + 1 : 0;
                i++;
                if (zeros == 0)
                {
                    end = i;
                }
            }

            BinaryPrimitives.WriteUInt32LittleEndian(head, (uint)start);
            BinaryPrimitives.WriteUInt16LittleEndian(head[4..], (ushort)(end - start));
            ms.Write(head);
            ms.Write(ram[start..end]);
        }

        return ms.ToArray();
    }

    public IEnumerable<PhysicalRange> MemoryRanges() => [new PhysicalRange(0, RamSize)];

    public PageState ReadPage(ulong pfn, Span<byte> page)
    {
        if (pfn >= MaxPfn)
        {
            page.Clear();
            return PageState.NotPresent;
        }

        _ram.AsSpan((int)pfn * PageSize, PageSize).CopyTo(page);
        return PageState.Dumped;
    }

    public int ReadPhysical(ulong address, Span<byte> buffer)
    {
        if (address >= RamSize)
        {
            return 0;
        }

        int n = (int)Math.Min((ulong)buffer.Length, RamSize - address);
        _ram.AsSpan((int)address, n).CopyTo(buffer);
        return n;
    }

    public void Dispose()
    {
    }
}
