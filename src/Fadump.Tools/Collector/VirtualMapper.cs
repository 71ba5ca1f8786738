using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Tools.Inspect;

namespace Fadump.Tools.Collector;

/// <summary>
/// p_vaddr for an ELF output's PT_LOADs: the kernel's linear map, as /proc/vmcore has it (makedumpfile finds
/// page_offset from these). The input's own mapping when it has one (p_vaddr ≠ p_paddr), else x86_64
/// page_offset_base (found from the page tables, KASLR included) or ppc64 PAGE_OFFSET + paddr.
/// </summary>
internal static class VirtualMapper
{
    public static Func<ulong, ulong> For(IDump dump)
    {
        if (dump is ElfDump elf)
        {
            var loads = elf.Elf.Loads.Where(l => l.VirtualAddress != l.PhysicalAddress && l.VirtualAddress < X86_64KernelAddressSpace.StartKernelMap).ToArray();
            if (loads.Length > 0)
            {
                ulong offset = loads[0].VirtualAddress - loads[0].PhysicalAddress;
                if (loads.All(l => l.VirtualAddress - l.PhysicalAddress == offset))
                {
                    return pa => pa + offset;
                }
            }
        }

        if (dump.Machine.Arch == DumpArch.Ppc64)
        {
            return pa => Ppc64KernelAddressSpace.PageOffset + pa;
        }

        if (dump.VmcoreInfo is not null)
        {
            try
            {
                if (KernelAddressSpace.Create(dump) is X86_64KernelAddressSpace x)
                {
                    ulong pob = x.PageOffsetBase;
                    return pa => pob + pa;
                }
            }
            catch (DumpFormatException)
            {
                // No usable VMCOREINFO: physical addresses only.
            }
        }

        return pa => pa;
    }
}
