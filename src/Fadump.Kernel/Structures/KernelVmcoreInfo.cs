using Fadump.Formats.VmcoreInfo;
using Fadump.Kernel.Arch;

namespace Fadump.Kernel.Structures;

/// <summary>
/// The VMCOREINFO a 6.1 kernel publishes (kernel/crash_core.c crash_save_vmcoreinfo_init and the arch's
/// arch_crash_save_vmcoreinfo), with the keys and order of the real notes (shared/spec/vmcoreinfo-samples/):
/// the common keys with the arch's values, and the arch's own entries where its hooks add them.
/// </summary>
public static class KernelVmcoreInfo
{
    public const int NoteDataSize = 4096 - 12 - 12; // VMCOREINFO_BYTES in a one-page note

    public static VmcoreInfo Build(KernelArch arch, KernelProfile profile, string release, string buildId, ulong memSection)
    {
        var image = arch.Image;
        var node = arch.Node;
        var v = new VmcoreInfo();
        v.Add("OSRELEASE", release);
        if (buildId.Length > 0)
        {
            v.Add("BUILD-ID", buildId); // since 5.9
        }

        v.Add("PAGESIZE", arch.PageSize.ToString(System.Globalization.CultureInfo.InvariantCulture));
        v.AddSymbol("init_uts_ns", arch.Sym(image.InitUtsNs));
        v.AddOffset("uts_namespace.name", 0);
        v.AddSymbol("node_online_map", arch.Sym(image.NodeOnlineMap));
        v.AddSymbol("swapper_pg_dir", arch.Sym(image.SwapperPgDir));
        v.AddSymbol("_stext", arch.KernelVirtualBase);
        v.AddSymbol("vmap_area_list", arch.Sym(image.VmapAreaList));
        v.AddSymbol("mem_section", memSection);
        v.AddLength("mem_section", arch.NrSectionRoots);
        v.AddSize("mem_section", KernelArch.MemSectionSize);
        v.AddOffset("mem_section.section_mem_map", 0);
        v.AddNumber("SECTION_SIZE_BITS", arch.SectionSizeBits);
        v.AddNumber("MAX_PHYSMEM_BITS", arch.MaxPhysmemBits);
        v.AddSize("page", KernelArch.PageStructSize);
        v.AddSize("pglist_data", node.PglistDataSize);
        v.AddSize("zone", node.ZoneSize);
        v.AddSize("free_area", node.FreeAreaSize);
        v.AddSize("list_head", 16);
        v.AddSize("nodemask_t", node.NodemaskSize);
        v.AddOffset("page.flags", KernelArch.PageFlags);
        v.AddOffset(profile.RefcountOffsetName, KernelArch.PageRefcount);
        v.AddOffset("page.mapping", KernelArch.PageMapping);
        v.AddOffset("page.lru", KernelArch.PageLru);
        v.AddOffset("page._mapcount", KernelArch.PageMapcount);
        v.AddOffset("page.private", KernelArch.PagePrivate);
        v.AddOffset("page.compound_dtor", 16);
        v.AddOffset("page.compound_order", 17);
        v.AddOffset("page.compound_head", KernelArch.PageLru);
        v.AddOffset("pglist_data.node_zones", 0);
        v.AddOffset("pglist_data.nr_zones", node.NrZones);
        v.AddOffset("pglist_data.node_start_pfn", node.NodeStartPfn);
        v.AddOffset("pglist_data.node_spanned_pages", node.NodeSpannedPages);
        v.AddOffset("pglist_data.node_id", node.NodeId);
        v.AddOffset("zone.free_area", 256);
        v.AddOffset("zone.vm_stat", node.ZoneVmStat);
        v.AddOffset("zone.spanned_pages", node.ZoneSpannedPages);
        v.AddOffset("free_area.free_list", 0);
        v.AddOffset("list_head.next", 0);
        v.AddOffset("list_head.prev", 8);
        v.AddOffset("vmap_area.va_start", 0);
        v.AddOffset("vmap_area.list", 40);
        v.AddLength("zone.free_area", arch.MaxOrder);
        profile.AddPrintk(v, arch);
        v.AddLength("free_area.free_list", arch.MigrateTypes);
        v.AddNumber("NR_FREE_PAGES", 0);
        v.AddNumber("PG_lru", KernelArch.PgLru);
        v.AddNumber("PG_private", KernelArch.PgPrivate);
        v.AddNumber("PG_swapcache", KernelArch.PgSwapcache);
        v.AddNumber("PG_swapbacked", KernelArch.PgSwapbacked);
        v.AddNumber("PG_slab", KernelArch.PgSlab);
        v.AddNumber("PG_hwpoison", arch.PgHwpoison);
        v.AddNumber("PG_head_mask", 1L << KernelArch.PgHead);
        v.AddNumber("PAGE_BUDDY_MAPCOUNT_VALUE", KernelArch.PageBuddyMapcountValue);
        v.AddNumber("HUGETLB_PAGE_DTOR", 2);
        v.AddNumber("PAGE_OFFLINE_MAPCOUNT_VALUE", KernelArch.PageOfflineMapcountValue);
        arch.AddArchNumbers(v);
        v.AddSymbol("node_data", arch.Sym(image.NodeData));
        v.AddLength("node_data", arch.MaxNumNodes);
        arch.AddArchMemoryModel(v);
        arch.AddKernelOffset(v);
        return v;
    }

    /// <summary>The ELF note (vmcoreinfo_note): header, "VMCOREINFO\0" padded, the text, zero-filled to its fixed size.</summary>
    public static byte[] EncodeNote(VmcoreInfo info, KernelArch arch)
    {
        var text = info.ToBytes();
        if (text.Length > NoteDataSize)
        {
            throw new InvalidOperationException("VMCOREINFO exceeds its page");
        }

        var note = new Formats.Elf.ElfNote("VMCOREINFO", 0, text);
        var buf = new byte[NoteSize];
        note.Encode(buf, arch.BigEndian);
        return buf;
    }

    /// <summary>VMCOREINFO_NOTE_SIZE: the note buffer, which ends with zeros (the walkers' terminator).</summary>
    public const int NoteSize = 4096;
}
