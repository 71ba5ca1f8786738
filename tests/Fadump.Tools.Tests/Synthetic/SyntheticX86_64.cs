using Fadump.Formats;

namespace Fadump.Tools.Tests.Synthetic;

/// <summary>
/// An x86_64 kernel with KASLR: 4 MiB of RAM; the kernel image at a randomised virtual address
/// (phys_base negative, as in Debian's 6.1 VMCOREINFO) mapped by one 2 MiB page; the direct map
/// at a randomised page_offset_base mapped by one 1 GiB page; vmalloc space mapped by 4 KiB pages;
/// all reachable through a 4-level init_top_pgt. PT_LOADs as in /proc/vmcore: the kernel text
/// mapping, then RAM at its direct-map address.
/// </summary>
internal sealed class SyntheticX86_64
{
    public const ulong StartKernelMap = 0xffffffff80000000;
    public const int RamSize = 4 << 20;

    /// <summary>_text: __START_KERNEL (0xffffffff81000000) + KERNELOFFSET.</summary>
    public const ulong KernelText = 0xffffffff9a000000;
    public const ulong KernelOffset = KernelText - 0xffffffff81000000;
    public const ulong KernelTextPhys = 0x200000;
    public const ulong KernelImageMapped = 2 << 20;

    /// <summary>page_offset_base: randomised in 1 GiB steps.</summary>
    public const ulong PageOffsetBase = 0xffff9c4a40000000;

    public const ulong VmallocBase = 0xffffb3e1c0000000;
    public const ulong VmemmapBase = 0xffffd2c040000000;

    private const ulong SectionMarkedPresent = 1, SectionHasMemMap = 2, SectionIsOnline = 4;

    private const ulong Present = 1, Writable = 2, Pse = 1UL << 7, Nx = 1UL << 63;
    private const ulong Size1G = 1UL << 30, Size2M = 1UL << 21;

    private ulong _nextImage = KernelTextPhys + 0x10000;    // kernel .data/.bss (text mapping)
    private ulong _nextRam = 0x10000;                         // memblock/slab (direct map)
    private ulong _nextVmalloc = VmallocBase;

    private readonly bool _fiveLevel;
    private readonly ulong _sme;

    /// <param name="fiveLevel">Build 5-level page tables (NUMBER(pgtable_l5_enabled)=1).</param>
    /// <param name="smeMask">AMD SME C-bit set in every page-table entry (NUMBER(sme_mask)).</param>
    public SyntheticX86_64(string release = "6.1.0-synthetic-amd64", bool fiveLevel = false, ulong smeMask = 0)
    {
        _fiveLevel = fiveLevel;
        _sme = smeMask;
        Kernel = new SyntheticKernel(DumpMachine.X86_64, 4096, RamSize);
        var info = Kernel.Info;
        info.Add("OSRELEASE", release);
        info.Add("PAGESIZE", "4096");

        // phys = vaddr - __START_KERNEL_map + phys_base, so phys_base < 0 when the image moved up virtually more than physically.
        PhysBase = (long)KernelTextPhys - (long)(KernelText - StartKernelMap);
        Kernel.Map(KernelText, KernelTextPhys, KernelImageMapped);
        Kernel.Map(PageOffsetBase, 0, RamSize);

        // init_top_pgt is in the image (the PGD page), the lower levels are page-table pages in RAM.
        InitTopPgt = AllocImage(4096, 4096);
        Pgd = Kernel.ToPhysical(InitTopPgt);
        MapLarge(KernelText, KernelTextPhys, Size2M);
        MapLarge(PageOffsetBase, 0, Size1G);

        Kernel.WriteUtsname(AllocImage(6 * 65, 8), release);
        info.AddSymbol("_stext", KernelText);
        info.AddSymbol("swapper_pg_dir", InitTopPgt);

        // SYMBOL(mem_section) names a direct-map array (used to find page_offset_base): the
        // SPARSEMEM_EXTREME roots, NR_SECTION_ROOTS = 2^(46-27) / (4096/32) = 4096 pointers. Root 0
        // holds section 0 (all our RAM), present, with its mem_map in the vmemmap area.
        // makedumpfile's initial() validates this and needs the struct page entries below
        // (get_mem_type) even for --dump-dmesg.
        ulong roots = AllocRam(4096 * 8, 4096);
        ulong sections = AllocRam(4096, 4096);
        Kernel.WriteU64(roots, sections);
        Kernel.WriteU64(sections, VmemmapBase | SectionMarkedPresent | SectionHasMemMap | SectionIsOnline);
        info.AddSymbol("mem_section", roots);
        info.AddLength("mem_section", 4096);
        info.AddSize("mem_section", 32);
        info.AddOffset("mem_section.section_mem_map", 0);
        info.AddNumber("SECTION_SIZE_BITS", 27);
        info.AddNumber("MAX_PHYSMEM_BITS", 46);
        info.AddSize("page", 64);
        info.AddOffset("page.flags", 0);
        info.AddOffset("page._refcount", 52);
        info.AddOffset("page.mapping", 24);
        info.AddNumber("phys_base", PhysBase);
        info.AddSymbol("init_top_pgt", InitTopPgt);
        info.AddNumber("pgtable_l5_enabled", fiveLevel ? 1 : 0);
        info.Add("KERNELOFFSET", KernelOffset.ToString("x", System.Globalization.CultureInfo.InvariantCulture));
        info.AddNumber("KERNEL_IMAGE_SIZE", 1L << 30);
        info.AddNumber("sme_mask", (long)smeMask);

        Kernel.AddLoad(KernelTextPhys, KernelText, KernelImageMapped);
        Kernel.AddLoad(0, PageOffsetBase, RamSize);
    }

