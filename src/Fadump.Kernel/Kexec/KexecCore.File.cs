using System.Text;
using Fadump.Formats;
using Fadump.Kernel.Sysfs;
using Fadump.Machine;

namespace Fadump.Kernel.Kexec;

public sealed partial class KexecCore
{
    /// <summary>MIN_PURGATORY_ADDR, MIN_BOOTPARAM_ADDR, MIN_KERNEL_LOAD_ADDR, MIN_INITRD_LOAD_ADDR (kexec-bzimage64.c).</summary>
    internal const ulong MinPurgatoryAddr = 0x3000, MinBootParamAddr = 0x3000, MinKernelLoadAddr = 0x100000, MinInitrdLoadAddr = 0x1000000;

    /// <summary>X86_KEXEC_ELFCOREHDR_STR_LEN (MAX_ELFCOREHDR_STR_LEN before 6.x): room for "elfcorehdr=0x%lx ".</summary>
    internal const int ElfcorehdrStrLen = 30;

    /// <summary>The last kexec_file_load's pr_err, as dmesg would show it ("kexec-bzImage64: ...").</summary>
    public string? LastFileLoadMessage { get; private set; }

    /// <summary>kexec_file_load(2) with the command line as the caller passes it (cmdline_len bytes, NUL included).</summary>
    public Errno KexecFileLoad(byte[]? kernel, byte[]? initrd, string? commandLine, ulong flags) =>
        KexecFileLoad(kernel, initrd, commandLine is null ? [] : Encoding.ASCII.GetBytes(commandLine + "\0"), flags);

    /// <summary>
    /// kexec_file_load(2): SYSCALL_DEFINE5(kexec_file_load) → kimage_file_alloc_init →
    /// kimage_file_prepare_segments (read the kernel, bzImage64_probe, the initrd unless
    /// KEXEC_FILE_NO_INITRAMFS, the command line) → bzImage64_load (elfcorehdr, purgatory,
    /// boot_params + command line, kernel, initrd, all inside crashk_res for a crash image) →
    /// kexec_calculate_store_digests → kimage_load_segment. A null kernel or initrd stands for a bad
    /// file descriptor, an empty one for an empty file.
    /// </summary>
    public Errno KexecFileLoad(byte[]? kernel, byte[]? initrd, byte[] commandLine, ulong flags)
    {
        LastFileLoadMessage = null;
        if (flags != (flags & KexecFlags.AllFileFlags))
        {
            return Errno.EINVAL;
        }

        bool crash = (flags & KexecFlags.FileOnCrash) != 0;
        if (crash && CrashImage is not null)
        {
            Unprotect();
        }

        if ((flags & KexecFlags.FileUnload) != 0)
        {
            // "exchange": the new image is NULL.
            if (crash)
            {
                CrashImage = null;
            }
            else
            {
                Image = null;
            }

            return Errno.None;
        }

        if (crash)
        {
            CrashImage = null;
        }

        Errno e = PrepareAndLoad(kernel, initrd, commandLine, flags, crash, out var image);
        if (e != Errno.None)
        {
            return e;
        }

        Install(image!, crash);
        return Errno.None;
    }

    private Errno PrepareAndLoad(byte[]? kernel, byte[]? initrd, byte[] cmdline, ulong flags, bool crash, out KexecImage? image)
    {
        image = null;

        // kernel_read_file_from_fd: a bad fd, then an empty file.
        if (kernel is null)
        {
            return Errno.EBADF;
        }

        if (kernel.Length == 0)
        {
            return Errno.EINVAL;
        }

        var (probe, why) = BzImage.Probe(kernel);
        if (probe != Errno.None)
        {
            LastFileLoadMessage = "kexec-bzImage64: " + why;
            return probe;
        }

        bool noInitramfs = (flags & KexecFlags.FileNoInitramfs) != 0;
        if (!noInitramfs)
        {
            if (initrd is null)
            {
                return Errno.EBADF;
            }

            if (initrd.Length == 0)
            {
                return Errno.EINVAL;
            }
        }
        else
        {
            initrd = null;
        }

        // "command line should be a string with last byte null".
        if (cmdline.Length > 0 && cmdline[^1] != 0)
        {
            return Errno.EINVAL;
        }

        if (crash && CrashInfo is null)
        {
            throw new InvalidOperationException("a crash kexec_file_load needs the kernel's CrashElfInfo");
        }

        Errno e = BzImage64Load(kernel, initrd, cmdline, crash, out var segments, out ulong entry, out ulong elfAddr, out ulong elfSize, out string finalCmdline);
        if (e != Errno.None)
        {
            return e;
        }

        e = SanityCheckSegmentList(segments, crash);
        if (e != Errno.None)
        {
            return e;
        }

        ulong control = 0;
        if (crash)
        {
            control = AllocateControlPage(segments);
            if (control == 0)
            {
                LastFileLoadMessage = "kexec_file: Could not allocate control_code_buffer";
                return Errno.ENOMEM;
            }
        }

        image = new KexecImage(entry, segments, crash, fileMode: true, control)
        {
            ElfCoreHeaderAddress = elfAddr,
            ElfCoreHeaderSize = elfSize,
            CommandLine = finalCmdline,
        };
        return Errno.None;
    }

