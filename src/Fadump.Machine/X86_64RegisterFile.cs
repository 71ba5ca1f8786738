namespace Fadump.Machine;

/// <summary>
/// An x86_64 CPU's general registers in the order of struct user_regs_struct (the pr_reg of
/// NT_PRSTATUS): r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags
/// rsp ss fs_base gs_base ds es fs gs.
/// </summary>
public sealed class X86_64RegisterFile
{
    public const int Count = 27;
    public const int Rbp = 4, Rax = 10, Rdi = 14, OrigRax = 15, Rip = 16, Cs = 17, Eflags = 18, Rsp = 19, Ss = 20, GsBase = 22;

    public ulong[] Regs { get; } = new ulong[Count];

    public void Clear() => Array.Clear(Regs);
}
