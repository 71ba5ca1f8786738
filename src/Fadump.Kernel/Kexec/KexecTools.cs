using System.Globalization;
using System.Text;
using Fadump.Formats;
using Fadump.Kernel.Sysfs;
using Fadump.Machine;

namespace Fadump.Kernel.Kexec;

/// <summary>The memory_range types of kexec-tools (kexec/kexec.h) this planner distinguishes.</summary>
public enum RangeType
{
    Ram,
    Reserved,
    Acpi,
    AcpiNvs,
    Pmem,
    Pram,
}

/// <summary>A kexec-tools <c>struct memory_range</c>: [Start, End] inclusive.</summary>
public readonly record struct CrashRange(ulong Start, ulong End, RangeType Type)
{
    public ulong Size => End - Start + 1;
}

/// <summary>One segment of the plan, named for what it holds.</summary>
public sealed record PlannedSegment(string Name, KexecSegment Segment);

/// <summary>What <c>kexec -p</c> decided and passed to kexec_load.</summary>
public sealed record KexecPlan(
    IReadOnlyList<PlannedSegment> Segments,
    ulong Entry,
    ulong Flags,
    string CommandLine,
    ulong ElfCoreHeaderAddress,
    ulong ElfCoreHeaderSize,
    ulong BackupStart,
    ulong BackupSourceStart,
    ulong BackupSourceSize,
    IReadOnlyList<CrashRange> CrashMemoryRanges,
    IReadOnlyList<CrashRange> Memmap,
    ulong KernelAddress,
    ulong BootParamsAddress)
{
    public PlannedSegment this[string name] => Segments.Single(s => s.Name == name);

    public IReadOnlyList<KexecSegment> KexecSegments => [.. Segments.Select(s => s.Segment)];
}

/// <summary>
/// The userspace half of kdump on x86_64: <c>kexec -p</c> of kexec-tools (kexec/kexec.c my_load,
/// kexec/arch/x86_64/kexec-bzImage64.c, kexec/arch/i386/crashdump-x86.c load_crashdump_segments,
/// kexec/crashdump-elf.c). It reads only what the real tool reads, plans the segments inside the
/// highest "Crash kernel" resource, builds the elfcorehdr itself and calls kexec_load.
/// </summary>
public static class KexecTools
{
    /// <summary>COMMAND_LINE_SIZE on x86 (kexec-tools kexec/arch/i386/kexec-x86.h).</summary>
    public const int CommandLineSize = 2048;

    /// <summary>PURGATORY_CMDLINE_SIZE: room purgatory may append to.</summary>
    public const int PurgatoryCmdlineSize = 64;

    /// <summary>BACKUP_SRC_START / BACKUP_SRC_END (crashdump-x86.h): the default 640 KiB.</summary>
    public const ulong BackupSrcStart = 0, BackupSrcEnd = 0x9ffff;

    /// <summary>INITRD_BASE: the lowest initrd address kexec-tools accepts.</summary>
    public const ulong InitrdBase = 0x1000000;

    /// <summary>Minimum memsz of the elfcorehdr segment (the "ld gap" hack of load_crashdump_segments).</summary>
    public const ulong MinElfCoreHeaderMemsz = 16 * 1024;

    /// <summary>kexec-tools' message when /proc/iomem has no "Crash kernel" (kexec/kexec.c my_load).</summary>
    public const string NotReservedMessage =
        "Memory for crashkernel is not reserved\nPlease reserve memory by passing\"crashkernel=Y@X\" parameter to kernel\nThen try to loading kdump kernel\n";

    /// <summary>Plans and loads; a failed kexec_load becomes kexec-tools' "kexec_load failed" report.</summary>
    public static KexecPlan Load(KexecCore kernel, KexecToolsInput input, KexecToolsOptions options)
    {
        var plan = Plan(input, options);
        Errno e = kernel.KexecLoad(plan.Entry, plan.KexecSegments, plan.Flags);
        if (e != Errno.None)
        {
            var sb = new StringBuilder();
            sb.Append(CultureInfo.InvariantCulture, $"kexec_load failed: {KernelFileException.Describe(e)}\n");
            sb.Append(CultureInfo.InvariantCulture, $"entry       = 0x{plan.Entry:x} flags = 0x{plan.Flags:x}\n");
            sb.Append(CultureInfo.InvariantCulture, $"nr_segments = {plan.Segments.Count}\n");
            for (int i = 0; i < plan.Segments.Count; i++)
            {
                var s = plan.Segments[i].Segment;
                sb.Append(CultureInfo.InvariantCulture, $"segment[{i}].bufsz = 0x{s.BufferSize:x}\nsegment[{i}].mem   = 0x{s.Memory:x}\nsegment[{i}].memsz = 0x{s.MemorySize:x}\n");
            }

            throw new KexecToolsException(sb.ToString());
        }

        return plan;
    }

