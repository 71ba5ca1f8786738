namespace Fadump.Formats.Elf;

/// <summary>
/// The parts of <c>struct elf_prstatus</c> (include/uapi/linux/elfcore.h) a crash tool uses: the
/// signal, the pid and the register set. Layout on 64-bit Linux: siginfo 3 × i32 @0, cursig i16 @12,
/// sigpend u64 @16, sighold u64 @24, pid/ppid/pgrp/sid i32 @32..44, 4 timevals @48..112, pr_reg @112,
/// pr_fpvalid i32 after pr_reg.
/// </summary>
public sealed record PrStatus(int Pid, short CurSig, IReadOnlyList<ulong> Registers)
{
    private const int PidOffset = 32;
    private const int CurSigOffset = 12;
    public const int RegistersOffset = 112;

    /// <summary>x86_64 pr_reg: 27 × u64 (struct user_regs_struct).</summary>
    public static readonly string[] X86_64RegisterNames =
    [
        "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi", "rdi",
        "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs",
    ];

    /// <summary>ppc64 pr_reg: 48 × u64 (struct pt_regs as elf_gregset_t).</summary>
    public static readonly string[] Ppc64RegisterNames = BuildPpcNames();

    public static string[] RegisterNames(DumpArch arch) => arch == DumpArch.X86_64 ? X86_64RegisterNames : Ppc64RegisterNames;

    /// <summary>Size of the whole elf_prstatus: 336 on x86_64, 504 on ppc64.</summary>
    public static int DescSize(DumpArch arch) => RegistersOffset + (RegisterNames(arch).Length * 8) + 8;

    public ulong this[string name] => Registers[Array.IndexOf(RegisterNames(Registers.Count == 27 ? DumpArch.X86_64 : DumpArch.Ppc64), name)];

    /// <summary>The program counter: rip on x86_64, nip on ppc64.</summary>
    public ulong ProgramCounter(DumpArch arch) => arch == DumpArch.X86_64 ? this["rip"] : this["nip"];

    public static PrStatus Parse(ReadOnlySpan<byte> desc, DumpMachine machine, string path, long offset)
    {
        int size = DescSize(machine.Arch);
        int regBytes = RegisterNames(machine.Arch).Length * 8;
        if (desc.Length < RegistersOffset + regBytes)
        {
            throw new DumpFormatException(path, offset,
                FormattableString.Invariant($"NT_PRSTATUS of {desc.Length} bytes: expected {size} for {machine}"));
        }

        var regs = new ulong[RegisterNames(machine.Arch).Length];
        for (int i = 0; i < regs.Length; i++)
        {
            regs[i] = Endian.U64(desc[(RegistersOffset + (i * 8))..], machine.BigEndian);
        }

        return new PrStatus(
            Endian.I32(desc[PidOffset..], machine.BigEndian),
            (short)Endian.U16(desc[CurSigOffset..], machine.BigEndian),
            regs);
    }

    public byte[] Encode(DumpMachine machine)
    {
        var names = RegisterNames(machine.Arch);
        if (Registers.Count != names.Length)
        {
            throw new ArgumentException(FormattableString.Invariant($"{machine} has {names.Length} registers, got {Registers.Count}"));
        }

        var desc = new byte[DescSize(machine.Arch)];
        Endian.Write(desc.AsSpan(CurSigOffset), (ushort)CurSig, machine.BigEndian);
        Endian.Write(desc.AsSpan(PidOffset), Pid, machine.BigEndian);
        for (int i = 0; i < names.Length; i++)
        {
            Endian.Write(desc.AsSpan(RegistersOffset + (i * 8)), Registers[i], machine.BigEndian);
        }

        return desc;
    }

    public ElfNote ToNote(DumpMachine machine) => new("CORE", ElfNote.NT_PRSTATUS, Encode(machine));

    private static string[] BuildPpcNames()
    {
        var names = new List<string>();
        for (int i = 0; i < 32; i++)
        {
            names.Add(FormattableString.Invariant($"r{i}"));
        }

        names.AddRange(["nip", "msr", "orig_gpr3", "ctr", "link", "xer", "ccr", "softe", "trap", "dar", "dsisr", "result"]);
        names.AddRange(["unused0", "unused1", "unused2", "unused3"]);
        return [.. names];
    }
}
