using Fadump.Formats;

namespace Fadump.Tools.Tests.Synthetic;

/// <summary>
/// A Book3S-64 (radix, 64 KiB pages) kernel: 4 MiB of RAM in the linear map at
/// 0xc000000000000000, one PT_LOAD for it, and a vmemmap_list whose blocks map the
/// 0xc00c000000000000 vmemmap region to scattered RAM. Either byte order.
/// </summary>
internal sealed class SyntheticPpc64
{
    public const ulong PageOffset = 0xc000000000000000;
    public const ulong VmemmapBase = 0xc00c000000000000;
    public const int RamSize = 4 << 20;
    public const int PageSize = 64 << 10;

    /// <summary>mmu_psize_defs index used for the vmemmap (MMU_PAGE_64K here) and its shift.</summary>
    public const int VmemmapPsize = 2;
    public const uint VmemmapShift = 16;

    private const int MmuPsizeDefSize = 96;
    private const int MmuPageCount = 16;

    private ulong _next = 0x10000;

    public SyntheticPpc64(bool bigEndian, string release = "6.1.0-synthetic-powerpc64le")
    {
        Kernel = new SyntheticKernel(bigEndian ? DumpMachine.Ppc64 : DumpMachine.Ppc64le, PageSize, RamSize);
        var info = Kernel.Info;
        info.Add("OSRELEASE", release);
        info.Add("PAGESIZE", "65536");
        Kernel.Map(PageOffset, 0, RamSize);
        Kernel.WriteUtsname(Alloc(6 * 65, 8), release);
        info.AddSymbol("_stext", PageOffset);
        info.AddNumber("MAX_PHYSMEM_BITS", 51);
        info.Add("KERNELOFFSET", "0");
        Kernel.AddLoad(0, PageOffset, RamSize);
    }

    public SyntheticKernel Kernel { get; }

    /// <summary>Reserves RAM; returns its linear-map address.</summary>
    public ulong Alloc(int size, int align)
    {
        _next = (_next + (ulong)align - 1) / (ulong)align * (ulong)align;
        ulong v = PageOffset + _next;
        _next += (ulong)size;
        if (_next > RamSize)
        {
            throw new InvalidOperationException("synthetic ppc64 kernel: out of memory");
        }

        return v;
    }

    /// <summary>
    /// Lays out mmu_vmemmap_psize, mmu_psize_defs and a vmemmap_list of the given virtual block
    /// indices (each 1 &lt;&lt; VmemmapShift bytes at VmemmapBase + index × size), each backed by a
    /// fresh RAM block; the list is built newest first, as vmemmap_list_populate does.
    /// Returns the physical address behind each block, in the order given.
    /// </summary>
    public ulong[] AddVmemmap(params int[] blocks)
    {
        var k = Kernel;
        ulong psizeVar = Alloc(4, 4);
        k.WriteU32(psizeVar, VmemmapPsize);
        ulong defs = Alloc(MmuPsizeDefSize * MmuPageCount, 8);
        for (int i = 0; i < MmuPageCount; i++)
        {
            k.WriteU32(defs + (ulong)(i * MmuPsizeDefSize), i == VmemmapPsize ? VmemmapShift : 0u);
        }

        ulong listVar = Alloc(8, 8);
        ulong blockSize = 1UL << (int)VmemmapShift;
        var phys = new ulong[blocks.Length];
        ulong head = 0;
        for (int i = 0; i < blocks.Length; i++)
        {
            phys[i] = Alloc((int)blockSize, (int)blockSize) - PageOffset;
            ulong node = Alloc(24, 8);
            k.WriteU64(node, head);                                            // list
            k.WriteU64(node + 8, phys[i]);                                     // phys
            k.WriteU64(node + 16, VmemmapBase + ((ulong)blocks[i] * blockSize)); // virt_addr
            head = node;
            k.Map(VmemmapBase + ((ulong)blocks[i] * blockSize), phys[i], blockSize);
        }

        k.WriteU64(listVar, head);
        var info = k.Info;
        info.AddSymbol("vmemmap_list", listVar);
        info.AddSymbol("mmu_vmemmap_psize", psizeVar);
        info.AddSymbol("mmu_psize_defs", defs);
        info.AddSize("vmemmap_backing", 24);
        info.AddOffset("vmemmap_backing.list", 0);
        info.AddOffset("vmemmap_backing.phys", 8);
        info.AddOffset("vmemmap_backing.virt_addr", 16);
        info.AddSize("mmu_psize_def", MmuPsizeDefSize);
        info.AddOffset("mmu_psize_def.shift", 0);
        return phys;
    }
}