    /// <summary>Everything <c>kexec -p</c> does before the syscall.</summary>
    public static KexecPlan Plan(KexecToolsInput input, KexecToolsOptions options)
    {
        if (!options.Elf64CoreHeaders)
        {
            throw new KexecToolsException("ELF32 core headers are not supported for x86_64 dumps here\n");
        }

        var iomem = ProcIomem.Parse(input.ProcIomem);

        // is_crashkernel_mem_reserved: every "Crash kernel" line; segments go into the highest one.
        var reserved = iomem.Named("Crash kernel").Take(8).Select(r => new CrashRange(r.Start, r.End, RangeType.Ram)).ToList();
        if (reserved.Count == 0 || reserved.All(r => r.Start == r.End))
        {
            throw new KexecToolsException(NotReservedMessage);
        }

        var load = reserved[^1];

        // bzImage64 probe of kexec-tools (kexec/arch/x86_64/kexec-bzImage64.c).
        var (probe, why) = BzImage.Probe(input.Kernel);
        if (probe != Errno.None)
        {
            throw new KexecToolsException("Cannot determine the file type of the kernel image: " + why + "\n");
        }

        // get_kernel_paddr: the "Kernel code" resource.
        var code = iomem.Named("Kernel code").FirstOrDefault()
            ?? throw new KexecToolsException("Cannot determine kernel physical load addr\n");

        bool legacy = options.LowMemory == LowMemoryMode.LegacyBackup;
        var ranges = CrashMemoryRanges(iomem, reserved, legacy);

        // get_backup_area: the first RAM range ending at or below 640 KiB.
        ulong backupSrcStart = BackupSrcStart, backupSrcSize = BackupSrcEnd - BackupSrcStart + 1;
        var lowRam = CrashMemoryRanges(iomem, reserved, legacy: true)
            .Where(r => r.Type == RangeType.Ram && r.End <= 0xa0000).Cast<CrashRange?>().FirstOrDefault();
        if (lowRam is { } l)
        {
            backupSrcStart = l.Start;
            backupSrcSize = l.Size;
        }

        var memmap = new MemmapList();
        memmap.Add(backupSrcStart, backupSrcSize, RangeType.Ram);
        foreach (var r in reserved)
        {
            if (!memmap.Add(r.Start, r.Size, RangeType.Ram))
            {
                throw new KexecToolsException(FormattableString.Invariant($"Crash kernel [0x{r.Start:x}-0x{r.End:x}] overlaps the memory map\n"));
            }
        }

        var placer = new SegmentPlacer(new MemoryRange(load.Start, load.Size));
        ulong backupStart = 0;
        if (legacy)
        {
            ulong sz = KexecCore.AlignUp(backupSrcSize, 1024);
            backupStart = placer.Add("backup", new byte[sz], sz, 1024, 0, ulong.MaxValue);
            memmap.Delete(backupStart, sz);
        }
        else
        {
            backupSrcStart = backupSrcSize = 0;
        }

        // crash_create_elf64_headers.
        var vmcoreinfo = input.VmcoreInfo is null ? (NoteBuffer?)null : KexecToolsInput.ParseVmcoreInfo(input.VmcoreInfo);
        var elf = new ElfCoreHeaderBuilder(ElfCoreHeaderBuilder.KexecToolsAlignment);
        foreach (var n in input.CpuCrashNotes)
        {
            elf.AddNote(n.Address, n.Size);
        }

        if (vmcoreinfo is { } vi)
        {
            elf.AddNote(vi.Address, vi.Size);
        }

        if (input.Mapping.TextSize != 0)
        {
            elf.AddLoad(code.Start, input.Mapping.TextVirtualStart, input.Mapping.TextSize);
        }

        int ramLoads = 0;
        foreach (var r in ranges.Where(r => r.Type == RangeType.Ram && !(r.Start == 0 && r.End == 0)))
        {
            bool isBackup = legacy && r.Start == backupSrcStart && r.Size == backupSrcSize;
            elf.AddLoad(r.Start, input.Mapping.PageOffset + r.Start, r.Size, isBackup ? backupStart : null);
            ramLoads++;
        }

        // The buffer is sized for every range kept, RAM or not.
        elf.SpareProgramHeaders = ranges.Count - ramLoads;
        byte[] hdr = elf.Build(DumpMachine.X86_64);
        ulong hdrMemsz = Math.Max((ulong)hdr.Length, MinElfCoreHeaderMemsz);
        ulong elfcorehdr = placer.Add("elfcorehdr", hdr, hdrMemsz, 1024, 0, ulong.MaxValue);
        memmap.Delete(elfcorehdr, hdrMemsz);

        // The command line: crashkernel= removed (remove_parameter, as --reuse-cmdline and kdumpctl do), then elfcorehdr=, then memmap=.
        var cmd = new StringBuilder(string.Join(' ', input.CommandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(w => !w.StartsWith("crashkernel=", StringComparison.Ordinal))));
        cmd.Append(CultureInfo.InvariantCulture, $" elfcorehdr={elfcorehdr / 1024}K");
        foreach (var r in ranges.Where(r => r.Type is RangeType.Acpi or RangeType.AcpiNvs or RangeType.Reserved or RangeType.Pmem or RangeType.Pram))
        {
            memmap.Add(r.Start, r.Size, r.Type);
        }

        if (options.PassMemmapCmdline)
        {
            cmd.Append(MemmapCmdline(memmap.Entries));
        }

        string commandLine = cmd.ToString();
        if (commandLine.Length > CommandLineSize - 1)
        {
            throw new KexecToolsException("Command line overflow\n");
        }

        // Purgatory (elf_rel_build_load, min 0x3000, top-down); its variables are written last.
        ulong purgatory = placer.Add("purgatory", new byte[PurgatoryData.Layout.Size], PurgatoryData.ImageSize, KexecFlags.PageSize, KexecCore.MinPurgatoryAddr, ulong.MaxValue);

        // The setup segment: boot_params, then the command line after max(kern16_size, 4096).
        int kern16 = BzImage.Kern16Size(input.Kernel);
        int cmdlineOffset = Math.Max(kern16, BootParams.Size);
        int setupSize = cmdlineOffset + commandLine.Length + 1 + PurgatoryCmdlineSize;
        ulong setup = placer.Add("setup", new byte[setupSize], (ulong)setupSize, 16, KexecCore.MinBootParamAddr, ulong.MaxValue);

        // The kernel: memsz is init_size, aligned as the header asks, at or above 1 MiB.
        ulong kernelAddr = placer.Add("kernel", input.Kernel[kern16..], KexecCore.AlignUp(BzImage.U32(input.Kernel, BzImage.InitSize), 4096),
            BzImage.U32(input.Kernel, BzImage.KernelAlignment), KexecCore.MinKernelLoadAddr, ulong.MaxValue);

        ulong initrdAddr = 0;
        if (input.Initrd is { Length: > 0 } initrd)
        {
            // do_bzImage64_load passes initrd_high = 1 to setup_linux_bootloader_parameters_high ("put initrd high
            // too"): the 64-bit boot protocol ignores initrd_addr_max, so the initrd may sit anywhere in the region.
            initrdAddr = placer.Add("initrd", initrd, (ulong)initrd.Length, 4096, InitrdBase, ulong.MaxValue);
        }

        // setup_e820: the capture kernel's memory map (info->crash_range) unless memmap= carries it.
        var e820 = options.PassMemmapCmdline ? FirmwareMap(iomem) : [.. memmap.Entries.Select(E820)];
        placer.Replace("setup", BootParams.Build(input.Kernel, setup, commandLine, initrdAddr, input.Initrd is null ? 0 : (ulong)input.Initrd.Length, e820, setupSize, cmdlineOffset));

        // update_purgatory: SHA-256 over every segment but purgatory; backup_start and friends.
        var (regions, digest, perRegion) = PurgatoryData.Hash(placer.Sorted.Where(p => p.Name != "purgatory").Select(p => p.Segment));
        var pd = new PurgatoryData(regions, digest, perRegion, backupStart, backupSrcStart, backupSrcSize, kernelAddr + 0x200, setup);
        placer.Replace("purgatory", pd.Encode());

        return new KexecPlan(
            placer.Sorted, purgatory, KexecFlags.OnCrash | KexecFlags.ArchX86_64, commandLine, elfcorehdr, (ulong)hdr.Length,
            backupStart, backupSrcStart, backupSrcSize, ranges, memmap.Entries, kernelAddr, setup);
    }

