using System.Diagnostics;
using System.Globalization;
using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Formats.Elf;
using Fadump.Formats.Kdump;
using Fadump.Tools.Collector;

namespace Fadump.Interop.Tests;

/// <summary>
/// Debian's makedumpfile 1.7.2 and `fadump save` on the same x86_64 vmcore at every dump level 0–31: the same
/// page counts class by class and the same page sets, makedumpfile's known double counts aside.
/// </summary>
internal static class MakedumpfileLevels
{
    /// <summary>
    /// Pages makedumpfile counts twice in "Original pages" (and so in "Remaining pages"): its
    /// create_bitmap_from_memhole decrements the hole count for every page of every PT_LOAD, and a real
    /// /proc/vmcore (kexec-tools' elfcorehdr) has the kernel text mapping as a PT_LOAD of its own, over
    /// physical memory a direct-map PT_LOAD holds too. Its bitmaps set each PFN once.
    /// </summary>
    public static ulong PagesCoveredTwice(ElfCoreFile elf, ulong pageSize)
    {
        ulong all = elf.Loads.Aggregate(0UL, (n, l) => n + ((l.PhysicalEnd + pageSize - 1) / pageSize) - (l.PhysicalAddress / pageSize));
        var once = new RangePfnBitmap(elf.Loads.Select(l => new PhysicalRange(l.PhysicalAddress, l.PhysicalEnd)), (int)pageSize);
        ulong maxPfn = elf.Loads.Max(l => (l.PhysicalEnd + pageSize - 1) / pageSize);
        var bits = new byte[(maxPfn + 7) / 8];
        once.Fill(0, bits);
        return all - bits.Aggregate(0UL, (n, b) => n + (ulong)System.Numerics.BitOperations.PopCount(b));
    }

    /// <summary>PFNs makedumpfile's exclude_nodata_pages leaves out: from the page of p_paddr + p_filesz to the end of the segment's last page.</summary>
    public static ulong NoDataPages(ElfCoreFile elf, ulong pageSize) =>
        elf.Loads.Aggregate(0UL, (n, l) => n + ((l.PhysicalEnd + pageSize - 1) / pageSize) - ((l.PhysicalAddress + l.FileSize) / pageSize));

    /// <summary>Runs both at each level, asserts they agree, and returns the table of counts and seconds.</summary>
    public static List<string> CompareEveryLevel(string vmcore, Func<string, string> file, CancellationToken ct)
    {
        using var input = DumpFile.Open(vmcore);
        var elf = ((ElfDump)input).Elf;
        ulong twice = PagesCoveredTwice(elf, 4096), noData = NoDataPages(elf, 4096);
        var table = new List<string> { "level  original(md)  excluded  zero  cache  cache_private  user  free  dumped  md-s  fadump-s" };
        for (int level = 0; level <= 31; level++)
        {
            string ours = file($"ours-{level}.kdump"), theirs = file($"md-{level}.kdump");
            var swMd = Stopwatch.StartNew();
            var md = RealTool.Run("makedumpfile", ["-f", "-l", "-d", level.ToString(CultureInfo.InvariantCulture), "--message-level", "16", vmcore, theirs], 300);
            double mdSeconds = swMd.Elapsed.TotalSeconds;
            Assert.True(md.ExitCode == 0, md.All);
            var swOurs = Stopwatch.StartNew();
            var r = DumpSaver.Save(input, ours, new SaveOptions { DumpLevel = level, Compression = PageCompression.Lzo, Threads = 2 }, ct);
            double oursSeconds = swOurs.Elapsed.TotalSeconds;
            var report = MakedumpfileReport.Parse(md.All);
            using var a = KdumpCompressedDump.Open(ours);
            using var b = KdumpCompressedDump.Open(theirs);

            Assert.Equal(b.MaxPfn, a.MaxPfn);
            Assert.Equal(report["Total pages"], r.MaxPfn);
            Assert.Equal(report["Original pages"], r.TotalPages + twice);
            Assert.Equal(report["Pages filled with zero"], r.ExcludedByClass[PageClassNames.Zero]);
            Assert.Equal(report["Non-private cache pages"], r.ExcludedByClass[PageClassNames.Cache]);
            Assert.Equal(report["Private cache pages"], r.ExcludedByClass[PageClassNames.CachePrivate]);
            Assert.Equal(report["User process data pages"], r.ExcludedByClass[PageClassNames.User] + r.ExcludedByClass[PageClassNames.Hugetlb]);
            Assert.Equal(report["Free pages"], r.ExcludedByClass[PageClassNames.Free]);
            Assert.Equal(report["Hwpoison pages"], r.ExcludedByClass[PageClassNames.Hwpoison]);
            Assert.Equal(report["Offline pages"], r.ExcludedByClass[PageClassNames.Offline]);
            // makedumpfile counts the no-data page as remaining although it does not dump it (no class excludes it).
            Assert.Equal(report["Remaining pages"], r.DumpedPages + twice + noData);
            // The page sets, not only their sizes: both bitmaps.
            Assert.Equal(b.DumpedPageCount, a.DumpedPageCount);
            Assert.Equal(b.MemoryRanges(), a.MemoryRanges());
            Assert.Equal(b.DumpedRanges(), a.DumpedRanges());
            table.Add(FormattableString.Invariant(
                $"{level,5}  {report["Original pages"],12}  {report["Excluded pages"],8}  {r.ExcludedByClass[PageClassNames.Zero],4}  {r.ExcludedByClass[PageClassNames.Cache],5}  {r.ExcludedByClass[PageClassNames.CachePrivate],13}  {r.ExcludedByClass[PageClassNames.User],4}  {r.ExcludedByClass[PageClassNames.Free],4}  {a.DumpedPageCount,6}  {mdSeconds,4:F1}  {oursSeconds,8:F1}"));
            if (level == 31)
            {
                // Every class the workload makes is there to be told apart.
                Assert.All([PageClassNames.Zero, PageClassNames.Cache, PageClassNames.CachePrivate, PageClassNames.User, PageClassNames.Free],
                    c => Assert.True(r.ExcludedByClass[c] > 0, c));
            }

            System.IO.File.Delete(ours);
            System.IO.File.Delete(theirs);
        }

        return table;
    }
}
