using Fadump.Firmware.Rtas;
using Fadump.Kernel.Fadump;
using Fadump.Kernel.Structures;
using Fadump.Machine;
using Fadump.Kernel.Arch;
using P = Fadump.Kernel.Arch.Ppc64.Ppc64Arch;

namespace Fadump.Kernel;

public sealed partial class PseriesKernel
{
    /// <summary>Kernel text addresses the simulated CPUs are found at (for registers and notes).</summary>
    public const ulong PanicNip = 0xc000000000152b40;      // panic()
    public const ulong OopsNip = 0xc000000000a1b2c4;       // the faulting instruction of the oops
    public const ulong SysrqCrashNip = 0xc0000000009bd1a0; // sysrq_handle_crash
    public const ulong IdleNip = 0xc0000000000231a0;       // power10_idle / plpar_hcall_norets

    /// <summary>The message passed to ibm,os-term ("OS panic: ..."), once crashed.</summary>
    public string? CrashMessage { get; private set; }

    /// <summary>
    /// Crashes the kernel. With FADump registered this ends in ibm,os-term, the firmware takes the dump
    /// and resets the machine (returns true; boot the capture kernel next). Returns false when no dump
    /// was taken (not registered, or ibm,os-term is a no-op without ibm,extended-os-term).
    /// </summary>
    public bool Crash(CrashKind kind, int crashingCpu = 0)
    {
        if (Crashed)
        {
            throw new InvalidOperationException("the kernel has already crashed");
        }

        Crashed = true;
        SetRunningRegisters(crashingCpu);
        var cpu = _machine.Cpus[crashingCpu];
        string msg;
        switch (kind)
        {
            case CrashKind.Sysrq:
                Printk("sysrq: Trigger a crash", 6, crashingCpu);
                cpu.Nip = SysrqCrashNip;
                msg = "sysrq triggered crash";
                Printk("Kernel panic - not syncing: " + msg, 0, crashingCpu);
                break;
            case CrashKind.Oops:
                cpu.Nip = OopsNip;
                cpu.Dar = 0;
                cpu.Dsisr = 0x40000000;
                cpu.Trap = 0x300;
                Printk("BUG: Kernel NULL pointer dereference on read at 0x00000000", 1, crashingCpu);
                Printk(FormattableString.Invariant($"Faulting instruction address: {CFormat.Hex016(OopsNip)}"), 1, crashingCpu);
                Printk("Oops: Kernel access of bad area, sig: 11 [#1]", 4, crashingCpu);
                Printk(FormattableString.Invariant($"LE PAGE_SIZE=64K MMU=Radix SMP NR_CPUS=2048 NUMA pSeries"), 4, crashingCpu);
                msg = "die oops";
                break;
            case CrashKind.FirmwareTerminate:
                // No OS involvement: the HMC terminates the partition; the firmware dumps on its own.
                _rtas.TerminateLpar();
                CrashMessage = null;
                return Dump.Registered;
            default:
                cpu.Nip = PanicNip;
                msg = "Attempted to kill init! exitcode=0x0000000b";
                Printk("Kernel panic - not syncing: " + msg, 0, crashingCpu);
                break;
        }

        CrashMessage = "OS panic: " + msg;
        if (!Dump.Registered)
        {
            Printk("---[ end Kernel panic - not syncing: " + msg + " ]---", 0, crashingCpu);
            return false;
        }

        CrashFadump(crashingCpu);
        if (_rtas.OsTerm(CrashMessage))
        {
            return true;
        }

        // ibm,os-term returned (no ibm,extended-os-term): panic() carries on without a dump.
        Printk("---[ end Kernel panic - not syncing: " + msg + " ]---", 0, crashingCpu);
        return false;
    }

    /// <summary>crash_fadump: header crashing_cpu, CRASHTIME, the crashing CPU's pt_regs, online CPUs.</summary>
    private void CrashFadump(int crashingCpu)
    {
        var h = Header!;
        h.CrashingCpu = (uint)crashingCpu;
        var c = _machine.Cpus[crashingCpu];
        for (int i = 0; i < 32; i++)
        {
            h.Regs[i] = c.Gpr[i];
        }

        h.Regs[CrashInfoHeader.RegNip] = c.Nip;
        h.Regs[CrashInfoHeader.RegMsr] = c.Msr;
        h.Regs[CrashInfoHeader.RegOrigGpr3] = c.Gpr[3];
        h.Regs[CrashInfoHeader.RegCtr] = c.Ctr;
        h.Regs[CrashInfoHeader.RegLink] = c.Lr;
        h.Regs[CrashInfoHeader.RegXer] = c.Xer;
        h.Regs[CrashInfoHeader.RegCcr] = c.Cr;
        h.Regs[CrashInfoHeader.RegSofte] = 1;
        h.Regs[CrashInfoHeader.RegTrap] = c.Trap;
        h.Regs[CrashInfoHeader.RegDar] = c.Dar;
        h.Regs[CrashInfoHeader.RegDsisr] = c.Dsisr;
        Array.Clear(h.CpuMask);
        foreach (var cpu in _machine.Cpus.Where(x => x.Online))
        {
            h.SetCpu(cpu.Id);
        }

        AppendCrashTime();
        WriteHeader();
        // The crashing CPU enters the RTAS call: the firmware saves it in that state.
        c.Nip = 0x000000000000e000 + 0x1c0; // in RTAS
        c.Lr = PanicNip + 0x160;
    }

    /// <summary>Gives every CPU plausible kernel-context registers: idle CPUs in the idle loop, the crashing one in the kernel.</summary>
    private void SetRunningRegisters(int crashingCpu)
    {
        foreach (var c in _machine.Cpus)
        {
            ulong stack = P.KernelBase + 0x3c000000UL + ((ulong)c.Id * 0x4000);
            c.Gpr[1] = stack + 0x3e00;                 // r1: stack pointer
            c.Gpr[2] = P.KernelBase + 0x2a1a800;       // r2: TOC
            c.Gpr[13] = P.KernelBase + 0x3fe00000 + ((ulong)c.Id * 0x400); // r13: paca
            for (int i = 3; i < 32; i++)
            {
                if (i != 13)
                {
                    c.Gpr[i] = Workload.WorkloadModel.Mix64(((ulong)c.Id << 8) + (ulong)i) & 0x00000000ffffffff;
                }
            }

            c.Nip = IdleNip + ((ulong)c.Id * 4 % 64);
            c.Msr = 0x8000000000009033;                // SF | EE | ME | IR | DR | RI | LE
            c.Lr = IdleNip - 0x40;
            c.Ctr = IdleNip;
            c.Cr = 0x24002822;
            c.Xer = 0x20000000;
            c.Trap = c.Id == crashingCpu ? 0x700UL : 0x500UL;
        }
    }

    /// <summary>
    /// machine_shutdown before a reboot or a kexec: fadump_cleanup invalidates an active dump, or
    /// unregisters, so that the next kernel does not find a stale registration.
    /// </summary>
    public void Shutdown()
    {
        if (!Dump.Supported || Crashed)
        {
            return;
        }

        if (Dump.DumpActive)
        {
            _rtas.ConfigureKernelDump(RtasFirmware.CmdInvalidate, 0, FadumpStructure.FullSize);
            Dump.DumpActive = false;
        }
        else if (Dump.Registered)
        {
            UnregisterFadump();
        }

        Printk("reboot: Restarting system");
    }
}
