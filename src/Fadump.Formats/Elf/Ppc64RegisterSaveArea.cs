using System.Buffers.Binary;
using System.Text;
using static System.FormattableString;

namespace Fadump.Formats.Elf;

/// <summary>One CPU of a register save area: its id (from CPUSTRT) and its registers in ppc64 pr_reg order.</summary>
/// <param name="Cpu">The CPU number, the low 32 bits of the CPUSTRT entry's value.</param>
/// <param name="Registers">48 registers as <see cref="PrStatus.Ppc64RegisterNames"/> orders them; the ones the area does not hold are 0.</param>
public sealed record Ppc64SavedCpu(int Cpu, IReadOnlyList<ulong> Registers)
{
    /// <summary>The CPU's NT_PRSTATUS with pr_pid = CPU + 1 (the FADump capture kernel here does the same).</summary>
    public PrStatus ToPrStatus() => new(Cpu + 1, 0, Registers);
}

/// <summary>
/// The PAPR register save area (the CPU state data section of ibm,configure-kernel-dump, filled by the
/// hypervisor at the crash; QEMU's spapr_fadump.c writes the same), always big-endian: u64 magic "REGSAVE" @0,
/// u32 version @8, u32 num_cpu_offset @12, u32 num_cpus at num_cpu_offset, then per CPU entries of
/// {u64 id, u64 value}: CPUSTRT (value = CPU), SPRs by name ("NIA", "MSR", ...), GPR00..GPR31, CPUEND.
/// Linux's reader is rtas_fadump_build_cpu_notes / rtas_fadump_set_regval (and phyp_dump before it).
/// Every offset and count comes from the area and is checked against its length before use.
/// </summary>
public static class Ppc64RegisterSaveArea
{
    public const ulong Magic = 0x5245475341564500; // "REGSAVE\0"
    public const ulong CpuStart = 0x4350555354525400; // "CPUSTRT\0"
    public const ulong CpuEnd = 0x435055454E440000; // "CPUEND\0\0"
    public const int EntrySize = 16;

    /// <summary>Bytes of the fixed header: magic, version, num_cpu_offset.</summary>
    public const int HeaderSize = 16;

    private static readonly (ulong Id, int Index)[] SprMap =
    [
        (Id("NIA"), Index("nip")),
        (Id("MSR"), Index("msr")),
        (Id("CTR"), Index("ctr")),
        (Id("LR"), Index("link")),
        (Id("XER"), Index("xer")),
        (Id("CR"), Index("ccr")),
        (Id("DAR"), Index("dar")),
        (Id("DSISR"), Index("dsisr")),
    ];

    /// <summary>Encodes an id of up to 8 ASCII characters, big-endian, zero-padded on the right ("GPR05").</summary>
    public static ulong Id(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length > 8)
        {
            throw new ArgumentException($"register id '{name}': at most 8 characters", nameof(name));
        }

