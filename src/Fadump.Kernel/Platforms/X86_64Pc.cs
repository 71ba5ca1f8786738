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

/// <summary>Where the capture kernel runs (seed 004's two options).</summary>
public enum CapturePlacement
{
    /// <summary>The 2005 design, merged: the capture kernel runs inside the reservation; old memory is only read.</summary>
    Relocatable,

    /// <summary>
    /// The 2004 design: at the crash the low memory [0, size) is swapped with the reservation and the capture
    /// kernel runs at the normal low address; the old low memory is dumped from the reservation.
    /// </summary>
    SwapToZero,
}

/// <summary>What one device write after the crash hit.</summary>
public enum DmaTarget
{
    /// <summary>A page of the crashed kernel's memory that is dumped: the dump holds the device's data, not the crash-time page.</summary>
    DumpedPage,

    /// <summary>The capture kernel's own memory (its image or what it allocated).</summary>
    CaptureKernel,
}

/// <summary>One device write after the crash, and what it hit.</summary>
public sealed record DmaImpact(string Device, MemoryRange Range, DmaTarget Target, TimeSpan SinceCrash);

/// <summary>Seed 004's question answered for one run: which pages in-flight DMA corrupted, where, and whether the capture survived.</summary>
public sealed record DmaReport(CapturePlacement Placement, IReadOnlyList<DmaImpact> Impacts, bool CaptureSurvived, string? Failure)
{
    public ulong CorruptedDumpPages => Pages(DmaTarget.DumpedPage);

    public ulong CorruptedCapturePages => Pages(DmaTarget.CaptureKernel);

    private ulong Pages(DmaTarget t) => DistinctPages(Impacts.Where(i => i.Target == t).Select(i => i.Range));

    /// <summary>How many distinct 4 KiB pages the ranges touch.</summary>
    public static ulong DistinctPages(IEnumerable<MemoryRange> ranges) => (ulong)ranges
        .SelectMany(r => Enumerable.Range(0, (int)(((r.End + 4095) / 4096) - (r.Start / 4096))).Select(n => (r.Start / 4096) + (ulong)n))
        .Distinct().LongCount();
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

    /// <summary>Where the capture kernel runs (seed 004).</summary>
    public CapturePlacement Placement { get; init; } = CapturePlacement.Relocatable;

    /// <summary>Devices that keep writing through the crash (seed 004's hazard); none by default.</summary>
    public IReadOnlyList<DmaDeviceSpec> Dma { get; init; } = [];

    public CostModel Cost { get; init; } = new();

    /// <summary>The kdump capture kernel's command line additions (kdump-utils' KDUMP_COMMANDLINE_APPEND for x86_64).</summary>
    public string CaptureAppend { get; init; } = "irqpoll nr_cpus=1 reset_devices";

    /// <summary>MAXMEM (2^46 with 4-level paging) less the PCI hole [3 GiB, 4 GiB) that pushes RAM up.</summary>
    public const ulong MaxMemory = (64UL << 40) - (1UL << 30);

