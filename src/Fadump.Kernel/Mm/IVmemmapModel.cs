using Fadump.Machine;

namespace Fadump.Kernel.Mm;

/// <summary>
/// How an architecture backs the struct page array (SPARSEMEM_VMEMMAP) with memory and tells tools
/// where it is: ppc64 maps 2 MiB blocks and lists them in vmemmap_list; x86_64 maps it through page tables.
/// The mem_section part is common (<see cref="LinuxKernel"/>).
/// </summary>
public interface IVmemmapModel
{
    /// <summary>vmemmap_populate at boot for the present sections (ascending), allocating through memblock.</summary>
    void Populate(LinuxKernel kernel, IReadOnlyList<ulong> presentSections);

    /// <summary>
    /// memmap_on_memory for hot-added memory: takes the struct page memory (and whatever maps it) from the start
    /// of the range through <paramref name="take"/>; the returned action maps it once the kernel has reserved what
    /// was taken.
    /// </summary>
    Action PrepareHotAdd(LinuxKernel kernel, MemoryRange range, Func<ulong, ulong> take);
}
