using Fadump.Formats;
using Fadump.Formats.VmcoreInfo;
using Fadump.Kernel.CommandLine;
using Fadump.Kernel.Mm;
using Fadump.Machine;

namespace Fadump.Kernel.Arch;

/// <summary>
/// Where a 6.1 kernel image keeps the variables tools read, as offsets from the start of the image
/// (virtual = <see cref="KernelArch.Sym"/>). The values are each architecture's (a fixed layout:
/// what matters to tools is that VMCOREINFO names them).
/// </summary>
public sealed record KernelImageLayout
{
    public required ulong ImageSize { get; init; }         // _stext .. _end

    public required ulong TextEnd { get; init; }           // _etext: text below, data above

    public required ulong Prb { get; init; }               // struct printk_ringbuffer *prb

    public required ulong PrintkRbStatic { get; init; }    // struct printk_ringbuffer printk_rb_static

    public required ulong PrintkDescs { get; init; }       // _printk_rb_static_descs

    public required ulong PrintkInfos { get; init; }       // _printk_rb_static_infos

    public required ulong LogBuf { get; init; }            // __log_buf

    public required ulong ClearSeq { get; init; }

    public required ulong InitUtsNs { get; init; }

    public required ulong NodeOnlineMap { get; init; }

    public required ulong SwapperPgDir { get; init; }

    public required ulong VmapAreaList { get; init; }

    public required ulong NodeData { get; init; }

    public required ulong VmcoreInfoNote { get; init; }    // vmcoreinfo_note (one page)

    /// <summary>The root array of mem_section pointers (SPARSEMEM_EXTREME; kmalloc'ed in reality, static here).</summary>
    /// <summary>Null: allocated from memblock at boot (sparse_index_init), as a real kernel does; SYMBOL(mem_section) is then a direct-map address.</summary>
    public required ulong? MemSectionRoots { get; init; }

    /// <summary>Per-CPU crash_notes (note_buf_t each), for the mechanisms that use them (kdump; FADump on OPAL).</summary>
    public required ulong CrashNotes { get; init; }
}

/// <summary>SIZE and OFFSET of pglist_data, zone and free_area as VMCOREINFO gives them.</summary>
public sealed record NodeLayout(
    long PglistDataSize, long ZoneSize, long FreeAreaSize, long NodemaskSize,
    long NrZones, long NodeStartPfn, long NodeSpannedPages, long NodeId,
    long ZoneVmStat, long ZoneSpannedPages);

/// <summary>
/// One architecture as the simulated kernel lays it out: byte order, page size, the kernel's
/// virtual address map, SPARSEMEM geometry, struct page flag bits, the image layout and the
/// VMCOREINFO entries that differ. Chosen once per platform; nothing else passes byte order around.
/// The struct page layout itself (64 bytes: flags, lru, mapping, private, _mapcount, _refcount) is
/// the same on every 64-bit architecture of 6.1.
/// </summary>
public abstract class KernelArch
{
    public abstract DumpMachine Machine { get; }

    public bool BigEndian => Machine.BigEndian;

    /// <summary>utsname machine.</summary>
    public string Name => Machine.UtsMachine;

    public abstract int PageShift { get; }

    public int PageSize => 1 << PageShift;

    /// <summary>PAGE_OFFSET (ppc64) or page_offset_base (x86_64): the linear map of all physical memory.</summary>
    public abstract ulong PageOffset { get; }

    /// <summary>The virtual address of struct page for PFN 0.</summary>
    public abstract ulong VmemmapBase { get; }

    /// <summary>Where the kernel image is loaded in physical memory.</summary>
    public abstract ulong KernelPhysicalBase { get; }

    /// <summary>The virtual address of the image's first byte (_stext on ppc64, _text on x86_64).</summary>
    public abstract ulong KernelVirtualBase { get; }

    public abstract KernelImageLayout Image { get; }

    // SPARSEMEM
    public abstract int SectionSizeBits { get; }

    public abstract int MaxPhysmemBits { get; }

    public const int MemSectionSize = 32;

    public int SectionsPerRoot => PageSize / MemSectionSize;

    public int NrSectionRoots => 1 << Math.Max(0, MaxPhysmemBits - SectionSizeBits - (PageShift - 5));

    public const ulong SectionMarkedPresent = 1 << 0;
    public const ulong SectionHasMemMap = 1 << 1;

    // struct page (6.1, 64 bytes)
    public const int PageStructSize = 64;
    public const int PageFlags = 0;
    public const int PageLru = 8;            // also compound_head
    public const int PageMapping = 24;
    public const int PagePrivate = 40;
    public const int PageMapcount = 48;
    public const int PageRefcount = 52;
    public const int PageBuddyMapcountValue = -129;
    public const int PageOfflineMapcountValue = -257;

    // Page flag bits (include/linux/page-flags.h, 6.1): the same below PG_hwpoison on both architectures.
    public const int PgUptodate = 2;
    public const int PgDirty = 3;
    public const int PgLru = 4;
    public const int PgActive = 5;
    public const int PgSlab = 9;
    public const int PgSwapcache = 10;       // PG_owner_priv_1
    public const int PgReserved = 12;
    public const int PgPrivate = 13;
    public const int PgHead = 16;
    public const int PgSwapbacked = 19;