        Span<byte> b = stackalloc byte[8];
        b.Clear();
        Encoding.ASCII.GetBytes(name, b);
        return BinaryPrimitives.ReadUInt64BigEndian(b);
    }

    /// <summary>True when the area is long enough for its header and starts with the "REGSAVE" magic.</summary>
    public static bool HasHeader(ReadOnlySpan<byte> area) =>
        area.Length >= HeaderSize && BinaryPrimitives.ReadUInt64BigEndian(area) == Magic;

    /// <summary>
    /// Parses every CPU of the area, in the order the area lists them.
    /// </summary>
    /// <param name="area">The section's bytes as the firmware copied them (its length copied).</param>
    /// <param name="path">Where the area came from, for messages.</param>
    /// <param name="baseOffset">Offset or address of the area's first byte in <paramref name="path"/>, for messages.</param>
    /// <exception cref="DumpFormatException">No magic, an offset or count beyond the area, a CPU without CPUSTRT or CPUEND.</exception>
    public static IReadOnlyList<Ppc64SavedCpu> Parse(ReadOnlySpan<byte> area, string path, long baseOffset = 0)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (area.Length < HeaderSize)
        {
            throw new DumpFormatException(path, baseOffset, Invariant($"register save area of {area.Length} bytes: expected at least its {HeaderSize}-byte header"));
        }

        ulong magic = BinaryPrimitives.ReadUInt64BigEndian(area);
        if (magic != Magic)
        {
            throw new DumpFormatException(path, baseOffset, Invariant($"register save area magic 0x{magic:x16}: expected 0x{Magic:x16} (\"REGSAVE\")"));
        }

        uint numCpuOffset = BinaryPrimitives.ReadUInt32BigEndian(area[12..]);
        if (numCpuOffset < HeaderSize || numCpuOffset > (uint)area.Length - 4)
        {
            throw new DumpFormatException(path, baseOffset + 12, Invariant($"num_cpu_offset 0x{numCpuOffset:x}: expected {HeaderSize} to {area.Length - 4} (inside the {area.Length}-byte area)"));
        }

        uint numCpus = BinaryPrimitives.ReadUInt32BigEndian(area[(int)numCpuOffset..]);
        int pos = (int)numCpuOffset + 4;

        // Each CPU takes at least its CPUSTRT and CPUEND entries.
        if (numCpus > (uint)((area.Length - pos) / (2 * EntrySize)))
        {
            throw new DumpFormatException(path, baseOffset + numCpuOffset, Invariant($"num_cpus {numCpus}: the {area.Length - pos} bytes after it hold at most {(area.Length - pos) / (2 * EntrySize)} CPUs"));
        }

        var cpus = new List<Ppc64SavedCpu>((int)numCpus);
        for (uint i = 0; i < numCpus; i++)
        {
            if (pos > area.Length - EntrySize || BinaryPrimitives.ReadUInt64BigEndian(area[pos..]) != CpuStart)
            {
                throw new DumpFormatException(path, baseOffset + pos, Invariant($"CPU {i} of {numCpus}: expected a CPUSTRT entry"));
            }

            int cpu = unchecked((int)(BinaryPrimitives.ReadUInt64BigEndian(area[(pos + 8)..]) & 0xffffffff));
            pos += EntrySize;
            var regs = new ulong[PrStatus.Ppc64RegisterNames.Length];
            while (true)
            {
                if (pos > area.Length - EntrySize)
                {
                    throw new DumpFormatException(path, baseOffset + pos, Invariant($"CPU {cpu} (entry {i} of {numCpus}): no CPUEND entry before the end of the {area.Length}-byte area (truncated)"));
                }

                ulong id = BinaryPrimitives.ReadUInt64BigEndian(area[pos..]);
                ulong value = BinaryPrimitives.ReadUInt64BigEndian(area[(pos + 8)..]);
                pos += EntrySize;
                if (id == CpuEnd)
                {
                    break;
                }

                if (id == CpuStart)
                {
                    throw new DumpFormatException(path, baseOffset + pos - EntrySize, Invariant($"CPU {cpu}: CPUSTRT before its CPUEND"));
                }

                SetRegister(regs, id, value);
            }

            cpus.Add(new Ppc64SavedCpu(cpu, regs));
        }

        return cpus;
    }

    /// <summary>rtas_fadump_set_regval: GPRnn to r0..r31, the SPRs Linux reads to their pr_reg slots; other ids are ignored.</summary>
    private static void SetRegister(ulong[] regs, ulong id, ulong value)
    {
        // GPRnn: "GPR" in the top three bytes, two digits after.
        if ((id & 0xffffff0000000000) == Id("GPR"))
        {
            int hi = (int)((id >> 32) & 0xff) - '0', lo = (int)((id >> 24) & 0xff) - '0';
            int n = (hi * 10) + lo;
            if (hi is >= 0 and <= 9 && lo is >= 0 and <= 9 && n < 32)
            {
                regs[n] = value;
            }

            return;
        }

        foreach (var (sprId, index) in SprMap)
        {
            if (sprId == id)
            {
                regs[index] = value;
                return;
            }
        }
    }

    private static int Index(string name) => Array.IndexOf(PrStatus.Ppc64RegisterNames, name);
}
