using Fadump.Kernel.Sysfs;
using Fadump.Machine;

namespace Fadump.Kernel.Kexec;

/// <summary>
/// The kexec core of a running x86_64 kernel: the crash regions (<c>crashk_res</c>, and
/// <c>crashk_low_res</c> when <c>crashkernel=X,high</c> also reserved a low chunk), the loaded
/// images (<c>kexec_image</c>, <c>kexec_crash_image</c>) and the protection of the crash region in
/// the first kernel's map (kernel/kexec_core.c, kernel/kexec.c, kernel/kexec_file.c,
/// arch/x86/kernel/machine_kexec_64.c). Syscalls return <see cref="Errno.None"/> or the errno the
/// kernel returns negated.
/// </summary>
public sealed partial class KexecCore
{
    private readonly PhysicalMemory _memory;
    private bool _protected;

    /// <param name="memory">The machine's RAM.</param>
    /// <param name="crashRegion"><c>crashk_res</c>: every crash segment must lie inside it.</param>
    /// <param name="crashLowRegion"><c>crashk_low_res</c>: protected with the image, never a segment destination.</param>
    /// <param name="crashInfo">What the kernel knows to build an elfcorehdr itself (kexec_file_load); null disables kexec_file_load crash loads.</param>
    public KexecCore(PhysicalMemory memory, MemoryRange crashRegion, MemoryRange? crashLowRegion = null, CrashElfInfo? crashInfo = null)
    {
        if (crashRegion.Size == 0 || crashRegion.Start % KexecFlags.PageSize != 0 || crashRegion.Size % KexecFlags.PageSize != 0 || !memory.IsRam(crashRegion.Start, crashRegion.Size))
        {
            throw new ArgumentException(FormattableString.Invariant($"crash region {crashRegion}: expected page-aligned RAM"), nameof(crashRegion));
        }

        if (crashLowRegion is { } low && (low.Size == 0 || low.Overlaps(crashRegion) || !memory.IsRam(low.Start, low.Size)))
        {
            throw new ArgumentException(FormattableString.Invariant($"low crash region {low}: expected RAM apart from {crashRegion}"), nameof(crashLowRegion));
        }

        _memory = memory;
        CrashRegion = crashRegion;
        CrashLowRegion = crashLowRegion;
        CrashInfo = crashInfo;
    }

    public MemoryRange CrashRegion { get; }

    public MemoryRange? CrashLowRegion { get; }

    /// <summary>Both crash regions, high (crashk_res) first.</summary>
    public IReadOnlyList<MemoryRange> CrashRegions => CrashLowRegion is { } l ? [CrashRegion, l] : [CrashRegion];

    public CrashElfInfo? CrashInfo { get; }

    /// <summary><c>kexec_crash_image</c>; null when none is loaded (/sys/kernel/kexec_crash_loaded reads 0).</summary>
    public KexecImage? CrashImage { get; private set; }

    /// <summary><c>kexec_image</c>: the image of a plain <c>kexec -l</c>; its segments are staged, not copied, until reboot.</summary>
    public KexecImage? Image { get; private set; }

    /// <summary>
    /// True while the first kernel's map has the page at <paramref name="address"/> read-only:
    /// both crash regions while a crash image is loaded, except the control page
    /// (arch_kexec_protect_crashkres → kexec_mark_crashkres).
    /// </summary>
    public bool IsProtected(ulong address)
    {
        if (!_protected || CrashImage is null)
        {
            return false;
        }

        bool inRegion = CrashRegion.Contains(address) || (CrashLowRegion?.Contains(address) ?? false);
        return inRegion && !new MemoryRange(CrashImage.ControlPage, KexecFlags.ControlPageSize).Contains(address);
    }

