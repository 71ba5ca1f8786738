namespace Fadump.Machine;

/// <summary>
/// A ppc64 hardware thread's register file: what firmware saves in the register save area and the
/// kernel reports in NT_PRSTATUS (struct pt_regs: gpr[32], nip, msr, orig_gpr3, ctr, link, xer, ccr,
/// softe, trap, dar, dsisr, result).
/// </summary>
public sealed class Cpu(int id)
{
    /// <summary>Logical CPU number (the kernel's cpu id; on pSeries also the low 32 bits of CPUSTRT).</summary>
    public int Id { get; } = id;

    public ulong[] Gpr { get; } = new ulong[32];

    public ulong Nip { get; set; }

    public ulong Msr { get; set; }

    public ulong Ctr { get; set; }

    public ulong Lr { get; set; }

    public ulong Xer { get; set; }

    public ulong Cr { get; set; }

    public ulong Dar { get; set; }

    public ulong Dsisr { get; set; }

    /// <summary>The exception vector the CPU last took (0x100 system reset, 0x300 data storage, 0x700 program).</summary>
    public ulong Trap { get; set; }

    public bool Online { get; set; } = true;

    /// <summary>The same hardware thread's registers when the machine is a PC (x86_64).</summary>
    public X86_64RegisterFile X86 { get; } = new();

    /// <summary>Hardware reset: registers cleared, as after an IPL.</summary>
    public void Reset()
    {
        Array.Clear(Gpr);
        Nip = Msr = Ctr = Lr = Xer = Cr = Dar = Dsisr = Trap = 0;
        X86.Clear();
        Online = Id == 0;
    }
}
