using System.Buffers.Binary;
using System.Globalization;
using Fadump.Kernel.Arch.X86_64;
using Fadump.Kernel.CrashCore;
using Fadump.Kernel.Kexec;
using Fadump.Kernel.Workload;
using Fadump.Machine;

namespace Fadump.Kernel.Platforms;

/// <summary>How `kexec -p` loads the capture kernel.</summary>
public enum KexecLoadMode
{
    /// <summary>kexec_load: kexec-tools plans the segments from /proc/iomem and builds the elfcorehdr in userspace.</summary>
    Legacy,

    /// <summary>kexec_file_load: the kernel places the segments and builds the elfcorehdr.</summary>
    File,
}

/// <summary>A bus-master device of the PC and where its ring is, as a physical address and size.</summary>
public sealed record DmaDeviceSpec(string Name, MemoryRange Ring, ulong BytesPerSecond);

/// <summary>The shape of a simulated x86_64 PC (QEMU's pc machine, SeaBIOS e820).</summary>
public sealed record PcSpec
{
    public ulong MemoryBytes { get; init; } = 64UL << 30;

    public int Cpus { get; init; } = 16;

    public string CommandLine { get; init; } = "root=/dev/sda2 ro quiet crashkernel=512M";

    public string Workload { get; init; } = "database";

    public ulong Seed { get; init; } = 42;

    public KexecLoadMode KexecLoad { get; init; } = KexecLoadMode.Legacy;

    /// <summary>kexec_load only: legacy 640 KiB backup (kexec-tools) or the modern rule (low 1 MiB left out).</summary>
    public LowMemoryMode LowMemory { get; init; } = LowMemoryMode.LegacyBackup;

    /// <summary>Devices that keep writing through the crash (seed 004's hazard); none by default.</summary>
    public IReadOnlyList<DmaDeviceSpec> Dma { get; init; } = [];

    public CostModel Cost { get; init; } = new();

    /// <summary>The kdump capture kernel's command line additions (kdump-utils' KDUMP_COMMANDLINE_APPEND for x86_64).</summary>
    public string CaptureAppend { get; init; } = "irqpoll nr_cpus=1 reset_devices";

    public string? Validate()
    {
        if (MemoryBytes < (256UL << 20) || MemoryBytes % 4096 != 0 || MemoryBytes > (64UL << 40))
        {
            return FormattableString.Invariant($"memory size 0x{MemoryBytes:x} must be a multiple of 4K between 256M and 64T");
        }

        int max = CrashNotes.MaxCpus(X86_64Arch.Debian61());
        if (Cpus < 1 || Cpus > max)
        {
            return FormattableString.Invariant($"an x86_64 PC here has 1 to {max} CPUs");
        }

        return null;
    }
}

/// <summary>
/// An x86_64 PC with kexec-based kdump (seeds 003 and 004): boot with crashkernel=, `kexec -p` (either
/// syscall), panic → __crash_kexec → purgatory → the capture kernel inside the reservation with
/// /proc/vmcore, then the second reboot through the firmware back to production.
/// </summary>
public sealed class X86_64Pc
{
    /// <summary>The DMI "Hardware name" of QEMU's pc machine as die() prints it.</summary>
    public const string HardwareName = "QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014";

    public const string Release = "6.1.0-56-amd64";

    private readonly X86_64Arch _arch = X86_64Arch.Debian61();

    public X86_64Pc(PcSpec spec)
    {
        if (spec.Validate() is { } error)
        {
            throw new ArgumentException(error, nameof(spec));
        }

        Spec = spec;
        E820 = E820.ForMachine(spec.MemoryBytes);
        Machine = new SimulatedMachine(E820.Dram, spec.Cpus, spec.Cost);
        foreach (var d in spec.Dma)
        {
            Machine.Dma.Add(d.Name, d.Ring, d.BytesPerSecond);
        }
    }

    public PcSpec Spec { get; }

    public E820 E820 { get; }

    public SimulatedMachine Machine { get; }

    public LinuxKernel? Kernel { get; private set; }

    /// <summary>Kernels booted so far, oldest first.</summary>
    public List<LinuxKernel> Boots { get; } = [];

    /// <summary>What `kexec -p` planned (kexec_load) — null for kexec_file_load or before a load.</summary>
    public KexecPlan? Plan { get; private set; }

    /// <summary>kexec -p's error output when the load failed.</summary>
    public string? LoadError { get; private set; }

    /// <summary>What purgatory did at the last crash.</summary>
    public PurgatoryResult? Purgatory { get; private set; }

    /// <summary>Bus-master writes from the crash until the capture kernel's drivers reset the devices.</summary>
    public IReadOnlyList<DmaWrite> DmaAfterCrash { get; private set; } = [];

    /// <summary>The first kernel's mechanism (kdump).</summary>
    public KdumpMechanism Kdump => (KdumpMechanism)Kernel!.Mechanism;