    public string? Validate()
    {
        if (MemoryBytes < (256UL << 20) || MemoryBytes % 4096 != 0)
        {
            return FormattableString.Invariant($"memory size 0x{MemoryBytes:x} must be a multiple of 4K, at least 256M");
        }

        if (MemoryBytes > MaxMemory)
        {
            return "x86_64 with 4-level paging addresses 64 TiB of physical memory (MAX_PHYSMEM_BITS 46, MAXMEM); with the 1 GiB PCI hole below 4 GiB a PC holds at most 64T-1G of RAM (63T or less)";
        }

        if (Placement == CapturePlacement.SwapToZero && KexecLoad != KexecLoadMode.Legacy)
        {
            return "the swap-to-zero placement (2004) is a kexec_load design: use the legacy kexec load";
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

    /// <summary>What the devices' writes after the last crash hit (null before a crash).</summary>
    public DmaReport? Dma { get; private set; }

    /// <summary>Why the last crash produced no running capture kernel (null when one runs).</summary>
    public string? CaptureFailure { get; private set; }

    /// <summary>The first kernel's mechanism (kdump).</summary>
    public KdumpMechanism Kdump => (KdumpMechanism)Kernel!.Mechanism;

    public LinuxKernel Boot()
    {
        var k = LinuxKernel.Boot(Machine, _arch, new PcPlatform(E820.UsablePages, E820.Entries), kk => new KdumpMechanism(kk), FirstKernelOptions(Spec.CommandLine));
        Kernel = k;
        k.CrashHandler = kind => Crash(kind);
        k.RebootHandler = () => Reboot();
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
    /// purgatory hangs on a digest mismatch) the capture kernel boots — inside the reservation, or at the
    /// low address after the swap. Devices keep writing until its drivers reset them (reset_devices at
    /// probe); <see cref="Dma"/> says what they hit. Returns whether a capture kernel is running.
    /// </summary>
    public bool Crash(CrashKind kind, int crashingCpu = 0)
    {
        var k = Kernel ?? throw new InvalidOperationException("no kernel is running");
        TimeSpan crashAt = Machine.Clock.Now;
        Machine.Dma.ClearLog();
        CaptureFailure = null;
        var impacts = new List<DmaImpact>();
        bool kexeced = k.Crash(kind, crashingCpu);
        Purgatory = kexeced ? Kdump.Purgatory : null;
        if (!kexeced || Purgatory is not { Hung: false } p)
        {
            // No capture kernel resets the devices: they write on until the machine is reset.
            Machine.Clock.Advance(TimeSpan.FromSeconds(1));
            RunDma(crashAt, crashAt, impacts, _ => DmaTarget.DumpedPage);
            CaptureFailure = !kexeced ? "no crash kernel loaded: panic without a dump"
                : FormattableString.Invariant($"purgatory hung: {Purgatory?.Message}");
            Dma = new DmaReport(Spec.Placement, impacts, false, CaptureFailure);
            return false;
        }

        // Until purgatory is done every write lands in the crashed kernel's memory (and, swapped or not, is dumped).
        var region = k.CrashKernelReservation!.Value;
        RunDma(crashAt, crashAt, impacts, _ => DmaTarget.DumpedPage);
        var (cmdline, memmap) = ReadBootParams(p.BootParams);
        ulong text = p.KernelEntry & ~((2UL << 20) - 1);
        if (Spec.Placement == CapturePlacement.SwapToZero)
        {
            (cmdline, memmap, text) = SwapToZero(k, region, cmdline, text);
        }

        var captureArch = X86_64Arch.NoKaslrAt(text);
        var usable = memmap.Where(e => e.Type == E820Type.Ram).Select(e => e.Range)
            .Select(r => MemoryRange.FromBounds(Mm.Ranges.AlignUp(r.Start, 4096), r.End & ~4095UL)).Where(r => r.Size > 0).ToList();
        TimeSpan bootFrom = Machine.Clock.Now;
        var cap = LinuxKernel.Boot(Machine, captureArch, new PcPlatform(usable, memmap), kk => new KdumpMechanism(kk), FirstKernelOptions(cmdline));
        Kernel = cap;
        cap.RebootHandler = () => Reboot();
        Boots.Add(cap);

        // During the capture kernel's boot, up to its drivers' reset: a write into its memory hits the capture kernel.
        RunDma(bootFrom, crashAt, impacts, r => usable.Any(u => u.Overlaps(r)) ? DmaTarget.CaptureKernel : DmaTarget.DumpedPage);
        foreach (var d in Machine.Dma.Devices)
        {
            d.Reset();
        }

        var image = new MemoryRange(captureArch.KernelPhysicalBase, captureArch.Image.ImageSize);
        var hit = impacts.FirstOrDefault(i => i.Target == DmaTarget.CaptureKernel && i.Range.Overlaps(image));
        if (hit is not null)
        {
            CaptureFailure = FormattableString.Invariant(
                $"DMA from {hit.Device} overwrote the capture kernel's image at 0x{hit.Range.Start:x}-0x{hit.Range.End - 1:x}: the capture kernel crashed, the dump is lost");
            cap.Printk("BUG: unable to handle page fault for address: " + captureArch.Sym(hit.Range.Start - captureArch.KernelPhysicalBase).ToString("x16", CultureInfo.InvariantCulture), 1);
            Dma = new DmaReport(Spec.Placement, impacts, false, CaptureFailure);
            return false;
        }

        Dma = new DmaReport(Spec.Placement, impacts, true, null);
        return true;
    }

    private void RunDma(TimeSpan from, TimeSpan crashAt, List<DmaImpact> impacts, Func<MemoryRange, DmaTarget> classify)
    {
        int before = Machine.Dma.Writes.Count;
        Machine.Dma.Run(from, Machine.Clock.Now - from);
        foreach (var w in Machine.Dma.Writes.Skip(before))
        {
            impacts.Add(new DmaImpact(w.Device, w.Range, classify(w.Range), w.At - crashAt));
        }

        DmaAfterCrash = [.. Machine.Dma.Writes];
    }

    /// <summary>
    /// The 2004 placement: purgatory swaps [0, size) with the reservation, so the capture kernel (loaded in the
    /// reservation) now sits at the low address and the old low memory is in the reservation. The capture kernel
    /// runs in [0, size) (mem=size) with an elfcorehdr whose PT_LOADs for old low memory point at the reservation.
    /// </summary>
    private (string Cmdline, List<E820Entry> Map, ulong Text) SwapToZero(LinuxKernel k, MemoryRange region, string cmdline, ulong text)
    {
        var mem = Machine.Memory;
        ulong size = region.Size;
        var low = Mm.Ranges.Intersect(mem.Ram, new MemoryRange(0, size));
        // What kexec loaded into the reservation (the capture kernel, initrd, boot params …), kept to move down.
        var loaded = new List<(ulong Offset, byte[] Bytes)>();
        foreach (var seg in Plan?.KexecSegments ?? [])
        {
            var b = new byte[seg.MemorySize];
            mem.Read(seg.Memory, b);
            loaded.Add((seg.Memory - region.Start, b));
        }

        foreach (var r in low)
        {
            mem.Copy(r.Start, region.Start + r.Start, r.Size); // old low memory → the reservation (a snapshot)
        }

        foreach (var (offset, bytes) in loaded)
        {
            mem.Write(offset, bytes);                         // the capture kernel → low memory
        }

        // The elfcorehdr of the swap design: old [0, size) read from the reservation; the reservation itself not dumped.
        var notes = Kdump.Notes!;
        ulong Moved(ulong a) => a < size ? region.Start + a : a;
        var b2 = new ElfCoreHeaderBuilder(ElfCoreHeaderBuilder.KexecToolsAlignment);
        for (int c = 0; c < notes.PossibleCpus; c++)
        {
            b2.AddNote(Moved(notes.Address(c)), (ulong)notes.NoteBufSize);
        }

        b2.AddNote(Moved(k.VmcoreInfoNotePhys), KdumpMechanism.VmcoreInfoNoteSize);
        foreach (var r in Mm.Ranges.Subtract(k.Memory, [region]))
        {
            foreach (var part in Mm.Ranges.Subtract([r], [new MemoryRange(0, size)]).Concat(Mm.Ranges.Intersect([r], new MemoryRange(0, size))).OrderBy(x => x.Start))
            {
                b2.AddLoad(part.Start, _arch.PageOffset + part.Start, part.Size, part.Start < size ? region.Start + part.Start : null);
            }
        }

        byte[] hdr = b2.Build(Formats.DumpMachine.X86_64);
        ulong hdrAt = Plan is { } plan ? plan.ElfCoreHeaderAddress - region.Start : size - Mm.Ranges.AlignUp((ulong)hdr.Length, 4096);
        mem.Write(hdrAt, hdr);
        string newCmdline = string.Join(' ', cmdline.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(w => !w.StartsWith("elfcorehdr=", StringComparison.Ordinal) && !w.StartsWith("memmap=", StringComparison.Ordinal))
            .Append(FormattableString.Invariant($"elfcorehdr=0x{hdrAt:x}")).Append(FormattableString.Invariant($"mem={size >> 20}M")));
        var map = low.Select(r => new E820Entry(r, E820Type.Ram)).ToList();
        return (newCmdline, map, text - region.Start);
    }

    /// <summary>
    /// Runs the same crash on two identical machines, one per placement, with the same devices: which pages
    /// in-flight DMA corrupted, where, and whether the capture survived (seed 004's debate, measured).
    /// </summary>
    public static (DmaReport Relocatable, DmaReport Swap) ComparePlacements(PcSpec spec, CrashKind kind = CrashKind.Panic)
    {
        DmaReport Run(CapturePlacement placement)
        {
            var pc = new X86_64Pc(spec with { Placement = placement, KexecLoad = KexecLoadMode.Legacy });
            pc.Boot();
            if (!pc.LoadCaptureKernel())
            {
                throw new InvalidOperationException(pc.LoadError);
            }

            pc.Crash(kind);
            return pc.Dma!;
        }

        return (Run(CapturePlacement.Relocatable), Run(CapturePlacement.SwapToZero));
    }

    /// <summary>The command line (cmd_line_ptr) and the e820 table of a boot_params page in memory.</summary>
    private (string CommandLine, List<E820Entry> Map) ReadBootParams(ulong address)
    {
        var page = new byte[BootParams.Size];
        Machine.Memory.Read(address, page);
        uint cmdPtr = BinaryPrimitives.ReadUInt32LittleEndian(page.AsSpan(BzImage.CmdLinePtr));
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