    /// <summary>True when any byte of [address, address + size) is protected.</summary>
    public bool IsProtected(ulong address, ulong size)
    {
        if (size == 0 || !_protected || CrashImage is null)
        {
            return false;
        }

        ulong last = size > ulong.MaxValue - address ? ulong.MaxValue : address + size - 1;
        foreach (var r in CrashRegions)
        {
            if (address <= r.End - 1 && last >= r.Start)
            {
                // Only the control page inside is writable: protected unless the overlap is all control page.
                ulong from = Math.Max(address, r.Start), to = Math.Min(last, r.End - 1);
                var control = new MemoryRange(CrashImage.ControlPage, KexecFlags.ControlPageSize);
                if (!(control.Contains(from) && control.Contains(to)))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>
    /// A first-kernel write through its own map: a write to a protected page faults (the oops a
    /// stray write into the loaded capture kernel gets since Linux 4.6) instead of corrupting it.
    /// DMA does not go through this map; it writes <see cref="PhysicalMemory"/> directly.
    /// </summary>
    public void KernelWrite(ulong address, ReadOnlySpan<byte> data)
    {
        if (IsProtected(address, (ulong)data.Length))
        {
            throw new CrashRegionProtectionException(address, (ulong)data.Length);
        }

        _memory.Write(address, data);
    }

    /// <summary>
    /// machine_kexec for the crash image: relocate_kernel switches to identity-mapped page tables
    /// (the protection of the first kernel's map no longer applies) and jumps to purgatory.
    /// Null when no crash image is loaded (__crash_kexec does nothing).
    /// </summary>
    public PurgatoryResult? MachineKexecCrash()
    {
        if (CrashImage is null)
        {
            return null;
        }

        _protected = false;
        return Purgatory.Run(_memory, CrashImage.Entry);
    }

    /// <summary>The end of both syscalls: a crash image's segments are copied to their place and the region is protected.</summary>
    private void Install(KexecImage image, bool crash)
    {
        if (crash)
        {
            foreach (var s in image.Segments)
            {
                LoadCrashSegment(s);
            }

            CrashImage = image;
            Protect();
        }
        else
        {
            Image = image;
        }
    }

    private void Protect() => _protected = CrashImage is not null;

    private void Unprotect() => _protected = false;

    /// <summary>
    /// kimage_alloc_crash_control_pages: the first page-aligned hole in crashk_res, upwards from
    /// its start, that no segment overlaps. 0 when there is none.
    /// </summary>
    private ulong AllocateControlPage(IReadOnlyList<KexecSegment> segments)
    {
        ulong size = KexecFlags.ControlPageSize;
        ulong holeStart = AlignUp(CrashRegion.Start, size);
        ulong crashEnd = CrashRegion.End - 1;
        while (holeStart + size - 1 <= crashEnd)
        {
            ulong holeEnd = holeStart + size - 1;
            KexecSegment? hit = segments.FirstOrDefault(s => holeEnd >= s.Memory && holeStart <= s.Memory + s.MemorySize - 1);
            if (hit is null)
            {
                return holeStart;
            }

            holeStart = AlignUp(hit.Memory + hit.MemorySize - 1, size);
        }

        return 0;
    }

    /// <summary>kimage_load_crash_segment: copy bufsz bytes to mem, zero the rest up to memsz.</summary>
    private void LoadCrashSegment(KexecSegment s)
    {
        _memory.Write(s.Memory, s.Buffer.AsSpan(0, (int)s.BufferSize));
        if (s.MemorySize > s.BufferSize)
        {
            _memory.Clear(s.Memory + s.BufferSize, s.MemorySize - s.BufferSize);
        }
    }

    internal static ulong AlignUp(ulong value, ulong align) => (value + align - 1) & ~(align - 1);

    internal static ulong AlignDown(ulong value, ulong align) => value & ~(align - 1);
}

/// <summary>A first-kernel write into the protected crash region: a page fault in the real kernel.</summary>
public sealed class CrashRegionProtectionException(ulong address, ulong size)
    : Exception(FormattableString.Invariant($"BUG: unable to handle page fault for address 0x{address:x} (+0x{size:x}): write to the protected crash kernel region"))
{
    public ulong Address { get; } = address;
}
