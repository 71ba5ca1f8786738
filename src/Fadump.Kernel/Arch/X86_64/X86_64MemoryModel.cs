using System.Buffers.Binary;
using Fadump.Kernel.Structures;
using Fadump.Machine;

namespace Fadump.Kernel.Arch.X86_64;

/// <summary>
/// SPARSEMEM_VMEMMAP on x86_64 as a 6.1 kernel builds it at boot, in the order it does: the direct
/// map's page tables (init_mem_mapping), the mem_section root array and one page of mem_section per
/// present root (sparse_init, memblock_alloc: the root array is a direct-map pointer, which is what
/// SYMBOL(mem_section) gives), then per node one buffer for all struct pages (sparse_buffer_init:
/// 2 MiB per present 128 MiB section) mapped at vmemmap_base with 2 MiB pages
/// (vmemmap_populate_hugepages), and the kernel text mapping. Every table and structure is in RAM
/// where tools find it through VMCOREINFO (SYMBOL(init_top_pgt), SYMBOL(mem_section)).
/// </summary>
public sealed class X86_64MemoryModel
{
    private const ulong SectionMemMapBytes = 2UL << 20; // PAGES_PER_SECTION (32768) × sizeof(struct page)

    private X86_64MemoryModel(X86_64PageTables tables, ulong memSection, IReadOnlyList<VmemmapBacking> vmemmap, int presentSections)
    {
        PageTables = tables;
        MemSection = memSection;
        Vmemmap = vmemmap;
        PresentSections = presentSections;
    }

    public X86_64PageTables PageTables { get; }

    /// <summary>The value of the mem_section pointer: the root array's direct-map address.</summary>
    public ulong MemSection { get; }

    /// <summary>The struct page array's backing, one entry per run of present sections.</summary>
    public IReadOnlyList<VmemmapBacking> Vmemmap { get; }

    public int PresentSections { get; }

    /// <param name="bootAlloc">memblock_alloc (size, align, the function's name for the panic message): a physical address.</param>
    public static X86_64MemoryModel Build(PhysicalMemory memory, X86_64Arch arch, IReadOnlyList<MemoryRange> ram, Func<ulong, ulong, string, ulong> bootAlloc)
    {
        ulong root = arch.ToPhys(arch.Sym(arch.Image.SwapperPgDir));
        var tables = new X86_64PageTables(memory, root, () => bootAlloc(4096, 4096, "alloc_low_pages"));
        foreach (var r in ram)
        {
            tables.MapDirect(arch.PageOffset, r);
        }

        int shift = arch.SectionSizeBits;
        var present = new List<ulong>();
        foreach (var r in ram)
        {
            for (ulong s = r.Start >> shift; s <= (r.End - 1) >> shift; s++)
            {
                if (present.Count == 0 || present[^1] < s)
                {
                    present.Add(s);
                }
            }
        }

        // sparse_init → memblocks_present → sparse_index_init: the root array, then a page per root.
        ulong rootsBytes = (ulong)arch.NrSectionRoots * 8;
        ulong rootsPhys = bootAlloc(rootsBytes, 64, "memblocks_present");
        var roots = new byte[rootsBytes];
        var rootPages = new Dictionary<ulong, byte[]>();
        var rootPagePhys = new Dictionary<ulong, ulong>();
        foreach (ulong s in present)
        {
            ulong ri = s / (ulong)arch.SectionsPerRoot;
            if (!rootPages.ContainsKey(ri))
            {
                ulong p = bootAlloc((ulong)arch.PageSize, (ulong)arch.PageSize, "sparse_index_alloc");
                rootPages[ri] = new byte[arch.PageSize];
                rootPagePhys[ri] = p;
                BinaryPrimitives.WriteUInt64LittleEndian(roots.AsSpan((int)(ri * 8)), arch.Virt(p));
            }
        }

        // sparse_init_nid: one buffer for the node's struct pages, carved in section order.
        ulong buffer = bootAlloc((ulong)present.Count * SectionMemMapBytes, SectionMemMapBytes, "sparse_init_nid");
        ulong encoded = arch.VmemmapBase | KernelArch.SectionMarkedPresent | KernelArch.SectionHasMemMap;
        var backings = new List<VmemmapBacking>();
        for (int i = 0; i < present.Count; i++)
        {
            ulong s = present[i];
            ulong virt = arch.VmemmapBase + (s * SectionMemMapBytes);
            ulong phys = buffer + ((ulong)i * SectionMemMapBytes);
            tables.Map2M(virt, phys, SectionMemMapBytes, executable: false);
            if (backings.Count > 0 && backings[^1].VirtualAddress + backings[^1].Size == virt && backings[^1].PhysicalAddress + backings[^1].Size == phys)
            {
                backings[^1] = backings[^1] with { Size = backings[^1].Size + SectionMemMapBytes };
            }
            else
            {
                backings.Add(new VmemmapBacking(virt, phys, SectionMemMapBytes));
            }

            ulong ri = s / (ulong)arch.SectionsPerRoot;
            BinaryPrimitives.WriteUInt64LittleEndian(
                rootPages[ri].AsSpan((int)(s % (ulong)arch.SectionsPerRoot * KernelArch.MemSectionSize)), encoded);
        }

        memory.Write(rootsPhys, roots);
        foreach (var (ri, page) in rootPages)
        {
            memory.Write(rootPagePhys[ri], page);
        }

        // The kernel text mapping (level2_kernel_pgt), 2 MiB pages over the image.
        ulong imageSize = (arch.Image.ImageSize + (2UL << 20) - 1) & ~((2UL << 20) - 1);
        tables.Map2M(arch.KernelVirtualBase, arch.KernelPhysicalBase, imageSize, executable: true);
        tables.Flush();
        return new X86_64MemoryModel(tables, arch.Virt(rootsPhys), backings, present.Count);
    }
}
