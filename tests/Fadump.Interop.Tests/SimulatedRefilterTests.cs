using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Kernel;
using Fadump.Tools.Collector;
using Fadump.Kernel.Arch.Ppc64;
using Fadump.Kernel.Platforms;

namespace Fadump.Interop.Tests;

/// <summary>
/// Issue 7 item 7: a simulated dump saved at -d 31 keeps the pages the kernel allocated for itself at boot
/// (mem_section, vmemmap_list, vmemmap), so it can be filtered again, from kdump-compressed and from ELF.
/// </summary>
public sealed class SimulatedRefilterTests
{
    private static readonly Ppc64Arch A = Ppc64Arch.LittleEndian;

    [Theory]
    [InlineData(SaveFormat.Kdump)]
    [InlineData(SaveFormat.Elf)]
    public void A_level_31_dump_keeps_the_boot_allocations_and_can_be_refiltered(SaveFormat first)
    {
        var ct = TestContext.Current.CancellationToken;
        var lpar = new PseriesLpar(new LparSpec { MemoryBytes = 2UL << 30, Cpus = 2, Workload = "idle", Seed = 3 });
        var k1 = lpar.Boot();
        Assert.True(lpar.Crash(CrashKind.Panic));
        var allocations = k1.BootAllocations;
        Assert.NotEmpty(allocations);

        using var dir = new RealTool.TempDir();
        string once = dir.File(first == SaveFormat.Elf ? "vmcore.elf" : "vmcore.kdump");
        using var vmcore = DumpFile.Open(lpar.Kernel!.Files.OpenRead("/proc/vmcore"));
        DumpSaver.Save(vmcore, once, new SaveOptions { DumpLevel = 31, Format = first, Compression = first == SaveFormat.Elf ? PageCompression.None : PageCompression.Zlib, Threads = 2 }, ct);
        using (var saved = DumpFile.Open(once))
        {
            var page = new byte[A.PageSize];
            var source = new byte[A.PageSize];
            foreach (var a in allocations)
            {
                for (ulong pfn = a.Start >> A.PageShift; pfn < a.End >> A.PageShift; pfn++)
                {
                    // An ELF file may read a dropped page as zeros: the bytes must be the crashed kernel's.
                    Assert.Equal(PageState.Dumped, vmcore.ReadPage(pfn, source));
                    Assert.True(saved.ReadPage(pfn, page) == PageState.Dumped && page.AsSpan().SequenceEqual(source), FormattableString.Invariant($"{once}: boot allocation PFN 0x{pfn:x} ({a}) was dropped at -d 31"));
                }
            }

            // Filter the filtered dump again: the reader needs mem_section and vmemmap from it.
            string twice = dir.File("vmcore.again");
            var r = DumpSaver.Save(saved, twice, new SaveOptions { DumpLevel = 31, Compression = PageCompression.Zlib, Threads = 2 }, ct);
            Assert.True(r.DumpedPages > 0);
            using var again = DumpFile.Open(twice);
            foreach (var a in allocations)
            {
                Assert.True(again.ReadPage(a.Start >> A.PageShift, page) == PageState.Dumped);
            }
        }
    }

    [Fact]
    public void Hot_added_memory_is_filtered_by_its_own_struct_pages()
    {
        var ct = TestContext.Current.CancellationToken;
        var lpar = new PseriesLpar(new LparSpec { MemoryBytes = 2UL << 30, Cpus = 2, Seed = 5 });
        var k1 = lpar.Boot();
        var added = new Fadump.Machine.MemoryRange(4UL << 30, 1UL << 30);
        k1.HotAddMemory(added);
        Assert.True(lpar.Crash(CrashKind.Panic));
        using var dir = new RealTool.TempDir();
        string file = dir.File("vmcore");
        using var vmcore = DumpFile.Open(lpar.Kernel!.Files.OpenRead("/proc/vmcore"));
        DumpSaver.Save(vmcore, file, new SaveOptions { DumpLevel = 31, Compression = PageCompression.Zlib, Threads = 2 }, ct);
        using var saved = DumpFile.Open(file);
        var page = new byte[A.PageSize];
        ulong first = added.Start >> A.PageShift, count = added.Size >> A.PageShift, dumped = 0;
        for (ulong pfn = first; pfn < first + count; pfn++)
        {
            if (saved.ReadPage(pfn, page) == PageState.Dumped)
            {
                dumped++;
            }
        }

        // The memmap at the start of the range is kept (PG_reserved); the workload's free, cache and user pages go.
        Assert.Equal(PageState.Dumped, saved.ReadPage(first, page));
        Assert.InRange(dumped, 2UL, count / 2);
    }
}
