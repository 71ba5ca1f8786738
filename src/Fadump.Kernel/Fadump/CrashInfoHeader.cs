using Fadump.Formats;

namespace Fadump.Kernel.Fadump;

/// <summary>
/// struct fadump_crash_info_header (fadump-internal.h), in the crashed kernel's byte order:
/// u64 magic @0, u32 version @8, u32 crashing_cpu @12, u64 vmcoreinfo_raddr @16, u64 vmcoreinfo_size @24,
/// u32 pt_regs_sz @32, u32 cpu_mask_sz @36, struct pt_regs @40, struct cpumask after it.
/// </summary>
public sealed class CrashInfoHeader
{
    public const ulong MagicFadmpsig = 0x4641444D50534947; // "FADMPSIG"
    public const ulong MagicFadmpinf = 0x4641444D50494E46; // "FADMPINF" (old)
    public const uint CpuUnknown = 0xFFFFFFFF;
    public const int PtRegsSize = 384;          // 48 × u64 on ppc64
    public const int CpuMaskSize = 2048 / 8;    // NR_CPUS = 2048
    public const int Size = 40 + PtRegsSize + CpuMaskSize;

    // pt_regs slots after gpr[0..31] (arch/powerpc/include/uapi/asm/ptrace.h).
    public const int RegNip = 32;
    public const int RegMsr = 33;
    public const int RegOrigGpr3 = 34;
    public const int RegCtr = 35;
    public const int RegLink = 36;
    public const int RegXer = 37;
    public const int RegCcr = 38;
    public const int RegSofte = 39;
    public const int RegTrap = 40;
    public const int RegDar = 41;
    public const int RegDsisr = 42;

    public ulong Magic { get; set; } = MagicFadmpsig;

    public uint Version { get; set; } = 1;

    public uint CrashingCpu { get; set; } = CpuUnknown;

    public ulong VmcoreInfoAddress { get; set; }

    public ulong VmcoreInfoSize { get; set; }

    public uint PtRegsSz { get; set; } = PtRegsSize;

    public uint CpuMaskSz { get; set; } = CpuMaskSize;

    /// <summary>pt_regs as 48 u64: gpr[32], nip, msr, orig_gpr3, ctr, link, xer, ccr, softe, trap, dar, dsisr, result, pad.</summary>
    public ulong[] Regs { get; } = new ulong[48];

    public byte[] CpuMask { get; } = new byte[CpuMaskSize];

    public byte[] Encode(bool bigEndian)
    {
        var b = new byte[Size];
        Endian.Write(b.AsSpan(0), Magic, bigEndian);
        Endian.Write(b.AsSpan(8), Version, bigEndian);
        Endian.Write(b.AsSpan(12), CrashingCpu, bigEndian);
        Endian.Write(b.AsSpan(16), VmcoreInfoAddress, bigEndian);
        Endian.Write(b.AsSpan(24), VmcoreInfoSize, bigEndian);
        Endian.Write(b.AsSpan(32), PtRegsSz, bigEndian);
        Endian.Write(b.AsSpan(36), CpuMaskSz, bigEndian);
        for (int i = 0; i < Regs.Length; i++)
        {
            Endian.Write(b.AsSpan(40 + (i * 8)), Regs[i], bigEndian);
        }

        CpuMask.CopyTo(b, 40 + PtRegsSize);
        return b;
    }

    public static CrashInfoHeader Decode(ReadOnlySpan<byte> b, bool bigEndian)
    {
        var h = new CrashInfoHeader
        {
            Magic = Endian.U64(b, bigEndian),
            Version = Endian.U32(b[8..], bigEndian),
            CrashingCpu = Endian.U32(b[12..], bigEndian),
            VmcoreInfoAddress = Endian.U64(b[16..], bigEndian),
            VmcoreInfoSize = Endian.U64(b[24..], bigEndian),
            PtRegsSz = Endian.U32(b[32..], bigEndian),
            CpuMaskSz = Endian.U32(b[36..], bigEndian),
        };
        for (int i = 0; i < h.Regs.Length; i++)
        {
            h.Regs[i] = Endian.U64(b[(40 + (i * 8))..], bigEndian);
        }

        b.Slice(40 + PtRegsSize, CpuMaskSize).CopyTo(h.CpuMask);
        return h;
    }

    public void SetCpu(int cpu) => CpuMask[cpu / 8] |= (byte)(1 << (cpu % 8));

    public bool HasCpu(int cpu) => cpu / 8 < CpuMask.Length && (CpuMask[cpu / 8] & (1 << (cpu % 8))) != 0;
}