    /// <summary>
    /// get_crash_memory_ranges: the System RAM, ACPI, reserved and persistent-memory lines of
    /// /proc/iomem (any depth: sscanf skips the indent), minus every Crash kernel range and GART;
    /// in the modern mode also minus [0, 1 MiB) (elf_header_exclude_ranges' rule).
    /// </summary>
    public static List<CrashRange> CrashMemoryRanges(ProcIomem iomem, IReadOnlyList<CrashRange> crashReserved, bool legacy)
    {
        var ranges = new List<CrashRange>();
        CrashRange? gart = null;
        foreach (var r in iomem.All)
        {
            RangeType? t = r.Name switch
            {
                "System RAM" => RangeType.Ram,
                "ACPI Tables" => RangeType.Acpi,
                "ACPI Non-volatile Storage" => RangeType.AcpiNvs,
                "Persistent Memory (legacy)" => RangeType.Pram,
                "Persistent Memory" => RangeType.Pmem,
                "reserved" or "Reserved" => RangeType.Reserved,
                _ => null,
            };
            if (r.Name == "GART")
            {
                gart = new CrashRange(r.Start, r.End, RangeType.Reserved);
            }
            else if (t is { } type)
            {
                ranges.Add(new CrashRange(r.Start, r.End, type));
            }
        }

        foreach (var c in crashReserved)
        {
            ExcludeRegion(ranges, c.Start, c.End);
        }

        if (gart is { } g)
        {
            ExcludeRegion(ranges, g.Start, g.End);
        }

        if (!legacy)
        {
            ExcludeRegion(ranges, 0, (1 << 20) - 1);
        }

        return ranges;
    }

