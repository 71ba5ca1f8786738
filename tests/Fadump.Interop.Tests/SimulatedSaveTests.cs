using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Formats.Kdump;
using Fadump.Kernel;
using Fadump.Kernel.Workload;
using Fadump.Tools.Collector;
using Fadump.Kernel.Platforms;

namespace Fadump.Interop.Tests;

/// <summary>
/// `fadump save` on the simulated ppc64le LPAR's /proc/vmcore (64 KiB pages, SPARSEMEM_EXTREME, vmemmap through
/// vmemmap_list): the pages excluded are exactly those the simulator's workload classes imply.
/// </summary>
public sealed class SimulatedSaveTests
{
    private static (PseriesLpar Lpar, IDump Dump) Crashed(ulong memory)
    {
        var lpar = new PseriesLpar(new LparSpec { MemoryBytes = memory, Cpus = 2 });
        lpar.Boot();
        Assert.True(lpar.Crash(CrashKind.Panic));
        return (lpar, DumpFile.Open(lpar.Kernel!.Files.OpenRead("/proc/vmcore")));
    }

    [Fact]
    public void Level_30_excludes_what_the_workload_classes_imply()
    {
        var (lpar, dump) = Crashed(1UL << 30);
        using var _ = dump;
        var image = lpar.Boots[0].Image!;
        using var dir = new RealTool.TempDir();
        string file = dir.File("vmcore");
        var r = DumpSaver.Save(dump, file, new SaveOptions { DumpLevel = 30, Compression = PageCompression.Lzo, Threads = 2 }, TestContext.Current.CancellationToken);
        using var saved = KdumpCompressedDump.Open(file);

        // makedumpfile's walk over the simulator's struct pages: a free buddy head (order 4, at the start of a
        // 16-page block) takes its block; page cache, private page cache and anonymous pages go one by one;
        // kernel text/data, slab and zero pages stay (zero pages are level 1).
        var expected = new Dictionary<PageClass, ulong>();
        ulong excluded = 0;
        for (ulong pfn = 0; pfn < saved.MaxPfn;)
        {
            if (saved.GetPageState(pfn) == PageState.NotPresent)
            {
                pfn++;
                continue;
            }

            var cls = image.ClassOf(pfn);
            ulong n = cls == PageClass.Free && pfn % WorkloadModel.BlockPages == 0 ? (ulong)WorkloadModel.BlockPages : 1;
            bool excl = cls is PageClass.PageCache or PageClass.PageCachePrivate or PageClass.Anon || n > 1;
            for (ulong p = pfn; p < pfn + n && p < saved.MaxPfn; p++)
            {
                var state = saved.GetPageState(p);
                if (state == PageState.NotPresent)
                {
                    continue;
                }

                Assert.True(excl == (state == PageState.Excluded), FormattableString.Invariant($"PFN 0x{p:x} ({cls}): expected {(excl ? "excluded" : "dumped")}, got {state}"));
                if (excl)
                {
                    expected[cls] = expected.GetValueOrDefault(cls) + 1;
                    excluded++;
                }
            }

            pfn += n;
        }

        Assert.Equal(expected.GetValueOrDefault(PageClass.PageCache), r.ExcludedByClass[PageClassNames.Cache]);
        Assert.Equal(expected.GetValueOrDefault(PageClass.PageCachePrivate), r.ExcludedByClass[PageClassNames.CachePrivate]);
        Assert.Equal(expected.GetValueOrDefault(PageClass.Anon), r.ExcludedByClass[PageClassNames.User]);
        Assert.Equal(expected.GetValueOrDefault(PageClass.Free), r.ExcludedByClass[PageClassNames.Free]);
        Assert.True(expected.GetValueOrDefault(PageClass.Free) > 0 && expected.GetValueOrDefault(PageClass.Anon) > 0);
        Assert.Equal(r.TotalPages - excluded, r.DumpedPages);
        Assert.Equal(65536, saved.PageSize);
    }

    [Fact]
    public void Level_31_adds_the_zero_pages_and_reads_back_identical_pages()
    {
        var (lpar, dump) = Crashed(1UL << 30);
        using var _d = dump;
        var image = lpar.Boots[0].Image!;
        using var dir = new RealTool.TempDir();
        string file = dir.File("vmcore");
        var r = DumpSaver.Save(dump, file, new SaveOptions { DumpLevel = 31, Compression = PageCompression.Zstd }, TestContext.Current.CancellationToken);
        using var saved = KdumpCompressedDump.Open(file);

        // The oracle is the simulator's page classes (as at level 30) and the source's bytes, not the saver's
        // counts: a page of an excluded class is excluded; every other page is kept with the source's bytes,
        // and those filled with zeros are the zero class (kdump keeps them as the one shared zero page).
        var byClass = new HashSet<ulong>();
        for (ulong pfn = 0; pfn < saved.MaxPfn;)
        {
            var cls = image.ClassOf(pfn);
            ulong n = cls == PageClass.Free && pfn % WorkloadModel.BlockPages == 0 ? (ulong)WorkloadModel.BlockPages : 1;
            if (cls is PageClass.PageCache or PageClass.PageCachePrivate or PageClass.Anon || n > 1)
            {
                for (ulong p = pfn; p < pfn + n; p++)
                {
                    byClass.Add(p);
                }
            }

            pfn += n;
        }

        var a = new byte[65536];
        var b = new byte[65536];
        ulong kept = 0, zero = 0, present = 0;
        for (ulong pfn = 0; pfn < saved.MaxPfn; pfn++)
        {
            var state = saved.ReadPage(pfn, a);
            if (dump.ReadPage(pfn, b) != PageState.Dumped)
            {
                Assert.True(state == PageState.NotPresent, FormattableString.Invariant($"PFN 0x{pfn:x}: not in the source, {state} in the output"));
                continue;
            }

            present++;
            if (byClass.Contains(pfn))
            {
                Assert.True(state == PageState.Excluded, FormattableString.Invariant($"PFN 0x{pfn:x} ({image.ClassOf(pfn)}): expected excluded, got {state}"));
                continue;
            }

            Assert.True(state == PageState.Dumped, FormattableString.Invariant($"PFN 0x{pfn:x} ({image.ClassOf(pfn)}): expected kept, got {state}"));
            Assert.True(a.AsSpan().SequenceEqual(b), FormattableString.Invariant($"PFN 0x{pfn:x} differs from the source"));
            kept++;
            zero += b.AsSpan().ContainsAnyExcept((byte)0) ? 0UL : 1;
        }

        Assert.True(zero > 0 && kept > zero, $"{kept} kept, {zero} of them zero");
        Assert.Equal(present, r.TotalPages);
        Assert.Equal(zero, r.ExcludedByClass[PageClassNames.Zero]);
        Assert.Equal(kept - zero, r.DumpedPages);
    }
}
