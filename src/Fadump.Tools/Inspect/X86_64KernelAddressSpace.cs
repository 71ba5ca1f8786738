using Fadump.Formats;
using Fadump.Formats.Elf;
using VmcoreInfoNote = Fadump.Formats.VmcoreInfo.VmcoreInfo;

namespace Fadump.Tools.Inspect;

/// <summary>How <see cref="X86_64KernelAddressSpace.PageOffsetBase"/> was found.</summary>
public enum PageOffsetSource
{
    /// <summary>NUMBER(page_offset_base) in VMCOREINFO.</summary>
    VmcoreInfo,

    /// <summary>Page-table walk of a direct-map address VMCOREINFO names (SYMBOL(mem_section)).</summary>
    PageTables,

    /// <summary>p_vaddr − p_paddr of a direct-map PT_LOAD, as makedumpfile does (get_page_offset_x86_64).</summary>
    ElfLoadSegments,

    /// <summary>The kernel's default for the paging mode (no KASLR).</summary>
    Default,
}

/// <summary>
/// x86_64 kernel addresses (Documentation/arch/x86/x86_64/mm.rst): the kernel text mapping
/// (__START_KERNEL_map + phys_base), the direct map (page_offset_base + phys) and everything else
/// (vmalloc, vmemmap, modules) through a 4- or 5-level walk of init_top_pgt.
/// </summary>
public sealed class X86_64KernelAddressSpace : KernelAddressSpace
{
    /// <summary>__START_KERNEL_map: the kernel image is mapped here, offset by phys_base.</summary>
    public const ulong StartKernelMap = 0xffffffff80000000;

    /// <summary>__PAGE_OFFSET_BASE_L4 (Linux ≥ 4.20; 0xffff880000000000 before).</summary>
    public const ulong DefaultPageOffset4Level = 0xffff888000000000;

    public const ulong DefaultPageOffsetBefore4_20 = 0xffff880000000000;

    /// <summary>__PAGE_OFFSET_BASE_L5.</summary>
    public const ulong DefaultPageOffset5Level = 0xff11000000000000;

    // Page-table entry bits (arch/x86/include/asm/pgtable_types.h).
    private const ulong PagePresent = 1UL << 0;
    private const ulong PagePse = 1UL << 7;

    /// <summary>PHYSICAL_PAGE_MASK: bits 12..51 of an entry hold the next table or the frame.</summary>
    private const ulong EntryAddressMask = 0x000f_ffff_ffff_f000;

    private const int EntriesPerTable = 512;
    private const ulong Size1G = 1UL << 30;
    private const ulong Size2M = 1UL << 21;
    private const ulong Size4K = 1UL << 12;

    /// <summary>KERNEL_IMAGE_SIZE without KASLR (512 MiB); with KASLR it is 1 GiB.</summary>
    private const ulong KernelImageSizeNoKaslr = 512UL << 20;

    private readonly ulong _entryMask;
    private readonly ulong _kernelImageSize;
    private readonly ulong _directMapSize;
    private Mapping? _lastWalk;

