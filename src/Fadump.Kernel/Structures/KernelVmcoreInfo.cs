using Fadump.Formats.VmcoreInfo;
using L = Fadump.Kernel.Structures.Ppc64KernelLayout;

namespace Fadump.Kernel.Structures;

/// <summary>
/// The VMCOREINFO a 6.1 ppc64 kernel publishes (kernel/vmcore_info.c and arch/powerpc/kexec/core.c),
/// with the keys and order of the real note (tests/data/vmcoreinfo/linux-6.1-ppc64le.txt).
/// </summary>
public static class KernelVmcoreInfo
{
    public const int NoteDataSize = 4096 - 12 - 12; // VMCOREINFO_BYTES in a one-page note

    public static VmcoreInfo Build(string release, string buildId, ulong memSectionRoots)
    {
        var v = new VmcoreInfo();
        v.Add("OSRELEASE", release);
        v.Add("BUILD-ID", buildId);
        v.Add("PAGESIZE", L.PageSize.ToString(System.Globalization.CultureInfo.InvariantCulture));
        v.AddSymbol("init_uts_ns", L.Sym(L.InitUtsNsOffset));
        v.AddOffset("uts_namespace.name", 0);
        v.AddSymbol("node_online_map", L.Sym(L.NodeOnlineMapOffset));
        v.AddSymbol("swapper_pg_dir", L.Sym(L.SwapperPgDirOffset));
        v.AddSymbol("_stext", L.KernelBase);
        v.AddSymbol("vmap_area_list", L.Sym(0x25e8388));
        v.AddSymbol("mem_section", memSectionRoots);
        v.AddLength("mem_section", L.NrSectionRoots);
        v.AddSize("mem_section", L.MemSectionSize);
        v.AddOffset("mem_section.section_mem_map", 0);
        v.AddNumber("SECTION_SIZE_BITS", L.SectionSizeBits);
        v.AddNumber("MAX_PHYSMEM_BITS", L.MaxPhysmemBits);
        v.AddSize("page", L.PageStructSize);
        v.AddSize("pglist_data", 21760);
        v.AddSize("zone", 1664);
        v.AddSize("free_area", 104);
        v.AddSize("list_head", 16);
        v.AddSize("nodemask_t", 32);
        v.AddOffset("page.flags", L.PageFlags);
        v.AddOffset("page._refcount", L.PageRefcount);
        v.AddOffset("page.mapping", L.PageMapping);
        v.AddOffset("page.lru", L.PageLru);
        v.AddOffset("page._mapcount", L.PageMapcount);
        v.AddOffset("page.private", L.PagePrivate);
        v.AddOffset("page.compound_dtor", 16);
        v.AddOffset("page.compound_order", 17);
        v.AddOffset("page.compound_head", L.PageLru);
        v.AddOffset("pglist_data.node_zones", 0);
        v.AddOffset("pglist_data.nr_zones", 19744);
        v.AddOffset("pglist_data.node_start_pfn", 19752);
        v.AddOffset("pglist_data.node_spanned_pages", 19768);
        v.AddOffset("pglist_data.node_id", 19776);
        v.AddOffset("zone.free_area", 256);
        v.AddOffset("zone.vm_stat", 1408);
        v.AddOffset("zone.spanned_pages", 120);
        v.AddOffset("free_area.free_list", 0);
        v.AddOffset("list_head.next", 0);
        v.AddOffset("list_head.prev", 8);
        v.AddOffset("vmap_area.va_start", 0);
        v.AddOffset("vmap_area.list", 40);
        v.AddLength("zone.free_area", L.MaxOrder);
        v.AddSymbol("prb", L.Sym(L.PrbOffset));
        v.AddSymbol("printk_rb_static", L.Sym(L.PrintkRbStaticOffset));
        v.AddSymbol("clear_seq", L.Sym(L.ClearSeqOffset));
        v.AddSize("printk_ringbuffer", 88);
        v.AddOffset("printk_ringbuffer.desc_ring", 0);
        v.AddOffset("printk_ringbuffer.text_data_ring", 48);
        v.AddOffset("printk_ringbuffer.fail", 80);
        v.AddSize("prb_desc_ring", 48);
        v.AddOffset("prb_desc_ring.count_bits", 0);
        v.AddOffset("prb_desc_ring.descs", 8);
        v.AddOffset("prb_desc_ring.infos", 16);
        v.AddOffset("prb_desc_ring.head_id", 24);
        v.AddOffset("prb_desc_ring.tail_id", 32);
        v.AddSize("prb_desc", 24);
        v.AddOffset("prb_desc.state_var", 0);
        v.AddOffset("prb_desc.text_blk_lpos", 8);
        v.AddSize("prb_data_blk_lpos", 16);
        v.AddOffset("prb_data_blk_lpos.begin", 0);
        v.AddOffset("prb_data_blk_lpos.next", 8);
        v.AddSize("printk_info", 88);
        v.AddOffset("printk_info.seq", 0);
        v.AddOffset("printk_info.ts_nsec", 8);
        v.AddOffset("printk_info.text_len", 16);
        v.AddOffset("printk_info.caller_id", 20);
        v.AddOffset("printk_info.dev_info", 24);
        v.AddSize("dev_printk_info", 64);
        v.AddOffset("dev_printk_info.subsystem", 0);
        v.AddLength("printk_info_subsystem", 16);
        v.AddOffset("dev_printk_info.device", 16);
        v.AddLength("printk_info_device", 48);
        v.AddSize("prb_data_ring", 32);
        v.AddOffset("prb_data_ring.size_bits", 0);
        v.AddOffset("prb_data_ring.data", 8);
        v.AddOffset("prb_data_ring.head_lpos", 16);
        v.AddOffset("prb_data_ring.tail_lpos", 24);
        v.AddSize("atomic_long_t", 8);
        v.AddOffset("atomic_long_t.counter", 0);
        v.AddSize("latched_seq", 24);
        v.AddOffset("latched_seq.val", 8);
        v.AddLength("free_area.free_list", 6);
        v.AddNumber("NR_FREE_PAGES", 0);
        v.AddNumber("PG_lru", L.PgLru);
        v.AddNumber("PG_private", L.PgPrivate);
        v.AddNumber("PG_swapcache", L.PgSwapcache);
        v.AddNumber("PG_swapbacked", L.PgSwapbacked);
        v.AddNumber("PG_slab", L.PgSlab);
        v.AddNumber("PG_hwpoison", L.PgHwpoison);
        v.AddNumber("PG_head_mask", 1L << L.PgHead);
        v.AddNumber("PAGE_BUDDY_MAPCOUNT_VALUE", L.PageBuddyMapcountValue);
        v.AddNumber("HUGETLB_PAGE_DTOR", 2);
        v.AddNumber("PAGE_OFFLINE_MAPCOUNT_VALUE", L.PageOfflineMapcountValue);
        v.AddSymbol("node_data", L.Sym(0x276dc18));
        v.AddLength("node_data", 256);
        v.AddSymbol("vmemmap_list", L.Sym(L.VmemmapListOffset));
        v.AddSymbol("mmu_vmemmap_psize", L.Sym(L.MmuVmemmapPsizeOffset));
        v.AddSymbol("mmu_psize_defs", L.Sym(L.MmuPsizeDefsOffset));
        v.AddSize("vmemmap_backing", L.VmemmapBackingSize);
        v.AddOffset("vmemmap_backing.list", 0);
        v.AddOffset("vmemmap_backing.phys", 8);
        v.AddOffset("vmemmap_backing.virt_addr", 16);
        v.AddSize("mmu_psize_def", 96);
        v.AddOffset("mmu_psize_def.shift", 0);
        v.Add("KERNELOFFSET", "0");
        return v;
    }

    /// <summary>The ELF note (vmcoreinfo_note): header, "VMCOREINFO\0" padded, the text, zero-filled to its fixed size.</summary>
    public static byte[] EncodeNote(VmcoreInfo info, bool bigEndian)
    {
        var text = info.ToBytes();
        if (text.Length > NoteDataSize)
        {
            throw new InvalidOperationException("VMCOREINFO exceeds its page");
        }

        var note = new Formats.Elf.ElfNote("VMCOREINFO", 0, text);
        var buf = new byte[NoteSize];
        note.Encode(buf, bigEndian);
        return buf;
    }

    /// <summary>VMCOREINFO_NOTE_SIZE: the note buffer, which ends with zeros (the walkers' terminator).</summary>
    public const int NoteSize = 4096;
}
