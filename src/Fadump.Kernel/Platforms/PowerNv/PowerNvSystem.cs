using System.Buffers.Binary;
using System.Text;
using Fadump.Firmware.Opal;
using Fadump.Kernel.Arch.Ppc64;
using Fadump.Kernel.Fadump;
using Fadump.Kernel.Fadump.Opal;
using Fadump.Kernel.Sysfs;
using Fadump.Kernel.Workload;
using Fadump.Machine;

namespace Fadump.Kernel.Platforms.PowerNv;

/// <summary>What petitboot, the kernel between skiboot and the production kernel, does with an MPIPL dump.</summary>
public enum PetitbootMode
{
    /// <summary>Built with CONFIG_PRESERVE_FA_DUMP (op-build since 2019): the crash data above boot_mem_top stays reserved.</summary>
    Preserving,

    /// <summary>Built without it: petitboot takes all memory as its own and overwrites part of the crashed kernel's.</summary>
    NotPreserving,
}

/// <summary>The shape of a simulated bare-metal POWER9 server.</summary>
public sealed record PowerNvSpec
{
    public const string DefaultCommandLine = "root=/dev/sda2 fadump=on";

    public ulong MemoryBytes { get; init; } = 64UL << 30;

    public int Cpus { get; init; } = 16;

    public string CommandLine { get; init; } = DefaultCommandLine;

    public string Workload { get; init; } = "database";

    public ulong Seed { get; init; } = 42;

    public OpalOptions Firmware { get; init; } = new();

    public PetitbootMode Petitboot { get; init; } = PetitbootMode.Preserving;

    /// <summary>What petitboot writes while it runs (page cache of the kernel and initrd it loads, its UI, udev).</summary>
    public ulong PetitbootWorkingSet { get; init; } = 256UL << 20;

    public CostModel Cost { get; init; } = new();

    /// <summary>RAM below 1 GiB holds the kernel, skiboot at 768 MiB and the petitboot load area.</summary>
    public const ulong MinimumMemory = 2UL << 30;

    /// <summary>Null when the system can be built, else what is wrong.</summary>
    public string? Validate()
    {
        if (MemoryBytes < MinimumMemory || MemoryBytes % (64 << 10) != 0)
        {
            return FormattableString.Invariant($"memory size 0x{MemoryBytes:x} must be a multiple of 64K and at least 2G (skiboot lives at 768M, the petitboot load area at 512M)");
        }

        if (Cpus < 1 || Cpus > 2048)
        {
            return "a PowerNV system needs 1 to 2048 CPUs";
        }

        if (Firmware.Chips < 1 || Firmware.Chips > 16)
        {
            return "1 to 16 processor chips";
        }

        return null;
    }
}

/// <summary>
/// A bare-metal POWER9 server (PowerNV): the machine, hostboot/SBE/skiboot (<see cref="OpalFirmware"/>), and on
/// every IPL the chain skiboot → petitboot → kexec → production kernel. The production kernel runs FADump over
/// OPAL MPIPL (<see cref="FadumpCore"/> with <see cref="OpalFadumpOps"/>); after a crash the firmware preserves
/// memory, petitboot (<see cref="PreserveFaDump"/>, or not) keeps it, and the production kernel processes the
/// dump and exports /proc/vmcore and the OPAL core.
/// </summary>
public sealed class PowerNvSystem
{
    public const string Release = "6.1.0-50-powerpc64le";
    public const string PetitbootRelease = "5.10.50-openpower1";

    private readonly PowerNvPlatform _platform;
    private OpalFadumpOps? _ops;
    private int _resetsAtBoot;

    public PowerNvSystem(PowerNvSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Validate() is { } error)
        {
            throw new ArgumentException(error, nameof(spec));
        }

