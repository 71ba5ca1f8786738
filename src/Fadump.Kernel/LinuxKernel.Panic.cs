namespace Fadump.Kernel;

public sealed partial class LinuxKernel
{
    /// <summary>The panic message handed to the mechanism's trigger ("OS panic: ..."), once crashed.</summary>
    public string? CrashMessage { get; private set; }

    /// <summary>
    /// How the machine crashes this kernel from /proc/sysrq-trigger ('c'): the platform's whole crash path (the
    /// firmware's dump, then the next kernel's boot). Unset, the kernel just crashes and nothing boots after it.
    /// </summary>
    public Func<CrashKind, bool>? CrashHandler { get; set; }

    /// <summary>How the machine restarts from /proc/sysrq-trigger ('b'): the platform's reboot. Unset, 'b' does nothing.</summary>
    public Action? RebootHandler { get; set; }

    /// <summary>
    /// Crashes the kernel (panic(), die(), sysrq, or the firmware terminating the machine). Returns true when the
    /// mechanism took a dump and the machine was reset (boot the capture kernel next), false when no dump was
    /// taken (not armed, or the trigger returned).
    /// </summary>
    public bool Crash(CrashKind kind, int crashingCpu = 0)
    {
        if (Crashed)
        {
            throw new InvalidOperationException("the kernel has already crashed");
        }

        Crashed = true;
        Arch.SetRunningRegisters(_machine.Cpus, crashingCpu);
        var cpu = _machine.Cpus[crashingCpu];
        string msg;
        switch (kind)
        {
            case CrashKind.Sysrq:
                Printk("sysrq: Trigger a crash", 6, crashingCpu);
                Arch.EnterPanic(cpu, kind);
                msg = "sysrq triggered crash";
                Printk("Kernel panic - not syncing: " + msg, 0, crashingCpu);
                break;
            case CrashKind.Oops:
                foreach (var (line, level) in Arch.Oops(cpu, _platform.Name))
                {
                    Printk(line, level, crashingCpu);
                }

                msg = "die oops";
                break;
            case CrashKind.FirmwareTerminate:
                // No OS involvement: the partition is terminated from outside; the firmware dumps on its own.
                _platform.TerminateFromFirmware();
                CrashMessage = null;
                return Mechanism.Armed;
            default:
                Arch.EnterPanic(cpu, kind);
                msg = "Attempted to kill init! exitcode=0x0000000b";
                Printk("Kernel panic - not syncing: " + msg, 0, crashingCpu);
                break;
        }

        CrashMessage = "OS panic: " + msg;
        if (Mechanism.Armed && Mechanism.OnPanic(crashingCpu, CrashMessage))
        {
            return true;
        }

        // Not armed, or the trigger returned (no ibm,extended-os-term): panic() carries on without a dump.
        Printk("---[ end Kernel panic - not syncing: " + msg + " ]---", 0, crashingCpu);
        return false;
    }

    /// <summary>machine_shutdown before a reboot or a kexec: the mechanism cleans up so the next kernel finds nothing stale.</summary>
    public void Shutdown()
    {
        // (quirk of the simulation) the reboot line is logged only where the firmware offers the mechanism.
        if (!Mechanism.Present || Crashed)
        {
            return;
        }

        Mechanism.Shutdown();
        Printk("reboot: Restarting system");
    }
}
