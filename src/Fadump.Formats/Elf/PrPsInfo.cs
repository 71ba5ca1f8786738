using System.Text;

namespace Fadump.Formats.Elf;

/// <summary>
/// struct elf_prpsinfo (include/uapi/linux/elfcore.h), 136 bytes on 64-bit Linux: pr_state, pr_sname,
/// pr_zomb, pr_nice @0..3, pr_flag u64 @8, pr_uid u32 @16, pr_gid u32 @20, pr_pid/ppid/pgrp/sid i32 @24..36,
/// pr_fname[16] @40, pr_psargs[80] @56. Kdump writes one for the crashing task's view of "vmlinux".
/// </summary>
public sealed record PrPsInfo(byte State, char StateName, byte Zombie, sbyte Nice, ulong Flags, uint Uid, uint Gid, int Pid, int ParentPid, int ProcessGroup, int Session, string FileName, string Arguments)
{
    public const int Size = 136;
    private const int FnameOffset = 40;
    private const int FnameLength = 16;
    private const int PsargsOffset = 56;
    private const int PsargsLength = 80;

    public static PrPsInfo Parse(ReadOnlySpan<byte> d, bool bigEndian, string path, long offset)
    {
        if (d.Length < Size)
        {
            throw new DumpFormatException(path, offset, FormattableString.Invariant($"NT_PRPSINFO of {d.Length} bytes: expected {Size}"));
        }

        return new PrPsInfo(d[0], (char)d[1], d[2], (sbyte)d[3], Endian.U64(d[8..], bigEndian), Endian.U32(d[16..], bigEndian), Endian.U32(d[20..], bigEndian),
            Endian.I32(d[24..], bigEndian), Endian.I32(d[28..], bigEndian), Endian.I32(d[32..], bigEndian), Endian.I32(d[36..], bigEndian),
            CString(d.Slice(FnameOffset, FnameLength)), CString(d.Slice(PsargsOffset, PsargsLength)));
    }

    public byte[] Encode(bool bigEndian)
    {
        var d = new byte[Size];
        d[0] = State;
        d[1] = (byte)StateName;
        d[2] = Zombie;
        d[3] = (byte)Nice;
        Endian.Write(d.AsSpan(8), Flags, bigEndian);
        Endian.Write(d.AsSpan(16), Uid, bigEndian);
        Endian.Write(d.AsSpan(20), Gid, bigEndian);
        Endian.Write(d.AsSpan(24), Pid, bigEndian);
        Endian.Write(d.AsSpan(28), ParentPid, bigEndian);
        Endian.Write(d.AsSpan(32), ProcessGroup, bigEndian);
        Endian.Write(d.AsSpan(36), Session, bigEndian);
        Encoding.ASCII.GetBytes(FileName.Length > FnameLength ? FileName[..FnameLength] : FileName, d.AsSpan(FnameOffset, FnameLength));
        Encoding.ASCII.GetBytes(Arguments.Length > PsargsLength - 1 ? Arguments[..(PsargsLength - 1)] : Arguments, d.AsSpan(PsargsOffset, PsargsLength));
        return d;
    }

    public ElfNote ToNote(bool bigEndian) => new("CORE", ElfNote.NT_PRPSINFO, Encode(bigEndian));

    private static string CString(ReadOnlySpan<byte> b)
    {
        int nul = b.IndexOf((byte)0);
        return Encoding.ASCII.GetString(nul >= 0 ? b[..nul] : b);
    }
}