    internal X86_64KernelAddressSpace(IDump dump, VmcoreInfoNote info)
        : base(dump, info)
    {
        FiveLevelPaging = info.Number("pgtable_l5_enabled") is { } l5 && l5 != 0;
        _entryMask = EntryAddressMask & ~(ulong)(info.Number("sme_mask") ?? 0);

        // phys_base is printed with %ld: negative when KASLR moved the image further virtually than
        // physically (Debian 6.1 sample: -119537664). KERNELOFFSET (the virtual shift of _text) is
        // not needed: VMCOREINFO symbols are already run-time addresses. Without phys_base, take
        // it from the text PT_LOAD as makedumpfile does (get_phys_base_x86_64).
        if (info.Number("phys_base") is { } pb)
        {
            PhysBase = pb;
        }
        else if (PhysBaseFromLoads(dump) is { } fromLoads)
        {
            PhysBase = fromLoads;
        }

        long? imageSize = info.Number("KERNEL_IMAGE_SIZE");
        _kernelImageSize = imageSize is > 0 ? (ulong)imageSize.Value
            : info.KernelOffset is > 0 ? Size1G : KernelImageSizeNoKaslr;

        // The direct map spans the RAM the dump describes. It is not 2^MAX_PHYSMEM_BITS wide: with
        // KASLR the vmalloc area starts right after RAM plus padding (kernel_randomize_memory).
        long? physBits = info.Number("MAX_PHYSMEM_BITS");
        int bits = physBits is >= 32 and <= 56 ? (int)physBits.Value : FiveLevelPaging ? 52 : 46;
        ulong maxPfn = Math.Min(dump.MaxPfn, (1UL << bits) / (ulong)dump.PageSize);
        _directMapSize = maxPfn * (ulong)dump.PageSize;

        // init_top_pgt (init_level4_pgt before 4.13) lives in the kernel image.
        ulong? pgd = info.Symbol("init_top_pgt") ?? info.Symbol("init_level4_pgt");
        if (pgd is { } p && IsKernelText(p))
        {
            PageTableRoot = TextToPhysical(p);
        }

        (PageOffsetBase, PageOffsetSource) = FindPageOffset(dump, info);
    }

    /// <summary>NUMBER(phys_base), signed: phys = vaddr − __START_KERNEL_map + phys_base in the text mapping.</summary>
    public long PhysBase { get; }

    /// <summary>Start of the direct map of all physical memory (randomised by KASLR).</summary>
    public ulong PageOffsetBase { get; }

    public PageOffsetSource PageOffsetSource { get; }

    /// <summary>Physical address of init_top_pgt, or null when VMCOREINFO does not name it.</summary>
    public ulong? PageTableRoot { get; }

    public bool FiveLevelPaging { get; }

    public override ulong? ToPhysical(ulong vaddr)
    {
        if (IsKernelText(vaddr))
        {
            return TextToPhysical(vaddr);
        }

        bool direct = vaddr >= PageOffsetBase && vaddr - PageOffsetBase < _directMapSize;
        if (direct && PageOffsetSource != PageOffsetSource.Default)
        {
            return vaddr - PageOffsetBase;
        }

        // A guessed page_offset_base is only trusted when the page tables cannot answer.
        return WalkPageTables(vaddr) ?? (direct ? vaddr - PageOffsetBase : null);
    }

    /// <summary>
    /// Translates through the page tables only (kernel: the MMU's view), handling 1 GiB and 2 MiB
    /// pages. Null for non-canonical addresses, non-present entries or tables not in the dump.
    /// </summary>
    public ulong? WalkPageTables(ulong vaddr)
    {
        if (PageTableRoot is not { } root || !IsCanonical(vaddr))
        {
            return null;
        }

        var last = _lastWalk;
        if (last is not null && vaddr - last.Virtual < last.Size)
        {
            return last.Physical + (vaddr - last.Virtual);
        }

        ulong table = root;
        if (FiveLevelPaging)
        {
            // PGD (bits 48..56) then P4D (bits 39..47).
            if (NextTable(table, Index(vaddr, 48)) is not { } p4d || NextTable(p4d & _entryMask, Index(vaddr, 39)) is not { } pud)
            {
                return null;
            }

            table = pud & _entryMask;
        }
        else
        {
            if (NextTable(table, Index(vaddr, 39)) is not { } pgd)
            {
                return null;
            }

            table = pgd & _entryMask;
        }

        if (NextTable(table, Index(vaddr, 30)) is not { } pudEntry)
        {
            return null;
        }

        if ((pudEntry & PagePse) != 0)
        {
            return Remember(vaddr, pudEntry & _entryMask & ~(Size1G - 1), Size1G);
        }

        if (NextTable(pudEntry & _entryMask, Index(vaddr, 21)) is not { } pmdEntry)
        {
            return null;
        }

        if ((pmdEntry & PagePse) != 0)
        {
            return Remember(vaddr, pmdEntry & _entryMask & ~(Size2M - 1), Size2M);
        }

        if (NextTable(pmdEntry & _entryMask, Index(vaddr, 12)) is not { } pte)
        {
            return null;
        }

        return Remember(vaddr, pte & _entryMask, Size4K);
    }

