using Fadump.Formats;
using Fadump.Tools.Inspect;
using static System.FormattableString;

namespace Fadump.Tools.Collector;

/// <summary>The struct pages of PFNs [StartPfn, EndPfn) start at the kernel virtual address MemMap.</summary>
internal readonly record struct MemMapRange(ulong StartPfn, ulong EndPfn, ulong MemMap);

/// <summary>
/// Finds the mem_map of every memory section, as makedumpfile's get_mm_sparsemem / get_mm_flatmem do:
/// SPARSEMEM(_EXTREME) through mem_section (root array → struct mem_section → section_mem_map, encoded as
/// mem_map − section start PFN × SIZE(page), low bits flags), or one FLATMEM mem_map. The result is one entry
/// per present section: O(sections), never O(PFNs).
/// </summary>
internal static class MemMap
{
    /// <summary>SECTION_MARKED_PRESENT (include/linux/mmzone.h).</summary>
    private const ulong SectionMarkedPresent = 1;

    /// <summary>Bound on the sections read: 2^22 sections is far beyond any machine (64 TiB of 16 MiB sections).</summary>
    private const ulong MaxSections = 1UL << 22;

    public static IReadOnlyList<MemMapRange>? TryFind(KernelAddressSpace kernel, StructPageLayout page, ulong maxPfn, out string? problem)
    {
        var info = kernel.VmcoreInfo;
        problem = null;
        if (info.Symbol("mem_section") is { } memSection)
        {
            return Sparse(kernel, page, maxPfn, memSection, out problem);
        }

        if (info.Symbol("mem_map") is { } memMapSym)
        {
            // FLATMEM: mem_map is a pointer to the one array.
            Span<byte> b = stackalloc byte[8];
            if (kernel.ReadVirtual(memMapSym, b) < 8)
            {
                problem = Invariant($"cannot read mem_map at 0x{memMapSym:x}");
                return null;
            }

            ulong map = Endian.U64(b, kernel.BigEndian);
            return map == 0 ? [] : [new MemMapRange(0, maxPfn, map)];
        }

        problem = "VMCOREINFO has neither SYMBOL(mem_section) nor SYMBOL(mem_map)";
        return null;
    }

    private static List<MemMapRange>? Sparse(KernelAddressSpace kernel, StructPageLayout page, ulong maxPfn, ulong memSection, out string? problem)
    {
        problem = null;
        var info = kernel.VmcoreInfo;
        int pageShift = System.Numerics.BitOperations.Log2((uint)kernel.Dump.PageSize);
        long? sectionBits = info.Number("SECTION_SIZE_BITS");
        long? physBits = info.Number("MAX_PHYSMEM_BITS");
        long? sectionSize = info.Size("mem_section");
        long? mapOffset = info.Offset("mem_section.section_mem_map");
        if (sectionBits is not { } ssb || ssb <= pageShift || ssb > 40 || physBits is not { } mpb || mpb < ssb || mpb > 56
            || sectionSize is not (>= 8 and <= 4096) || mapOffset is not { } mo || mo < 0 || mo + 8 > sectionSize)
        {
            problem = "VMCOREINFO lacks or has bad NUMBER(SECTION_SIZE_BITS|MAX_PHYSMEM_BITS), SIZE(mem_section) or OFFSET(mem_section.section_mem_map)";
            return null;
        }

        ulong pagesPerSection = 1UL << (int)(ssb - pageShift);
        ulong nrMemSections = 1UL << (int)(mpb - ssb);
        int secSize = (int)sectionSize.Value;

        // SPARSEMEM_EXTREME (makedumpfile is_sparsemem_extreme): roots of PAGE_SIZE / SIZE(mem_section)
        // sections each; LENGTH(mem_section) is then the number of roots.
        ulong perRootExtreme = (ulong)kernel.Dump.PageSize / (ulong)secSize;
        long? length = info.Length("mem_section");
        bool extreme = length is null || (ulong)length.Value == DivideUp(nrMemSections, perRootExtreme);
        ulong perRoot = extreme ? perRootExtreme : 1;
        ulong numSections = Math.Min(DivideUp(maxPfn, pagesPerSection), Math.Min(nrMemSections, MaxSections));
        ulong mask = SectionMapMask(KernelVersion.Parse(info.OsRelease));

        var ranges = new List<MemMapRange>();
        var rootBuf = new byte[8];
        var sections = new byte[(int)perRoot * secSize];
        for (ulong root = 0; root * perRoot < numSections; root++)
        {
            ulong rootAddr;
            if (extreme)
            {
                if (kernel.ReadVirtual(memSection + (root * 8), rootBuf) < 8)
                {
                    problem = Invariant($"cannot read mem_section root {root} at 0x{memSection + (root * 8):x}");
                    return null;
                }

                rootAddr = Endian.U64(rootBuf, kernel.BigEndian);
                if (rootAddr == 0)
                {
                    continue;
                }
            }
            else
            {
                rootAddr = memSection + (root * (ulong)secSize);
            }

            int inRoot = (int)Math.Min(perRoot, numSections - (root * perRoot));
            var sec = sections.AsSpan(0, inRoot * secSize);
            if (kernel.ReadVirtual(rootAddr, sec) < sec.Length)
            {
                problem = Invariant($"cannot read the mem_section array at 0x{rootAddr:x}");
                return null;
            }

            for (int i = 0; i < inRoot; i++)
            {
                ulong nr = (root * perRoot) + (ulong)i;
                ulong map = Endian.U64(sec[((i * secSize) + (int)mo)..], kernel.BigEndian);
                if ((map & SectionMarkedPresent) == 0)
                {
                    continue;
                }

                ulong start = nr * pagesPerSection;
                ulong memMap = unchecked((map & mask) + (start * (ulong)page.Size));   // sparse_decode_mem_map
                if (!IsKernelAddress(kernel.Machine, memMap))
                {
                    continue;
                }

                ulong end = Math.Min(start + pagesPerSection, maxPfn);
                if (ranges.Count > 0 && ranges[^1].EndPfn == start && ranges[^1].MemMap + ((start - ranges[^1].StartPfn) * (ulong)page.Size) == memMap)
                {
                    ranges[^1] = ranges[^1] with { EndPfn = end };   // vmemmap: one virtually contiguous array
                }
                else
                {
                    ranges.Add(new MemMapRange(start, end, memMap));
                }
            }
        }

        return ranges;
    }

    /// <summary>SECTION_MAP_MASK: the flag bits below SECTION_MAP_LAST_BIT (1 &lt;&lt; 2 before 4.13, 1 &lt;&lt; 3 before 5.12, 1 &lt;&lt; 5 since).</summary>
    private static ulong SectionMapMask(Version? v)
    {
        int lastBit = v is null ? 5 : v < new Version(4, 13) ? 2 : v < new Version(5, 12) ? 3 : 5;
        return ~((1UL << lastBit) - 1);
    }

    private static bool IsKernelAddress(DumpMachine machine, ulong v) =>
        machine.Arch == DumpArch.X86_64 ? v >= 0xffff800000000000 : v >= 0xc000000000000000;

    private static ulong DivideUp(ulong a, ulong b) => (a + b - 1) / b;
}
