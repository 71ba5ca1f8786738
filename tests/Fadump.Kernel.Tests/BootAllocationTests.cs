using System.Buffers.Binary;
using Fadump.Kernel.Workload;
using Fadump.Machine;
using Fadump.Kernel.Arch;
using Fadump.Kernel.Arch.Ppc64;
using Fadump.Kernel.Platforms;

namespace Fadump.Kernel.Tests;

/// <summary>
/// Issue 7 item 7: what the kernel allocates for itself at boot (memblock) is PG_reserved in struct page, as in a
/// real kernel, so a dump filtered at -d 31 keeps it and can be filtered again.
/// </summary>
public sealed class BootAllocationTests
{
    private static readonly Ppc64Arch A = Ppc64Arch.LittleEndian;

    private const ulong G = 1UL << 30;

    private static ulong ReadU64(PhysicalMemory m, ulong phys)
    {
        var b = new byte[8];
        m.Read(phys, b);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    /// <summary>struct page of a PFN as it is in RAM: through the vmemmap_list mappings the kernel wrote.</summary>
    private static (ulong Flags, int Mapcount, int Refcount) StructPage(PhysicalMemory m, ulong pfn)
    {
        ulong v = A.VmemmapBase + (pfn * KernelArch.PageStructSize);
        for (ulong node = ReadU64(m, Ppc64Arch.VmemmapListOffset), n = 0; node != 0 && n < 100_000; node = ReadU64(m, node - Ppc64Arch.KernelBase), n++)
        {
            ulong phys = ReadU64(m, node - Ppc64Arch.KernelBase + 8), virt = ReadU64(m, node - Ppc64Arch.KernelBase + 16);
            if (v - virt < (1UL << Ppc64Arch.VmemmapBlockShift))
            {
                var sp = new byte[KernelArch.PageStructSize];
                m.Read(phys + (v - virt), sp);
                return (BinaryPrimitives.ReadUInt64LittleEndian(sp), BinaryPrimitives.ReadInt32LittleEndian(sp.AsSpan(KernelArch.PageMapcount)), BinaryPrimitives.ReadInt32LittleEndian(sp.AsSpan(KernelArch.PageRefcount)));
            }
        }

        throw new InvalidOperationException($"PFN 0x{pfn:x} has no vmemmap mapping");
    }

    private static List<ulong> KernelStructurePages(PhysicalMemory m)
    {
        var pages = new List<ulong>();
        // The vmemmap_list nodes, and every mem_section page the root array points to.
        for (ulong node = ReadU64(m, Ppc64Arch.VmemmapListOffset), n = 0; node != 0 && n < 100_000; node = ReadU64(m, node - Ppc64Arch.KernelBase), n++)
        {
            pages.Add((node - Ppc64Arch.KernelBase) >> A.PageShift);
        }

        for (ulong root = 0; root < (ulong)A.NrSectionRoots; root++)
        {
            ulong p = ReadU64(m, A.Image.MemSectionRoots!.Value + (root * 8));
            if (p != 0)
            {
                pages.Add((p - Ppc64Arch.KernelBase) >> A.PageShift);
            }
        }

        return [.. pages.Distinct()];
    }

    [Theory]
    [InlineData(4UL * G, "fadump=on", "database")]
    [InlineData(64UL * G, "fadump=on", "idle")]
    [InlineData(2UL * G, "fadump=off", "idle")]
    public void Mem_section_and_vmemmap_list_pages_are_reserved_in_struct_page(ulong memory, string cmdline, string workload)
    {
        for (ulong seed = 1; seed <= 5; seed++)
        {
            var lpar = new PseriesLpar(new LparSpec { MemoryBytes = memory, Cpus = 2, CommandLine = cmdline, Workload = workload, Seed = seed });
            var k = lpar.Boot();
            var m = lpar.Machine.Memory;
            var pages = KernelStructurePages(m);
            Assert.True(pages.Count >= 2);
            foreach (var pfn in pages)
            {
                var (flags, mapcount, refcount) = StructPage(m, pfn);
                Assert.True((flags & (1UL << KernelArch.PgReserved)) != 0, FormattableString.Invariant($"seed {seed}: kernel structure page PFN 0x{pfn:x} is not PG_reserved (flags 0x{flags:x}, class {k.Image!.ClassOf(pfn)})"));
                Assert.Equal(-1, mapcount);
                Assert.Equal(1, refcount);
            }

            // No free buddy block may claim a reserved page: makedumpfile drops a whole block from its head.
            foreach (var a in k.BootAllocations)
            {
                for (ulong pfn = a.Start >> A.PageShift; pfn < a.End >> A.PageShift; pfn++)
                {
                    ulong head = pfn & ~(ulong)(WorkloadModel.BlockPages - 1);
                    var (flags, mapcount, _) = StructPage(m, head);
                    Assert.False(mapcount == KernelArch.PageBuddyMapcountValue, FormattableString.Invariant($"seed {seed}: buddy head 0x{head:x} (flags 0x{flags:x}) covers reserved PFN 0x{pfn:x}"));
                }
            }
        }
    }

    [Fact]
    public void Boot_allocations_cover_the_vmemmap_the_list_and_the_sections()
    {
        var lpar = new PseriesLpar(new LparSpec { MemoryBytes = 64 * G, Cpus = 2 });
        var k = lpar.Boot();
        var m = lpar.Machine.Memory;
        bool Covered(ulong phys) => k.BootAllocations.Any(a => a.Contains(phys));
        foreach (var pfn in KernelStructurePages(m))
        {
            Assert.True(Covered(pfn << A.PageShift));
        }

        foreach (var v in k.Image!.Vmemmap)
        {
            Assert.True(Covered(v.PhysicalAddress) && Covered(v.PhysicalAddress + v.Size - 1));
        }
    }
}