    public LinuxKernel Boot()
    {
        var k = LinuxKernel.Boot(Machine, _arch, new PcPlatform(E820.UsablePages, E820.Entries), kk => new KdumpMechanism(kk), FirstKernelOptions(Spec.CommandLine));
        Kernel = k;
        Boots.Add(k);
        foreach (var d in Machine.Dma.Devices)
        {
            d.Start(); // the first kernel's drivers program their rings
        }

        return k;
    }

    private KernelOptions FirstKernelOptions(string cmdline) => new()
    {
        CommandLine = cmdline,
        Release = Release,
        Version = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.153-1 (2025-09-20)",
        BuildId = "eb4fbcd037e7253717950bf2b93bd5566f47c56f",
        NodeName = "pc1",
        Workload = WorkloadModel.ByName(Spec.Workload, Spec.Seed),
    };

    /// <summary>
    /// `kexec -p /boot/vmlinuz --initrd=… --append="…"` as the kdump service runs it at boot. Returns false
    /// (and <see cref="LoadError"/>) when kexec failed, as kexec-tools would report it.
    /// </summary>
    public bool LoadCaptureKernel(KexecLoadMode? mode = null)
    {
        var k = Kernel ?? throw new InvalidOperationException("no kernel is running");
        var core = Kdump.Core;
        var kernelImage = BzImage.Build(Release);
        byte[] initrd = InitramfsImage();
        string cmdline = CaptureCommandLine(k.CommandLine.Text);
        LoadError = null;
        Plan = null;
        if ((mode ?? Spec.KexecLoad) == KexecLoadMode.File)
        {
            if (core is null)
            {
                LoadError = "kexec_file_load failed: Cannot assign requested address\n";
                return false;
            }

            var e = core.KexecFileLoad(kernelImage, initrd, cmdline, KexecFlags.FileOnCrash);
            if (e != Sysfs.Errno.None)
            {
                LoadError = "kexec_file_load failed: " + Sysfs.KernelFileException.Describe(e) + "\n" + core.LastFileLoadMessage;
                return false;
            }

            return true;
        }

        try
        {
            var notes = Enumerable.Range(0, Machine.Cpus.Count).Select(c => new NoteBuffer(
                ulong.Parse(k.Files.ReadText($"/sys/devices/system/cpu/cpu{c}/crash_notes").Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                ulong.Parse(k.Files.ReadText($"/sys/devices/system/cpu/cpu{c}/crash_notes_size").Trim(), CultureInfo.InvariantCulture))).ToList();
            var input = new KexecToolsInput(
                k.Files.ReadText("/proc/iomem"), kernelImage, initrd, cmdline, notes, k.Files.ReadText("/sys/kernel/vmcoreinfo"),
                new KernelMapping(_arch.PageOffset, _arch.KernelVirtualBase & ~((1UL << 20) - 1), Mm.Ranges.AlignUp(_arch.Image.ImageSize, 4096)));
            if (core is null)
            {
                Plan = KexecTools.Plan(input, new KexecToolsOptions { LowMemory = Spec.LowMemory }); // throws: not reserved
                return false;
            }

            Plan = KexecTools.Load(core, input, new KexecToolsOptions { LowMemory = Spec.LowMemory });
            return true;
        }
        catch (KexecToolsException e)
        {
            LoadError = e.Message;
            return false;
        }
    }

    /// <summary>kdump-utils' capture command line: the first kernel's without crashkernel=, plus the append list.</summary>
    public string CaptureCommandLine(string first) =>
        string.Join(' ', first.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(w => !w.StartsWith("crashkernel=", StringComparison.Ordinal)).Append(Spec.CaptureAppend));

    /// <summary>A small initramfs: a newc cpio header and the kdump scripts' names (content is not executed).</summary>
    private static byte[] InitramfsImage()
    {
        var b = new byte[256 << 10];
        System.Text.Encoding.ASCII.GetBytes("070701" + "kdump initramfs: /init /sbin/kdump.sh /usr/bin/makedumpfile").CopyTo(b, 0);
        return b;
    }

    /// <summary>
    /// Crashes the running kernel. With a crash kernel loaded: __crash_kexec, purgatory, and (unless
    /// purgatory hangs on a digest mismatch) the capture kernel boots inside the reservation. Devices keep
    /// writing until its drivers reset them. Returns whether a capture kernel is running.
    /// </summary>
    public bool Crash(CrashKind kind, int crashingCpu = 0)
    {
        var k = Kernel ?? throw new InvalidOperationException("no kernel is running");
        TimeSpan crashAt = Machine.Clock.Now;
        Machine.Dma.ClearLog();
        bool kexeced = k.Crash(kind, crashingCpu);
        if (!kexeced)
        {
            RunDma(crashAt);
            return false;
        }

        Purgatory = Kdump.Purgatory;
        if (Purgatory is not { Hung: false } p)
        {
            RunDma(crashAt);
            return false;
        }

        // The capture kernel: its command line and memory map come from boot_params (rsi), as a kexec'd kernel reads them.
        var (cmdline, memmap) = ReadBootParams(p.BootParams);
        ulong text = p.KernelEntry & ~((2UL << 20) - 1);
        var captureArch = X86_64Arch.NoKaslrAt(text);
        var usable = memmap.Where(e => e.Type == E820Type.Ram).Select(e => e.Range)
            .Select(r => MemoryRange.FromBounds(Mm.Ranges.AlignUp(r.Start, 4096), r.End & ~4095UL)).Where(r => r.Size > 0).ToList();
        var options = FirstKernelOptions(cmdline) with { NodeName = "pc1" };
        var cap = LinuxKernel.Boot(Machine, captureArch, new PcPlatform(usable, memmap), kk => new KdumpMechanism(kk), options);
        // reset_devices: the capture kernel's drivers reset their hardware at probe; DMA stops here.
        RunDma(crashAt);
        foreach (var d in Machine.Dma.Devices)
        {
            d.Reset();
        }

        Kernel = cap;
        Boots.Add(cap);
        return true;
    }

    private void RunDma(TimeSpan since)
    {
        Machine.Dma.Run(since, Machine.Clock.Now - since);
        DmaAfterCrash = [.. Machine.Dma.Writes];
    }

    /// <summary>The command line (cmd_line_ptr) and the e820 table of a boot_params page in memory.</summary>
    private (string CommandLine, List<E820Entry> Map) ReadBootParams(ulong address)
    {
        var page = new byte[BootParams.Size];
        Machine.Memory.Read(address, page);
        uint cmdPtr = BinaryPrimitives.ReadUInt32LittleEndian(page.AsSpan(0x228));
        var cmd = new byte[2048];
        Machine.Memory.Read(cmdPtr, cmd);
        int nul = Array.IndexOf(cmd, (byte)0);
        string cmdline = System.Text.Encoding.ASCII.GetString(cmd, 0, nul < 0 ? cmd.Length : nul);
        int n = Math.Min(page[BootParams.E820Entries], (byte)BootParams.E820MaxEntries);
        var map = new List<E820Entry>();
        for (int i = 0; i < n; i++)
        {
            var e = page.AsSpan(BootParams.E820Table + (i * BootParams.E820EntrySize), BootParams.E820EntrySize);
            ulong start = BinaryPrimitives.ReadUInt64LittleEndian(e), size = BinaryPrimitives.ReadUInt64LittleEndian(e[8..]);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(e[16..]);
            if (size > 0)
            {
                map.Add(new E820Entry(new MemoryRange(start, size), (E820Type)type));
            }
        }

        return (cmdline, map);
    }

    /// <summary>
    /// The second reboot: the capture kernel (or a hung machine) restarts through the firmware, which
    /// initialises all of RAM and boots the first kernel again: production resumes only then.
    /// </summary>
    public LinuxKernel Reboot()
    {
        Machine.Clock.Advance(TimeSpan.FromSeconds(Machine.Cost.ResetAndIplSeconds));
        return Boot();
    }
}

/// <summary>A PC as the kernel sees it: the e820 map it boots with and the DMI name.</summary>
internal sealed class PcPlatform(IReadOnlyList<MemoryRange> usable, IReadOnlyList<E820Entry> e820) : IKernelPlatform
{
    public string Name => X86_64Pc.HardwareName;