    /// <summary>bzImage64_load (arch/x86/kernel/kexec-bzimage64.c), with crash_load_segments for a crash image.</summary>
    private Errno BzImage64Load(byte[] kernel, byte[]? initrd, byte[] cmdline, bool crash, out List<KexecSegment> segments, out ulong entry, out ulong elfAddr, out ulong elfSize, out string finalCmdline)
    {
        segments = [];
        entry = elfAddr = elfSize = 0;
        finalCmdline = string.Empty;
        int kern16 = BzImage.Kern16Size(kernel);
        if (kernel.Length < kern16)
        {
            LastFileLoadMessage = "kexec-bzImage64: bzImage truncated";
            return Errno.ENOEXEC;
        }

        uint cmdlineSize = BzImage.U32(kernel, BzImage.CmdlineSize);
        if ((ulong)cmdline.Length > cmdlineSize)
        {
            LastFileLoadMessage = "kexec-bzImage64: Kernel command line too long";
            return Errno.EINVAL;
        }

        if ((ulong)cmdline.Length + ElfcorehdrStrLen > cmdlineSize)
        {
            LastFileLoadMessage = "kexec-bzImage64: Appending elfcorehdr=<addr> to command line exceeds maximum allowed length";
            return Errno.EINVAL;
        }

        IReadOnlyList<MemoryRange> windows = crash ? [CrashRegion] : _memory.Ram;
        var placed = segments;
        Errno Add(byte[] buf, ulong memsz, ulong align, ulong min, bool topDown, out ulong at)
        {
            at = 0;
            if (placed.Count >= KexecFlags.SegmentMax)
            {
                return Errno.EINVAL;
            }

            memsz = AlignUp(Math.Max(memsz, (ulong)buf.Length), KexecFlags.PageSize);
            ulong? hole = null;
            foreach (var w in topDown ? windows.Reverse() : windows)
            {
                hole = MemoryHole.Locate(w, placed, memsz, align, min, ulong.MaxValue, topDown);
                if (hole is not null)
                {
                    break;
                }
            }

            if (hole is null)
            {
                return Errno.EADDRNOTAVAIL;
            }

            at = hole.Value;
            placed.Add(KexecSegment.Of(buf, at, memsz));
            return Errno.None;
        }

        Errno e;
        if (crash)
        {
            // crash_load_segments: the elfcorehdr, bottom-up from the region's start, 4 KiB aligned.
            byte[] hdr = PrepareElfHeaders(CrashInfo!);
            e = Add(hdr, (ulong)hdr.Length, ElfCoreHeaderBuilder.KernelAlignment, 0, topDown: false, out elfAddr);
            if (e != Errno.None)
            {
                return e;
            }

            elfSize = (ulong)hdr.Length;
        }

        // kexec_load_purgatory: its bytes are filled in once the digests are known.
        e = Add(new byte[PurgatoryData.Layout.Size], PurgatoryData.ImageSize, KexecFlags.PageSize, MinPurgatoryAddr, topDown: true, out ulong purgatoryAddr);
        if (e != Errno.None)
        {
            return e;
        }

        int purgatoryIndex = placed.Count - 1;

        // boot_params + command line (+ "elfcorehdr=0x%lx "), 16-byte aligned; EFI runtime map and RNG seed setup_data not modelled.
        ulong paramsSize = AlignUp((ulong)(BootParams.Size + cmdline.Length + ElfcorehdrStrLen), 16);
        e = Add(new byte[paramsSize], paramsSize, 16, MinBootParamAddr, topDown: true, out ulong paramsAddr);
        if (e != Errno.None)
        {
            return e;
        }

        int paramsIndex = placed.Count - 1;
        ulong prefAddress = BitConverter.ToUInt64(kernel, BzImage.PrefAddress);
        e = Add(kernel[kern16..], AlignUp(BzImage.U32(kernel, BzImage.InitSize), KexecFlags.PageSize), BzImage.U32(kernel, BzImage.KernelAlignment),
            prefAddress < MinKernelLoadAddr ? MinKernelLoadAddr : prefAddress, topDown: true, out ulong kernelAddr);
        if (e != Errno.None)
        {
            return e;
        }

        ulong initrdAddr = 0;
        if (initrd is not null)
        {
            e = Add(initrd, (ulong)initrd.Length, KexecFlags.PageSize, MinInitrdLoadAddr, topDown: true, out initrdAddr);
            if (e != Errno.None)
            {
                return e;
            }
        }

        // setup_cmdline: "elfcorehdr=0x%lx " then the caller's bytes; the last byte becomes NUL.
        string prefix = crash ? FormattableString.Invariant($"elfcorehdr=0x{elfAddr:x} ") : string.Empty;
        var line = new List<byte>(Encoding.ASCII.GetBytes(prefix));
        line.AddRange(cmdline);
        if (line.Count > 0)
        {
            line[^1] = 0;
        }

        finalCmdline = Encoding.ASCII.GetString([.. line]).TrimEnd('\0');
        var e820 = crash ? CrashMemmap(elfAddr, elfSize) : [];
        placed[paramsIndex] = KexecSegment.Of(
            BootParams.Build(kernel, paramsAddr, finalCmdline, initrdAddr, initrd is null ? 0 : (ulong)initrd.Length, e820, (int)paramsSize),
            paramsAddr, placed[paramsIndex].MemorySize);

        // kexec_calculate_store_digests: every segment but purgatory's.
        var (regions, digest, perRegion) = PurgatoryData.Hash(placed.Where((_, i) => i != purgatoryIndex));
        var pd = new PurgatoryData(regions, digest, perRegion, 0, 0, 0, kernelAddr + 0x200, paramsAddr);
        placed[purgatoryIndex] = KexecSegment.Of(pd.Encode(), purgatoryAddr, PurgatoryData.ImageSize);
        entry = purgatoryAddr;
        return Errno.None;
    }