    /// <summary>
    /// exclude_region (crashdump-x86.c): cuts [start, end] out of the ranges it overlaps, splitting
    /// one in two when the cut is inside it. The split-off tail is typed RAM, as the real code does.
    /// </summary>
    private static void ExcludeRegion(List<CrashRange> ranges, ulong start, ulong end)
    {
        for (int i = 0; i < ranges.Count; i++)
        {
            var m = ranges[i];
            if (!(start <= m.End && end >= m.Start))
            {
                continue;
            }

            if (start <= m.Start && end >= m.End)
            {
                ranges.RemoveAt(i--);
            }
            else if (start > m.Start && end < m.End)
            {
                ranges[i] = m with { End = start - 1 };
                ranges.Insert(i + 1, new CrashRange(end + 1, m.End, RangeType.Ram));
                i++;
            }
            else if (start > m.Start)
            {
                ranges[i] = m with { End = start - 1 };
            }
            else
            {
                ranges[i] = m with { Start = end + 1 };
            }
        }
    }

    /// <summary>
    /// cmdline_add_memmap: " memmap=exactmap" then " memmap=%luK@%luK" per RAM range of at least
    /// 100 KiB and " memmap=%luK#%luK" per ACPI range (end rounded up to 1 KiB). The "$" form for
    /// reserved ranges exists in cmdline_add_memmap_internal but cmdline_add_memmap skips them
    /// ("do not add e820 reserved region either"); "!" marks legacy persistent memory.
    /// </summary>
    public static string MemmapCmdline(IEnumerable<CrashRange> memmap)
    {
        var sb = new StringBuilder(" memmap=exactmap");
        foreach (var m in memmap)
        {
            if (m.Type is not (RangeType.Ram or RangeType.Acpi or RangeType.AcpiNvs or RangeType.Pram))
            {
                continue;
            }

            ulong startk = m.Start / 1024;
            ulong endk = m.Type is RangeType.Acpi or RangeType.AcpiNvs ? KexecCore.AlignUp(m.End + 1, 1024) / 1024 : (m.End + 1) / 1024;
            if (m.Type == RangeType.Ram && endk - startk < 100)
            {
                continue;
            }

            char sep = m.Type switch
            {
                RangeType.Ram => '@',
                RangeType.Pram => '!',
                _ => '#',
            };
            sb.Append(CultureInfo.InvariantCulture, $" memmap={endk - startk}K{sep}{startk}K");
        }

        return sb.ToString();
    }