    public IReadOnlyList<MemoryRange> Memory => usable;

    /// <summary>The first page (trim_bios_range) and the low 1 MiB (reserve_real_mode; since 5.13 all of it).</summary>
    public IEnumerable<MemoryRange> EarlyReservations => [new MemoryRange(0, 1UL << 20)];

    /// <summary>e820__reserve_resources: every entry by its name; the first page is "Reserved".</summary>
    public IEnumerable<(string Name, MemoryRange Range)> IomemEntries
    {
        get
        {
            foreach (var e in e820)
            {
                if (e.Type == E820Type.Ram && e.Range.Start == 0 && e.Range.Size > 4096)
                {
                    yield return ("Reserved", new MemoryRange(0, 4096));
                    yield return (e.IomemName, MemoryRange.FromBounds(4096, e.Range.End));
                }
                else
                {
                    yield return (e.IomemName, e.Range);
                }
            }
        }
    }

    public IEnumerable<string> SetupArchMessages =>
    [
        .. E820.BootLog(e820),
        "NX (Execute Disable) protection: active",
        "DMI: " + X86_64Pc.HardwareName,
    ];

    public ulong MemoryBlockSize => 128UL << 20;

    public string HotAddStarting(ulong blocks) => throw new NotSupportedException("memory hot-add is simulated on pseries only");

    public string HotAdded(ulong blockStart) => throw new NotSupportedException("memory hot-add is simulated on pseries only");

    public void TerminateFromFirmware() => throw new NotSupportedException("a PC has no firmware-initiated termination");
}
