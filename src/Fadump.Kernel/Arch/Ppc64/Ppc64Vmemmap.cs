using Fadump.Kernel.Mm;
using Fadump.Kernel.Structures;
using Fadump.Machine;

namespace Fadump.Kernel.Arch.Ppc64;

/// <summary>
/// ppc64's vmemmap (arch/powerpc/mm/init_64.c vmemmap_populate, vmemmap_list_populate): struct pages in
/// 2 MiB blocks, one per 32768 PFNs with a present section, each recorded in vmemmap_list (newest first),
/// which is how makedumpfile and crash find them; mmu_vmemmap_psize and mmu_psize_defs say the block size.
/// </summary>
internal sealed class Ppc64Vmemmap(Ppc64Arch arch) : IVmemmapModel
{
    private const ulong Block = 1UL << Ppc64Arch.VmemmapBlockShift;

    public void Populate(LinuxKernel kernel, IReadOnlyList<ulong> presentSections)
    {
        var w = kernel.Writer;
        ulong page = (ulong)arch.PageSize;
        ulong pagesPerSection = 1UL << (arch.SectionSizeBits - arch.PageShift);

        // One block of struct pages per 32768 PFNs with a present section (ascending, once each).
        var blocks = new List<ulong>();
        foreach (var s in presentSections)
        {
            ulong firstPfn = s * pagesPerSection;
            ulong v0 = arch.VmemmapBase + (firstPfn * KernelArch.PageStructSize);
            ulong v1 = v0 + (pagesPerSection * KernelArch.PageStructSize) - 1;
            for (ulong b = v0 & ~(Block - 1); b <= v1; b += Block)
            {
                if (blocks.Count == 0 || blocks[^1] < b)
                {
                    blocks.Add(b);
                }
            }
        }

        var backings = new List<VmemmapBacking>();
        foreach (var b in blocks)
        {
            ulong phys = kernel.BootAlloc(Block, Block, "vmemmap_populate");
            var backing = new VmemmapBacking(b, phys, Block);
            backings.Add(backing);
            kernel.Image!.AddVmemmap(backing);
        }

        // vmemmap_list: newest first, nodes carved from pages allocated for them.
        ulong listBytes = Ranges.AlignUp((ulong)backings.Count * Ppc64Arch.VmemmapBackingSize, page);
        ulong listPhys = kernel.BootAlloc(listBytes, page, "vmemmap_list_populate");
        ulong next = 0;
        var list = new byte[listBytes];
        for (int i = 0; i < backings.Count; i++)
        {
            ulong node = arch.Virt(listPhys + ((ulong)i * Ppc64Arch.VmemmapBackingSize));
            EncodeNode(list.AsSpan(i * Ppc64Arch.VmemmapBackingSize, Ppc64Arch.VmemmapBackingSize), next, backings[i], w.BigEndian);
            next = node;
        }

        w.Bytes(arch.Virt(listPhys), list); // one write: a 64 TiB machine has 32768 nodes
        w.U64(arch.Sym(Ppc64Arch.VmemmapListOffset), next);
        // mmu_vmemmap_psize = MMU_PAGE_2M (index 4 here); mmu_psize_defs[4].shift = 21.
        w.U32(arch.Sym(Ppc64Arch.MmuVmemmapPsizeOffset), 4);
        w.U32(arch.Sym(Ppc64Arch.MmuPsizeDefsOffset) + (4 * 96), Ppc64Arch.VmemmapBlockShift);
    }

    public Action PrepareHotAdd(LinuxKernel kernel, MemoryRange range, Func<ulong, ulong> take)
    {
        var w = kernel.Writer;
        var image = kernel.Image!;
        ulong page = (ulong)arch.PageSize;
        ulong pagesPerSection = 1UL << (arch.SectionSizeBits - arch.PageShift);
        var mapped = new HashSet<ulong>(image.Vmemmap.Select(v => v.VirtualAddress));
        var blocks = new List<ulong>();
        for (ulong s = range.Start >> arch.SectionSizeBits; s <= (range.End - 1) >> arch.SectionSizeBits; s++)
        {
            ulong v0 = arch.VmemmapBase + (s * pagesPerSection * KernelArch.PageStructSize);
            for (ulong b = v0 & ~(Block - 1); b < v0 + (pagesPerSection * KernelArch.PageStructSize); b += Block)
            {
                if (mapped.Add(b))
                {
                    blocks.Add(b);
                }
            }
        }

        // The vmemmap blocks, then the vmemmap_list nodes, at the start of the range.
        var backings = blocks.Select(b => new VmemmapBacking(b, take(Block), Block)).ToList();
        ulong listBytes = Ranges.AlignUp((ulong)Math.Max(1, backings.Count) * Ppc64Arch.VmemmapBackingSize, page);
        ulong listPhys = take(listBytes);
        return () =>
        {
            foreach (var b in backings)
            {
                image.AddVmemmap(b);
            }

            // vmemmap_list: the new nodes go in front (newest first).
            ulong next = w.ReadU64(arch.Sym(Ppc64Arch.VmemmapListOffset));
            var list = new byte[listBytes];
            for (int i = 0; i < backings.Count; i++)
            {
                EncodeNode(list.AsSpan(i * Ppc64Arch.VmemmapBackingSize, Ppc64Arch.VmemmapBackingSize), next, backings[i], w.BigEndian);
                next = arch.Virt(listPhys + ((ulong)i * Ppc64Arch.VmemmapBackingSize));
            }

            w.Bytes(arch.Virt(listPhys), list);
            w.U64(arch.Sym(Ppc64Arch.VmemmapListOffset), next);
        };
    }

    /// <summary>struct vmemmap_backing {list, phys, virt_addr}.</summary>
    private static void EncodeNode(Span<byte> n, ulong next, VmemmapBacking backing, bool bigEndian)
    {
        Formats.Endian.Write(n, next, bigEndian);
        Formats.Endian.Write(n[8..], backing.PhysicalAddress, bigEndian);
        Formats.Endian.Write(n[16..], backing.VirtualAddress, bigEndian);
    }
}