    /// <summary>PG_hwpoison: after the configuration-dependent flags (x86_64 has PG_arch_1's neighbours differ).</summary>
    public abstract int PgHwpoison { get; }

    /// <summary>MAX_ORDER: LENGTH(zone.free_area).</summary>
    public abstract int MaxOrder { get; }

    /// <summary>MIGRATE_TYPES: LENGTH(free_area.free_list).</summary>
    public abstract int MigrateTypes { get; }

    /// <summary>MAX_NUMNODES (1 &lt;&lt; CONFIG_NODES_SHIFT): LENGTH(node_data).</summary>
    public abstract int MaxNumNodes { get; }

    public ulong Virt(ulong phys) => PageOffset + phys;

    /// <summary>The virtual address of a kernel image variable.</summary>
    public ulong Sym(ulong imageOffset) => KernelVirtualBase + imageOffset;

    /// <summary>__pa: the kernel image mapping or the linear map.</summary>
    public ulong ToPhys(ulong vaddr) =>
        vaddr - KernelVirtualBase < Image.ImageSize ? KernelPhysicalBase + (vaddr - KernelVirtualBase) : vaddr - PageOffset;

    /// <summary>
    /// mem=: PAGE_ALIGN(memparse(value)); a limit above the RAM present is dropped; 0 (mem=1K, mem=0, mem=junk)
    /// means no limit. Null: no limit. Architectures that round further override <see cref="AlignMemoryLimit"/>.
    /// </summary>
    public ulong? MemoryLimit(KernelCommandLine cmdline, ulong physMemSize)
    {
        if (cmdline.Last("mem") is not { } m)
        {
            return null;
        }

        ulong page = (ulong)PageSize;
        ulong v = unchecked(MemParse.Parse(m).Value + page - 1) & ~(page - 1);
        if (v > physMemSize)
        {
            v = 0;
        }

        v = AlignMemoryLimit(v);
        return v == 0 ? null : v;
    }

    /// <summary>The arch's rounding of a mem= limit that fits in RAM (none by default).</summary>
    protected virtual ulong AlignMemoryLimit(ulong limit) => limit;

    /// <summary>The node and zone structures, whose sizes differ with NR_CPUS and config.</summary>
    public abstract NodeLayout Node { get; }

    /// <summary>The kernel image's file name in /boot (BOOT_IMAGE=/boot/NAME-release).</summary>
    public virtual string BootImageName => "vmlinux";

    /// <summary>Where a crashkernel= reservation goes without an @offset (ppc64: KDUMP_KERNELBASE).</summary>
    public abstract ulong KdumpKernelBase { get; }

    /// <summary>
    /// reserve_crashkernel (the arch's, in 6.1): ppc64's kexec/core.c places the region at
    /// <see cref="KdumpKernelBase"/> or at the offset given, and refuses a size that is all of RAM.
    /// </summary>
    public virtual CrashReservation ReserveCrashKernel(KernelCommandLine cmdline, Memblock memblock)
    {
        ulong systemRam = Ranges.Total(memblock.Memory);
        var ck = CrashKernelParameter.Parse(cmdline, systemRam);
        if (ck is null)
        {
            return CrashReservation.None();
        }

        if (!ck.Ok)
        {
            return CrashReservation.None(ck.Error!);
        }

        if (ck.Size == 0 || ck.Size >= systemRam)
        {
            return CrashReservation.None();
        }

        ulong offset = ck.Offset != 0 ? ck.Offset : KdumpKernelBase;
        var range = new MemoryRange(offset, Ranges.AlignUp(ck.Size, (ulong)PageSize));
        memblock.Reserve(range);
        return new CrashReservation(range, null,
            [FormattableString.Invariant($"Reserving {ck.Size >> 20}MB of memory at {offset >> 20}MB for crashkernel (System RAM: {systemRam >> 20}MB)")]);
    }

    /// <summary>How struct pages are mapped (vmemmap_populate) and found by tools.</summary>
    public abstract IVmemmapModel Vmemmap { get; }

    /// <summary>Gives every CPU plausible kernel-context registers at a crash: idle CPUs in the idle loop, the crashing one in the kernel.</summary>
    public abstract void SetRunningRegisters(IReadOnlyList<Cpu> cpus, int crashingCpu);

    /// <summary>The crashing CPU enters panic() (or the sysrq handler) for a crash kind.</summary>
    public abstract void EnterPanic(Cpu cpu, CrashKind kind);

    /// <summary>die() for a NULL dereference: the crashing CPU's fault registers and the arch's oops lines with their levels.</summary>
    public abstract IReadOnlyList<(string Line, int Level)> Oops(Cpu cpu, string platformName);

    /// <summary>Entries the architecture adds before node_data (x86_64: phys_base, init_top_pgt, paging mode).</summary>
    public virtual void AddArchNumbers(VmcoreInfo v)
    {
    }

    /// <summary>Entries after node_data (ppc64: the vmemmap_list and MMU page size entries).</summary>
    public virtual void AddArchMemoryModel(VmcoreInfo v)
    {
    }

    /// <summary>KERNELOFFSET and what follows it (x86_64: KERNEL_IMAGE_SIZE, sme_mask).</summary>
    public abstract void AddKernelOffset(VmcoreInfo v);
}