    private static (ulong, ulong, uint) E820(CrashRange r) => (r.Start, r.Size, r.Type switch
    {
        RangeType.Ram => 1u,
        RangeType.Reserved => 2u,
        RangeType.Acpi => 3u,
        RangeType.AcpiNvs => 4u,
        RangeType.Pmem => 7u,
        _ => 12u,
    });

    private static List<(ulong, ulong, uint)> FirmwareMap(ProcIomem iomem) =>
        [.. iomem.Roots.Where(r => r.Name is "System RAM" or "Reserved" or "reserved" or "ACPI Tables" or "ACPI Non-volatile Storage")
            .Select(r => E820(new CrashRange(r.Start, r.End, r.Name == "System RAM" ? RangeType.Ram : r.Name.StartsWith("ACPI N", StringComparison.Ordinal) ? RangeType.AcpiNvs : r.Name.StartsWith("ACPI", StringComparison.Ordinal) ? RangeType.Acpi : RangeType.Reserved)))
            .Take(BootParams.E820MaxEntries)];

    /// <summary>add_buffer with buf_end = -1 (top-down) inside the crash kernel load range (locate_hole).</summary>
    private sealed class SegmentPlacer(MemoryRange window)
    {
        private readonly List<PlannedSegment> _segments = [];

        public List<PlannedSegment> Sorted => [.. _segments.OrderBy(s => s.Segment.Memory)];

        public ulong Add(string name, byte[] buf, ulong memsz, ulong align, ulong min, ulong max)
        {
            memsz = KexecCore.AlignUp(memsz, KexecFlags.PageSize);
            ulong? at = MemoryHole.Locate(window, [.. _segments.Select(s => s.Segment)], memsz, align, min, max, topDown: true);
            if (at is null)
            {
                throw new KexecToolsException(FormattableString.Invariant($"Could not find a free area of memory of 0x{memsz:x} bytes...\nlocate_hole failed\n"));
            }

            _segments.Add(new PlannedSegment(name, KexecSegment.Of(buf, at.Value, memsz)));
            return at.Value;
        }

        public void Replace(string name, byte[] buf)
        {
            int i = _segments.FindIndex(s => s.Name == name);
            var old = _segments[i].Segment;
            if ((ulong)buf.Length > old.MemorySize)
            {
                throw new InvalidOperationException($"{name}: {buf.Length} bytes do not fit its segment");
            }

            _segments[i] = new PlannedSegment(name, KexecSegment.Of(buf, old.Memory, old.MemorySize));
        }
    }

    /// <summary>The memmap_p list of load_crashdump_segments: add_memmap / delete_memmap, sorted, 1 KiB aligned for RAM.</summary>
    private sealed class MemmapList
    {
        private readonly List<CrashRange> _entries = [];

        public IReadOnlyList<CrashRange> Entries => _entries;

        public bool Add(ulong addr, ulong size, RangeType type)
        {
            if (size == 0 || (type == RangeType.Ram && (addr % 1024 != 0 || size % 1024 != 0)))
            {
                return false;
            }

            ulong end = addr + size - 1;
            if (_entries.Any(m => m.Start <= end && m.End >= addr))
            {
                return false;
            }

            int at = _entries.FindIndex(m => m.Start > addr);
            _entries.Insert(at < 0 ? _entries.Count : at, new CrashRange(addr, end, type));
            return true;
        }

        public void Delete(ulong addr, ulong size)
        {
            ulong end = addr + size - 1;
            int i = _entries.FindIndex(m => m.Start <= addr && m.End >= end);
            if (addr % 1024 != 0 || size % 1024 != 0 || i < 0)
            {
                throw new KexecToolsException(FormattableString.Invariant($"delete_memmap: [0x{addr:x}, +0x{size:x}) is not inside the memory map\n"));
            }

            var m = _entries[i];
            _entries.RemoveAt(i);
            if (end < m.End)
            {
                _entries.Insert(i, m with { Start = end + 1 });
            }

            if (m.Start < addr)
            {
                _entries.Insert(i, m with { End = addr - 1 });
            }
        }
    }
}
