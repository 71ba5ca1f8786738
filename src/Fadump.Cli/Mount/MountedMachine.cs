using Fadump.Cli.Simulation;
using Fadump.Kernel;
using Fadump.Machine;
using Fadump.Kernel.Platforms;
using Fadump.Kernel.Platforms.PowerNv;

namespace Fadump.Cli.Mount;

/// <summary>
/// The simulated machine behind `fadump sim mount`: booted as its platform boots (an x86_64 PC's kdump service
/// also runs `kexec -p`, at boot and after every reboot), then left running. Writes to its files drive it:
/// sysrq c crashes it into the capture kernel, sysrq b reboots it, release and registration act at once.
/// </summary>
internal sealed class MountedMachine
{
    private readonly Func<LinuxKernel?> _running;
    private readonly SimulatedMachine _machine;

    private MountedMachine(string description, SimulatedMachine machine, Func<LinuxKernel?> running, string platform)
    {
        Description = description;
        _machine = machine;
        _running = running;
        Platform = platform;
    }

    /// <summary>The machine was powered off (sysrq o): the mount has nothing left to serve.</summary>
    public bool PoweredOff => _machine.PoweredOff;

    /// <summary>"simulated pseries LPAR (64 GiB, 16 CPUs)".</summary>
    public string Description { get; }

    public string Platform { get; }

    public LinuxKernel? Kernel => _running();

    /// <summary>Builds and boots the machine the options describe.</summary>
    public static MountedMachine Boot(DemoOptions o)
    {
        switch (o.Platform)
        {
            case "x86_64":
            {
                var spec = o.Pc!;
                var pc = new X86_64Pc(spec);
                pc.Boot();
                Arm(pc, spec);
                return new MountedMachine(Describe("x86_64 PC", spec.MemoryBytes, spec.Cpus), pc.Machine, () => pc.Kernel, o.Platform);
            }

            case "power6":
            {
                var lpar = new Power6Lpar(o.Power6!);
                lpar.Boot();
                return new MountedMachine(Describe("Power6 LPAR", o.Power6!.MemoryBytes, o.Power6.Cpus), lpar.Machine, () => lpar.Kernel, o.Platform);
            }

            case "powernv":
            {
                var sys = new PowerNvSystem(o.PowerNv!);
                sys.Boot();
                return new MountedMachine(Describe("PowerNV system", o.PowerNv!.MemoryBytes, o.PowerNv.Cpus), sys.Machine, () => sys.Kernel, o.Platform);
            }

            default:
            {
                var lpar = new PseriesLpar(o.Lpar);
                lpar.Boot();
                return new MountedMachine(Describe("pseries LPAR", o.Lpar.MemoryBytes, o.Lpar.Cpus), lpar.Machine, () => lpar.Kernel, o.Platform);
            }
        }
    }

    /// <summary>The kdump service's `kexec -p` on the first kernel, and again after each reboot (sysrq b).</summary>
    private static void Arm(X86_64Pc pc, Kernel.Platforms.PcSpec spec)
    {
        pc.LoadCaptureKernel(spec.KexecLoad);
        var k = pc.Kernel!;
        void Reboot()
        {
            pc.Reboot();
            Arm(pc, spec);
        }

        k.RebootHandler = Reboot;
        var crash = k.CrashHandler!;
        k.CrashHandler = kind =>
        {
            bool captured = crash(kind);
            if (pc.Kernel is { } capture && !ReferenceEquals(capture, k))
            {
                capture.RebootHandler = Reboot; // the second reboot, out of the capture kernel
            }

            return captured;
        };
    }

    private static string Describe(string what, ulong memory, int cpus) =>
        $"simulated {what} ({Formats.BinarySize.Format(memory)}, {cpus} CPU{(cpus == 1 ? "" : "s")})";

    /// <summary>What is running now, for the line printed when it changes: "the capture kernel (6.1.0-…) is up; proc/vmcore is 58 GiB".</summary>
    public string State()
    {
        var k = Kernel;
        if (k is null)
        {
            return "no kernel is running";
        }

        if (k.Crashed)
        {
            return "the kernel crashed and nothing booted after it (no dump was taken); echo b > proc/sysrq-trigger reboots";
        }

        if (k.Vmcore is { } v)
        {
            return $"the capture kernel is up: proc/vmcore is {Formats.BinarySize.Format((ulong)v.Length)}";
        }

        if (k.Files.Exists(Fadump.Kernel.Phyp.PhypDump.ReleaseRegionPath))
        {
            return "the kernel is up with the phyp dump held in memory: dev/mem, sys/kernel/release_region";
        }

        return $"a kernel is up ({k.CommandLine.Text})";
    }
}
