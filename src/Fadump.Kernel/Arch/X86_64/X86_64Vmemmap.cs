using Fadump.Kernel.Mm;
using Fadump.Kernel.Structures;
using Fadump.Machine;

namespace Fadump.Kernel.Arch.X86_64;

/// <summary>
/// SPARSEMEM_VMEMMAP on x86_64 as a 6.1 kernel builds it, with the page tables that make it (and
/// everything else) reachable: the direct map (init_mem_mapping), per node one buffer for every
/// present section's struct pages (sparse_buffer_init: 2 MiB per 128 MiB section, carved in section
/// order) mapped at vmemmap_base with 2 MiB pages (vmemmap_populate_hugepages), and the kernel text
/// mapping (level2_kernel_pgt). Tools find it all from SYMBOL(init_top_pgt) and SYMBOL(mem_section).
/// </summary>
internal sealed class X86_64Vmemmap(X86_64Arch arch) : IVmemmapModel
{
    private const ulong SectionMemMapBytes = 2UL << 20; // PAGES_PER_SECTION (32768) × sizeof(struct page)

    /// <summary>The page tables of the last populated kernel (tests and the kernel's own walks).</summary>
    public X86_64PageTables? Tables { get; private set; }

    public void Populate(LinuxKernel kernel, IReadOnlyList<ulong> presentSections)
    {
        ulong root = arch.ToPhys(arch.Sym(arch.Image.SwapperPgDir));
        var tables = new X86_64PageTables(kernel.Machine.Memory, root, () => kernel.BootAlloc(4096, 4096, "alloc_low_pages"));
        foreach (var r in kernel.Memory)
        {
            tables.MapDirect(arch.PageOffset, r);
        }

        if (presentSections.Count > 0)
        {
            ulong buffer = kernel.BootAlloc((ulong)presentSections.Count * SectionMemMapBytes, SectionMemMapBytes, "sparse_buffer_init");
            VmemmapBacking? run = null;
            for (int i = 0; i < presentSections.Count; i++)
            {
                ulong virt = arch.VmemmapBase + (presentSections[i] * SectionMemMapBytes);
                ulong phys = buffer + ((ulong)i * SectionMemMapBytes);
                tables.Map2M(virt, phys, SectionMemMapBytes, executable: false);
                if (run is { } r && r.VirtualAddress + r.Size == virt && r.PhysicalAddress + r.Size == phys)
                {
                    run = r with { Size = r.Size + SectionMemMapBytes };
                }
                else
                {
                    if (run is { } done)
                    {
                        kernel.Image!.AddVmemmap(done);
                    }

                    run = new VmemmapBacking(virt, phys, SectionMemMapBytes);
                }
            }

            kernel.Image!.AddVmemmap(run!.Value);
        }

        ulong imageSize = Ranges.AlignUp(arch.Image.ImageSize, 2UL << 20);
        tables.Map2M(arch.KernelVirtualBase, arch.KernelPhysicalBase, imageSize, executable: true);
        tables.Flush();
        Tables = tables;
    }

    public Action PrepareHotAdd(LinuxKernel kernel, MemoryRange range, Func<ulong, ulong> take) =>
        throw new NotSupportedException("memory hot-add is simulated on pseries only");
}
