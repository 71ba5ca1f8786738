namespace Fadump.Kernel.Structures;

/// <summary>
/// Where Debian's 6.1 ppc64le kernel (64 KiB pages, radix MMU) keeps the structures tools read, and
/// their layout. Offsets and sizes are those of the real VMCOREINFO (tests/data/vmcoreinfo/
/// linux-6.1-ppc64le.txt); symbol addresses are fixed offsets in a 40 MiB kernel image loaded at 0.
/// </summary>
public static class Ppc64KernelLayout
{
    public const ulong KernelBase = 0xc000000000000000;      // PAGE_OFFSET: the linear map
    public const ulong VmemmapBase = 0xc00c000000000000;     // radix vmemmap start
    public const int PageShift = 16;
    public const int PageSize = 1 << PageShift;
    public const ulong KernelImageSize = 0x2800000;          // 40 MiB: _stext .. _end

    // Symbols (physical offsets in the image; virtual = KernelBase + offset).
    public const ulong TextEnd = 0x1a00000;
    public const ulong PrbOffset = 0x2536920;                // struct printk_ringbuffer *prb
    public const ulong PrintkRbStaticOffset = 0x25369e8;     // struct printk_ringbuffer printk_rb_static
    public const ulong InitUtsNsOffset = 0x26ab1c0;          // struct uts_namespace init_uts_ns
    public const ulong NodeOnlineMapOffset = 0x26e84f0;
    public const ulong SwapperPgDirOffset = 0x2740000;
    public const ulong VmemmapListOffset = 0x27591c0;        // struct vmemmap_backing *vmemmap_list
    public const ulong MmuVmemmapPsizeOffset = 0x27593c0;
    public const ulong MmuPsizeDefsOffset = 0x27593c8;
    public const ulong ClearSeqOffset = 0x279ecf8;
    public const ulong VmcoreInfoNoteOffset = 0x27a0000;     // vmcoreinfo_note (ELF note with the text)
    public const ulong PrintkDescsOffset = 0x1c00000;        // _printk_rb_static_descs
    public const ulong PrintkInfosOffset = 0x1d00000;        // _printk_rb_static_infos
    public const ulong LogBufOffset = 0x2000000;             // __log_buf
    public const ulong FadumpParamAreaOffset = 0x27c0000;    // param area for bootargs_append (2 KiB)
    public const ulong FadumpRegistrationOffset = 0x27c1000; // struct rtas_fadump_mem_struct fdm
    public const ulong MemSectionRootsOffset = 0x2600000;    // the root array of mem_section pointers (kmalloc'ed in reality)

    // printk ring sizes: CONFIG_LOG_BUF_SHIFT=18, PRB_AVGBITS=5.
    public const int LogBufShift = 18;
    public const int DescCountBits = LogBufShift - 5;

    // struct page (64 bytes)
    public const int PageStructSize = 64;
    public const int PageFlags = 0;
    public const int PageLru = 8;            // also compound_head
    public const int PageMapping = 24;
    public const int PagePrivate = 40;
    public const int PageMapcount = 48;
    public const int PageRefcount = 52;

    // Page flag bits (include/linux/page-flags.h, 6.1)
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
    public const int PgHwpoison = 22;
    public const int PageBuddyMapcountValue = -129;
    public const int PageOfflineMapcountValue = -257;
    public const int MaxOrder = 9;           // LENGTH(zone.free_area)

    // SPARSEMEM_EXTREME
    public const int SectionSizeBits = 24;
    public const int MaxPhysmemBits = 51;
    public const int MemSectionSize = 32;
    public const int SectionsPerRoot = PageSize / MemSectionSize;  // 2048
    public const int NrSectionRoots = 1 << (MaxPhysmemBits - SectionSizeBits - 11); // 65536
    public const ulong SectionMarkedPresent = 1 << 0;
    public const ulong SectionHasMemMap = 1 << 1;

    // vmemmap_backing {list, phys, virt_addr}
    public const int VmemmapBackingSize = 24;
    public const int VmemmapBlockShift = 21; // radix maps vmemmap with 2 MiB pages (mmu_psize_defs[MMU_PAGE_2M].shift)

    public static ulong Virt(ulong phys) => KernelBase + phys;

    public static ulong Sym(ulong offset) => KernelBase + offset;
}