    /// <summary>
    /// prepare_elf_headers (arch/x86/kernel/crash.c): System RAM minus elf_header_exclude_ranges
    /// ([0, 1 MiB), crashk_res, crashk_low_res, CMA), then crash_prepare_elf64_headers with the
    /// kernel-text PT_LOAD.
    /// </summary>
    internal byte[] PrepareElfHeaders(CrashElfInfo info)
    {
        var excluded = new List<MemoryRange> { new(0, 1 << 20) };
        excluded.AddRange(CrashRegions);
        excluded.AddRange(info.Excluded);
        var b = new ElfCoreHeaderBuilder(ElfCoreHeaderBuilder.KernelAlignment);
        foreach (var n in info.CpuNotes)
        {
            b.AddNote(n.Address, n.Size);
        }

        b.AddNote(info.VmcoreInfo.Address, info.VmcoreInfo.Size);
        b.AddLoad(info.KernelTextPhysical, info.KernelTextVirtual, info.KernelTextSize);
        foreach (var r in Mm.Ranges.Subtract(info.SystemRam, excluded))
        {
            b.AddLoad(r.Start, info.PageOffsetBase + r.Start, r.Size);
        }

        return b.Build(DumpMachine.X86_64);
    }

    /// <summary>
    /// crash_setup_memmap_entries (arch/x86/kernel/crash.c): the capture kernel's e820 — System RAM below 1 MiB,
    /// crashk_low_res, and crashk_res without the elfcorehdr (memmap_exclude_ranges). The first kernel's ACPI and
    /// reserved entries it also copies are left out: the simulated capture kernel does not use them.
    /// </summary>
    private List<(ulong Start, ulong Size, uint Type)> CrashMemmap(ulong elfAddr, ulong elfSize)
    {
        const uint Ram = 1;
        var map = new List<(ulong Start, ulong Size, uint Type)>();
        foreach (var r in CrashInfo!.SystemRam)
        {
            ulong end = Math.Min(r.End, 1UL << 20);
            if (r.Start < end)
            {
                map.Add((r.Start, end - r.Start, Ram));
            }
        }

        if (CrashLowRegion is { } low)
        {
            map.Add((low.Start, low.Size, Ram));
        }

        var elf = new MemoryRange(elfAddr & ~(KexecFlags.PageSize - 1), AlignUp(elfSize, KexecFlags.PageSize));
        foreach (var r in Mm.Ranges.Subtract([CrashRegion], [elf]))
        {
            map.Add((r.Start, r.Size, Ram));
        }

        return [.. map.OrderBy(x => x.Start)];
    }
}