    public SyntheticKernel Kernel { get; }

    public long PhysBase { get; }

    /// <summary>Virtual address of init_top_pgt.</summary>
    public ulong InitTopPgt { get; }

    /// <summary>Physical address of the PGD page.</summary>
    public ulong Pgd { get; }

    /// <summary>Reserves kernel-image memory (a static variable); returns its text-mapping address.</summary>
    public ulong AllocImage(int size, int align)
    {
        _nextImage = AlignUp(_nextImage, (ulong)align);
        ulong v = KernelText + (_nextImage - KernelTextPhys);
        _nextImage += (ulong)size;
        Check(_nextImage <= KernelTextPhys + KernelImageMapped);
        return v;
    }

    /// <summary>Reserves RAM below the image; returns its direct-map address.</summary>
    public ulong AllocRam(int size, int align)
    {
        _nextRam = AlignUp(_nextRam, (ulong)align);
        ulong v = PageOffsetBase + _nextRam;
        _nextRam += (ulong)size;
        Check(_nextRam <= KernelTextPhys);
        return v;
    }

    /// <summary>
    /// vmalloc()s pages: virtually contiguous, each backed by its own RAM page, the pages
    /// allocated in reverse order so that virtually adjacent pages are not in physical order.
    /// </summary>
    public ulong Vmalloc(int pages)
    {
        ulong v = _nextVmalloc;
        var frames = Enumerable.Range(0, pages).Select(_ => AllocRam(4096, 4096) - PageOffsetBase).Reverse().ToArray();
        for (int i = 0; i < pages; i++)
        {
            ulong va = v + (ulong)(i * 4096);
            Kernel.Map(va, frames[i], 4096);
            MapPte(va, frames[i]);
        }

        _nextVmalloc += (ulong)(pages + 1) * 4096; // plus a guard page
        return v;
    }

    /// <summary>
    /// Backs the vmemmap of all RAM (section 0's mem_map at <see cref="VmemmapBase"/>) with RAM pages mapped by
    /// 4 KiB PTEs, so that struct pages can be written through <see cref="SyntheticKernel.Write"/> and read back.
    /// </summary>
    public void MapVmemmap()
    {
        int pages = RamSize / 4096 * 64 / 4096;
        for (int i = 0; i < pages; i++)
        {
            ulong frame = AllocRam(4096, 4096) - PageOffsetBase;
            ulong va = VmemmapBase + (ulong)(i * 4096);
            Kernel.Map(va, frame, 4096);
            MapPte(va, frame);
        }
    }

    /// <summary>A 1 GiB (PUD) or 2 MiB (PMD) mapping.</summary>
    private void MapLarge(ulong virt, ulong phys, ulong size)
    {
        ulong pud = PudTable(virt);
        if (size == Size1G)
        {
            Kernel.WritePhysicalU64(pud + (Index(virt, 30) * 8), phys | _sme | Present | Writable | Pse | Nx);
            return;
        }

        ulong pmd = Table(pud, virt, 30);
        Kernel.WritePhysicalU64(pmd + (Index(virt, 21) * 8), phys | _sme | Present | Writable | Pse);
    }

    private void MapPte(ulong virt, ulong phys)
    {
        ulong pmd = Table(PudTable(virt), virt, 30);
        ulong pte = Table(pmd, virt, 21);
        Kernel.WritePhysicalU64(pte + (Index(virt, 12) * 8), phys | _sme | Present | Writable | Nx);
    }

    /// <summary>The PUD page for virt: PGD → PUD, or PGD (bits 48..56) → P4D → PUD with 5 levels.</summary>
    private ulong PudTable(ulong virt) => _fiveLevel ? Table(Table(Pgd, virt, 48), virt, 39) : Table(Pgd, virt, 39);

    /// <summary>The next-level table an entry points to, allocating it on first use.</summary>
    private ulong Table(ulong table, ulong virt, int shift)
    {
        ulong slot = table + (Index(virt, shift) * 8);
        ulong e = Kernel.ReadPhysicalU64(slot);
        if ((e & Present) == 0)
        {
            ulong page = AllocRam(4096, 4096) - PageOffsetBase;
            e = page | _sme | Present | Writable;
            Kernel.WritePhysicalU64(slot, e);
        }

        return e & 0x000f_ffff_ffff_f000 & ~_sme;
    }

    private static ulong Index(ulong v, int shift) => (v >> shift) & 511;

    private static ulong AlignUp(ulong v, ulong a) => (v + a - 1) / a * a;

    private static void Check(bool ok)
    {
        if (!ok)
        {
            throw new InvalidOperationException("synthetic x86_64 kernel: out of memory");
        }
    }
}