        Spec = spec;
        Machine = new SimulatedMachine([new MemoryRange(0, spec.MemoryBytes)], spec.Cpus, spec.Cost);
        Firmware = new OpalFirmware(Machine, spec.Firmware);
        _platform = new PowerNvPlatform(this);
        Firmware.PowerOn();
    }

    public PowerNvSpec Spec { get; }

    public SimulatedMachine Machine { get; }

    public OpalFirmware Firmware { get; }

    /// <summary>The production kernel running now (null while none is).</summary>
    public LinuxKernel? Kernel { get; private set; }

    /// <summary>The petitboot kernel of the last IPL.</summary>
    public LinuxKernel? Petitboot { get; private set; }

    /// <summary>When the last IPL's petitboot was up (the simulated clock), before it kexecs the production kernel.</summary>
    public TimeSpan PetitbootDoneAt { get; private set; }

    /// <summary>Every kernel booted so far (petitboot and production), oldest first.</summary>
    public List<LinuxKernel> Boots { get; } = [];

    /// <summary>The OPAL core of the running production kernel (null when none is exported or it was never built).</summary>
    public OpalCore? OpalCore { get; internal set; }

    /// <summary>The running production kernel's FADump platform code.</summary>
    public OpalFadumpOps? Ops => _ops;

    /// <summary>The IPL's payload chain: petitboot boots, then kexecs the production kernel.</summary>
    public LinuxKernel Boot()
    {
        Kernel = null;
        OpalCore = null;
        _resetsAtBoot = Machine.Resets;
        var pb = LinuxKernel.Boot(Machine, Ppc64Arch.LittleEndian, _platform, PetitbootMechanism, new KernelOptions
        {
            CommandLine = "console=hvc0 quiet",
            Release = PetitbootRelease,
            Version = "#1 SMP Thu Jul 1 02:07:39 UTC 2021",
            NodeName = "petitboot",
            Workload = WorkloadModel.ByName("idle", Spec.Seed + 1),
            WorkingSet = Spec.PetitbootWorkingSet,
        });
        Petitboot = pb;
        Boots.Add(pb);
        PetitbootDoneAt = Machine.Clock.Now;
        // kexec -l of the production kernel from petitboot's UI, then kexec -e: no firmware reset, the same device tree.
        Machine.Clock.Advance(TimeSpan.FromSeconds(Machine.Cost.KexecJumpSeconds));
        Kernel = LinuxKernel.Boot(Machine, Ppc64Arch.LittleEndian, _platform, k =>
        {
            _ops = new OpalFadumpOps(Firmware);
            return new FadumpCore(k, _ops);
        }, new KernelOptions
        {
            CommandLine = Spec.CommandLine,
            NodeName = "p9host1",
            Workload = WorkloadModel.ByName(Spec.Workload, Spec.Seed),
        });
        Kernel.CrashHandler = kind => Crash(kind);
        Kernel.RebootHandler = () => Reboot();
        Boots.Add(Kernel);
        return Kernel;
    }

    private ICrashDumpMechanism PetitbootMechanism(LinuxKernel k) => Spec.Petitboot == PetitbootMode.Preserving
        ? new PreserveFaDump(k, Firmware)
        : new NoFaDump();

    /// <summary>The preserving petitboot of the last IPL, when it preserved a dump.</summary>
    public PreserveFaDump? PreservingPetitboot => Petitboot?.Mechanism as PreserveFaDump;

    /// <summary>Crashes the production kernel; when the firmware reset the machine, the next IPL's chain boots. Returns whether a dump was preserved.</summary>
    public bool Crash(CrashKind kind, int crashingCpu = 0)
    {
        var k = Kernel ?? throw new InvalidOperationException("no kernel is running");
        bool dumped = k.Crash(kind, crashingCpu);
        AfterCrash();
        return dumped && Firmware.MpiplBoot;
    }

    /// <summary>`reboot`: the production kernel shuts down (FADump unregistered), the firmware IPLs normally, the chain boots.</summary>
    public LinuxKernel Reboot()
    {
        Kernel?.Shutdown();
        Firmware.Reboot();
        return Boot();
    }

    private void AfterCrash()
    {
        // The firmware reset the machine (an MPIPL, or its fallback to a normal IPL): the next chain boots.
        if (Machine.Resets > _resetsAtBoot && Kernel is { Crashed: true })
        {
            Boot();
        }
    }

    /// <summary>skiboot's in-memory console as Linux's /sys/firmware/opal/msglog reads it (the current boot's).</summary>
    public string ReadMsglog()
    {
        var mem = Machine.Memory;
        var m = new byte[40];
        mem.Read(OpalFirmware.SkibootBase + OpalFirmware.MemconsOffset, m);
        if (BinaryPrimitives.ReadUInt64BigEndian(m) != OpalFirmware.MemconsMagic)
        {
            return string.Empty;
        }

        ulong obuf = BinaryPrimitives.ReadUInt64BigEndian(m.AsSpan(8));
        uint size = BinaryPrimitives.ReadUInt32BigEndian(m.AsSpan(24));
        uint outPos = BinaryPrimitives.ReadUInt32BigEndian(m.AsSpan(32));
        uint pos = outPos & 0x00ffffff;
        var sb = new StringBuilder();
        if ((outPos & OpalFirmware.MemconsWrap) != 0 && pos < size)
        {
            var tail = new byte[size - pos];
            mem.Read(obuf + pos, tail);
            sb.Append(Encoding.ASCII.GetString(tail));
        }

        var head = new byte[Math.Min(pos, size)];
        mem.Read(obuf, head);
        sb.Append(Encoding.ASCII.GetString(head));
        return sb.ToString();
    }

    internal bool KernelInitiated => _ops?.KernelInitiated ?? false;
}

/// <summary>What the kernel sees of a PowerNV machine beyond the OPAL calls: ppc_md, the OPAL core and msglog initcalls.</summary>
internal sealed class PowerNvPlatform(PowerNvSystem system) : IKernelPlatform
{
    public string Name => "PowerNV";

    public IReadOnlyList<MemoryRange> Memory => system.Machine.Memory.Ram;

    public IEnumerable<MemoryRange> EarlyReservations => [];

    public IEnumerable<(string Name, MemoryRange Range)> IomemEntries => system.Machine.Memory.Ram.Select(r => ("System RAM", r));

    public IEnumerable<string> SetupArchMessages =>
    [
        "Using PowerNV machine description",
        "radix-mmu: Page sizes from device-tree:",
        "radix-mmu: Page size shift = 16 AP=0x5",
        "OPAL: Found memory mapped LPC bus on chip 0",
    ];

    public ulong MemoryBlockSize => 256UL << 20;

    public string HotAddStarting(ulong blocks) => FormattableString.Invariant($"memory hot-add of {blocks} block(s)");

    public string HotAdded(ulong blockStart) => FormattableString.Invariant($"memory block at {blockStart:x} added");

    /// <summary>A BMC-initiated MPIPL: the SBE stops the machine without the OS.</summary>
    public void TerminateFromFirmware() => system.Firmware.BmcInitiatedMpipl();

    public void PlatformInitcalls(LinuxKernel kernel, KernelFileSystem files)
    {
        files.Add(new VirtualFile { Path = "/sys/firmware/opal/msglog", Mode = 0400, Read = system.ReadMsglog });
        if (kernel.Mechanism is FadumpCore)
        {
            system.OpalCore = OpalCore.Init(kernel, system.Firmware, system.KernelInitiated, files);
        }
    }
}