    private ulong? NextTable(ulong tablePhys, int index)
    {
        ulong? entry = TryReadPhysicalU64(tablePhys + ((ulong)index * 8));
        return entry is { } e && (e & PagePresent) != 0 ? e : null;
    }

    private ulong Remember(ulong vaddr, ulong frame, ulong size)
    {
        ulong offset = vaddr & (size - 1);
        _lastWalk = new Mapping(vaddr - offset, frame, size);
        return frame + offset;
    }

    private static int Index(ulong vaddr, int shift) => (int)((vaddr >> shift) & (EntriesPerTable - 1));

    private bool IsCanonical(ulong vaddr)
    {
        int topBit = FiveLevelPaging ? 56 : 47;
        ulong high = vaddr >> topBit;
        return high == 0 || high == (ulong.MaxValue >> topBit);
    }

    // The whole KERNEL_IMAGE_SIZE window below the modules; addresses past the image's end in it are
    // not mapped by the kernel, and read whatever memory follows the image here.
    private bool IsKernelText(ulong vaddr) => vaddr >= StartKernelMap && vaddr - StartKernelMap < _kernelImageSize;

    // kernel: __phys_addr_symbol(x) = x - __START_KERNEL_map + phys_base
    private ulong TextToPhysical(ulong vaddr) => vaddr - StartKernelMap + (ulong)PhysBase;

    private (ulong, PageOffsetSource) FindPageOffset(IDump dump, VmcoreInfoNote info)
    {
        if (info.Number("page_offset_base") is { } exported)
        {
            return ((ulong)exported, PageOffsetSource.VmcoreInfo);
        }

        // SYMBOL(mem_section) is the address of the memblock-allocated section root array: a
        // direct-map address. KASLR moves the direct map in PUD (1 GiB) steps
        // (kernel_randomize_memory), so page_offset_base = vaddr − paddr must be 1 GiB aligned.
        if (info.Symbol("mem_section") is { } probe && probe < StartKernelMap && probe >= 0xff00_0000_0000_0000
            && WalkPageTables(probe) is { } probePhys && probe > probePhys)
        {
            ulong candidate = probe - probePhys;
            if ((candidate & (Size1G - 1)) == 0)
            {
                return (candidate, PageOffsetSource.PageTables);
            }
        }

        if (dump is ElfDump elf)
        {
            // makedumpfile takes the last PT_LOAD below the text mapping (get_page_offset_x86_64).
            ulong? fromLoads = null;
            foreach (var l in elf.Elf.Loads)
            {
                if (l.VirtualAddress >= 0xff00_0000_0000_0000 && l.VirtualAddress < StartKernelMap && l.VirtualAddress > l.PhysicalAddress)
                {
                    fromLoads = l.VirtualAddress - l.PhysicalAddress;
                }
            }

            if (fromLoads is { } pob)
            {
                return (pob, PageOffsetSource.ElfLoadSegments);
            }
        }

        ulong fallback = FiveLevelPaging ? DefaultPageOffset5Level
            : KernelVersion.Parse(info.OsRelease) is { } v && v < new Version(4, 20) ? DefaultPageOffsetBefore4_20
            : DefaultPageOffset4Level;
        return (fallback, PageOffsetSource.Default);
    }

    private static long? PhysBaseFromLoads(IDump dump)
    {
        // makedumpfile get_phys_base_x86_64: the PT_LOAD of the kernel text mapping.
        if (dump is ElfDump elf)
        {
            foreach (var l in elf.Elf.Loads)
            {
                if (l.VirtualAddress >= StartKernelMap)
                {
                    return (long)(l.PhysicalAddress - (l.VirtualAddress - StartKernelMap));
                }
            }
        }

        return null;
    }

    private sealed record Mapping(ulong Virtual, ulong Physical, ulong Size);
}
