using System.Buffers.Binary;
using System.Text;
using Fadump.Machine;

namespace Fadump.Firmware.Rtas;

/// <summary>
/// The CPU state data section as PHYP (and QEMU's spapr_fadump.c) fills it, big-endian:
/// u64 magic "REGSAVE" @0, u32 version @8, u32 num_cpu_offset @12, u32 num_cpus at that offset,
/// then per CPU 79 entries of {u64 id, u64 value}: CPUSTRT, 45 SPRs, 32 GPRs, CPUEND.
/// </summary>
public static class RegisterSaveArea
{
    public const ulong Magic = 0x5245475341564500; // "REGSAVE\0"
    public const ulong CpuStart = 0x4350555354525400; // "CPUSTRT\0"
    public const ulong CpuEnd = 0x435055454E440000; // "CPUEND\0\0"
    public const int NumCpuOffset = 16 + 0xc;
    public const int EntriesOffset = NumCpuOffset + 4;
    public const int EntriesPerCpu = 79;
    public const int EntrySize = 16;

    /// <summary>The 45 SPR ids, in QEMU's order; the first nine are those Linux reads.</summary>
    private static readonly string[] Sprs =
    [
        "NIA", "MSR", "CTR", "LR", "XER", "CR", "DAR", "DSISR", "SRR0",
        "SRR1", "DSCR", "PPR", "LPCR", "LPIDR", "PIDR", "TAR", "CFAR", "SPRG0", "SPRG1", "SPRG2", "SPRG3",
        "HSPRG0", "HSPRG1", "HSRR0", "HSRR1", "HDAR", "HDSISR", "AMR", "IAMR", "UAMOR", "CTRL", "PIR",
        "FSCR", "VRSAVE", "TEXASR", "TFHAR", "TFIAR", "EBBHR", "EBBRR", "BESCR", "VSCR", "FPSCR", "PSSCR",
        "DEC", "TB",
    ];

    /// <summary>Section size for maxCpus CPUs, as QEMU computes it.</summary>
    public static ulong SizeFor(int maxCpus) => (ulong)EntriesOffset + ((ulong)maxCpus * EntriesPerCpu * EntrySize);

    /// <summary>Encodes an id of up to 8 ASCII characters, big-endian, zero-padded on the right ("GPR05").</summary>
    public static ulong Id(string name)
    {
        Span<byte> b = stackalloc byte[8];
        b.Clear();
        Encoding.ASCII.GetBytes(name, b);
        return BinaryPrimitives.ReadUInt64BigEndian(b);
    }

    public static byte[] Build(IReadOnlyList<Cpu> cpus)
    {
        var buf = new byte[SizeFor(cpus.Count)];
        var s = buf.AsSpan();
        BinaryPrimitives.WriteUInt64BigEndian(s, Magic);
        BinaryPrimitives.WriteUInt32BigEndian(s[8..], 1);
        BinaryPrimitives.WriteUInt32BigEndian(s[12..], NumCpuOffset);
        BinaryPrimitives.WriteUInt32BigEndian(s[NumCpuOffset..], (uint)cpus.Count);
        int pos = EntriesOffset;
        void Put(ulong id, ulong value)
        {
            BinaryPrimitives.WriteUInt64BigEndian(buf.AsSpan(pos), id);
            BinaryPrimitives.WriteUInt64BigEndian(buf.AsSpan(pos + 8), value);
            pos += EntrySize;
        }

        foreach (var c in cpus)
        {
            Put(CpuStart, (uint)c.Id);
            foreach (var spr in Sprs)
            {
                Put(Id(spr), spr switch
                {
                    "NIA" => c.Nip,
                    "MSR" => c.Msr,
                    "CTR" => c.Ctr,
                    "LR" => c.Lr,
                    "XER" => c.Xer,
                    "CR" => c.Cr,
                    "DAR" => c.Dar,
                    "DSISR" => c.Dsisr,
                    "PIR" => (ulong)c.Id,
                    _ => 0,
                });
            }

            for (int g = 0; g < 32; g++)
            {
                Put(Id(FormattableString.Invariant($"GPR{g:00}")), c.Gpr[g]);
            }

            Put(CpuEnd, (uint)c.Id);
        }

        return buf;
    }
}
