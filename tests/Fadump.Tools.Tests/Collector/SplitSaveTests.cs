using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;
using Fadump.Tools.Collector;
using Fadump.Tools.Tests.Synthetic;
using static System.FormattableString;

namespace Fadump.Tools.Tests.Collector;

/// <summary>DumpSaver.SaveSplit, SplitPlan and KdumpReassembler on a small synthetic x86_64 dump (no real tools).</summary>
public sealed class SplitSaveTests
{
    private const int Pages = 1024;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>4 MiB of RAM: every third page zero, the others random or text.</summary>
    private static IDump Synthetic()
    {
        var x = new SyntheticX86_64();
        x.MapVmemmap();
        var k = x.Kernel;
        k.Info.AddNumber("PG_lru", 4);
        var rng = new Random(11);
        for (int pfn = 0; pfn < Pages; pfn++)
        {
            var page = k.Ram.AsSpan(pfn * 4096, 4096);
            if (pfn % 3 == 0 || page.ContainsAnyExcept((byte)0))
            {
                continue;
            }

            if (pfn % 2 == 0)
            {
                rng.NextBytes(page);
            }
            else
            {
                System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat($"page {pfn}; ", 1000)).AsSpan(0, 4096), page);
            }
        }

        return k.Open();
    }

    private static SaveOptions Options(int level, PageCompression c) => new()
    {
        DumpLevel = level,
        Compression = c,
        Threads = 2,

        // 16 pages a splitblock: the 4 MiB dump is cut in many places.
        SplitBlockBytes = 16 * 4096,
    };

    [Theory]
    [InlineData(0, PageCompression.None, 2)]
    [InlineData(1, PageCompression.Zlib, 3)]
    [InlineData(1, PageCompression.Lzo, 5)]
    [InlineData(0, PageCompression.Zstd, 4)]
    public void Split_set_reads_back_page_for_page_as_the_unsplit_save(int level, PageCompression c, int files)
    {
        using var input = Synthetic();
        using var dir = new TempDir();
        string whole = dir.File("whole");
        var paths = Enumerable.Range(1, files).Select(i => dir.File($"part{i}")).ToList();
        var rw = DumpSaver.Save(input, whole, Options(level, c), Ct);
        var rs = DumpSaver.SaveSplit(input, paths, Options(level, c), Ct);
        Assert.False(rs.Incomplete, rs.Error);
        Assert.Equal(rw.DumpedPages, rs.DumpedPages);
        Assert.Equal(rw.TotalPages, rs.TotalPages);
        Assert.Equal(rw.ExcludedByClass[PageClassNames.Zero], rs.ExcludedByClass[PageClassNames.Zero]);
        Assert.Equal(files, rs.SplitFiles!.Count);
        foreach (var p in paths)
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(p));
        }

        using var one = KdumpCompressedDump.Open(whole);
        using var set = KdumpSplitSet.Open(paths);
        Assert.Empty(set.MissingPfnRanges);
        Assert.False(set.IsIncomplete);
        ulong expect = 0;
        var header0 = File.ReadAllBytes(paths[0]).AsSpan(0, 464).ToArray();
        foreach (var (part, i) in set.Parts.Select((p, i) => (p, i)))
        {
            // Same disk_dump_header in every file (makedumpfile --reassemble compares them byte for byte).
            Assert.Equal(header0, File.ReadAllBytes(part.Path).AsSpan(0, 464).ToArray());
            Assert.True(part.IsSplit);
            Assert.Equal(expect, part.StartPfn);
            expect = part.EndPfn;
            Assert.Equal(rs.SplitFiles[i].StartPfn, part.StartPfn);
            Assert.Equal(rs.SplitFiles[i].EndPfn, part.EndPfn);
            Assert.Equal(one.DumpedPageCount, part.DumpedPageCount);
        }

        Assert.Equal(one.MaxPfn, expect);
        Assert.True(set.Parts.Count(p => p.HeldPageCount > 0) >= 2, "the pages are divided among the files");
        Assert.Equal(one.DumpedPageCount, set.DumpedPageCount);
        Assert.Equal(set.DumpedPageCount, set.Parts.Aggregate(0UL, (n, p) => n + p.HeldPageCount));

        var a = new byte[4096];
        var b = new byte[4096];
        for (ulong pfn = 0; pfn < one.MaxPfn + 2; pfn++)
        {
            var sa = one.ReadPage(pfn, a);
            var sb = set.ReadPage(pfn, b);
            Assert.True(sa == sb, Invariant($"PFN 0x{pfn:x}: {sa} unsplit, {sb} in the set"));
            Assert.True(a.AsSpan().SequenceEqual(b), Invariant($"PFN 0x{pfn:x}: the bytes differ"));
        }
    }

    [Theory]
    [InlineData(0, PageCompression.Lzo)]
    [InlineData(1, PageCompression.Zlib)]
    public void Reassembled_set_is_byte_identical_to_the_unsplit_save(int level, PageCompression c)
    {
        // The synthetic dump's PT_LOADs end on page boundaries, so makedumpfile's cyclic and one-cycle 1st
        // bitmaps agree and the reassembled file is the unsplit save, byte for byte.
        using var input = Synthetic();
        using var dir = new TempDir();
        string whole = dir.File("whole"), joined = dir.File("joined");
        var paths = new[] { dir.File("a"), dir.File("b"), dir.File("c") };
        DumpSaver.Save(input, whole, Options(level, c), Ct);
        DumpSaver.SaveSplit(input, paths, Options(level, c), Ct);
        using (var set = KdumpSplitSet.Open(paths.Reverse()))
        using (var fs = new FileStream(joined, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            var r = KdumpReassembler.Reassemble(set, new FileSink(fs.SafeFileHandle), ct: Ct);
            Assert.False(r.Incomplete);
        }

        Assert.Equal(File.ReadAllBytes(whole), File.ReadAllBytes(joined));
    }

    [Fact]
    public void Reassembly_refuses_a_set_with_a_file_missing()
    {
        using var input = Synthetic();
        using var dir = new TempDir();
        var paths = new[] { dir.File("a"), dir.File("b"), dir.File("c") };
        DumpSaver.SaveSplit(input, paths, Options(1, PageCompression.Zlib), Ct);
        using var set = KdumpSplitSet.Open([paths[0], paths[2]]);
        var (s, e) = set.MissingPfnRanges.Single();
        using var sink = new MemorySink();
        var ex = Assert.Throws<DumpFormatException>(() => KdumpReassembler.Reassemble(set, sink, ct: Ct));
        Assert.Contains(Invariant($"no file of the split set holds PFNs [0x{s:x}, 0x{e:x}): a file of the set is missing"), ex.Message);
    }

    [Fact]
    public void A_file_that_reaches_the_size_limit_is_kept_flagged_and_the_set_reads_as_incomplete()
    {
        using var input = Synthetic();
        using var dir = new TempDir();
        var paths = new[] { dir.File("a"), dir.File("b") };
        var r = DumpSaver.SaveSplit(input, paths, Options(0, PageCompression.None) with { SizeLimit = 1L << 20 }, Ct);
        Assert.True(r.Incomplete);
        Assert.StartsWith(paths[0] + ": ", r.Error);
        Assert.Contains(r.SplitFiles!, f => f.Incomplete);
        using var set = KdumpSplitSet.Open(paths);
        Assert.True(set.IsIncomplete);
        foreach (var f in r.SplitFiles!)
        {
            using var part = KdumpCompressedDump.Open(f.Path);
            Assert.Equal(f.Incomplete, part.IsIncomplete);
            Assert.True(new FileInfo(f.Path).Length <= 1L << 20);
        }

        // No temporary file is left behind.
        Assert.Equal(paths.Order(), Directory.GetFiles(dir.Path).Order());
    }

    [Fact]
    public void A_set_that_does_not_fit_is_written_again_at_the_next_level()
    {
        using var input = Synthetic();
        using var dir = new TempDir();
        var paths = new[] { dir.File("a"), dir.File("b") };
        long Largest(int level)
        {
            DumpSaver.SaveSplit(input, paths, Options(level, PageCompression.Zlib) with { Overwrite = true }, Ct);
            return paths.Max(p => new FileInfo(p).Length);
        }

        // Level 0 compresses each zero page on its own, level 1 shares one: a limit between the two sizes.
        long at0 = Largest(0), at1 = Largest(1);
        Assert.True(at0 > at1, $"{at0} <= {at1}");
        var r = DumpSaver.SaveSplit(input, paths, Options(0, PageCompression.Zlib) with { SizeLimit = (at0 + at1) / 2, FallbackLevels = [1] }, Ct);
        Assert.False(r.Incomplete, r.Error);
        Assert.Equal(1, r.DumpLevelUsed);
        Assert.Contains(r.Warnings, w => w.StartsWith("dump level 0 did not fit", StringComparison.Ordinal));
        using var set = KdumpSplitSet.Open(paths);
        Assert.False(set.IsIncomplete);
        Assert.Equal(1, set.DumpLevel);
        Assert.Equal(paths.Order(), Directory.GetFiles(dir.Path).Order());
    }

    [Fact]
    public void Split_refuses_one_file_and_the_same_file_twice()
    {
        using var input = Synthetic();
        using var dir = new TempDir();
        Assert.Throws<ArgumentException>(() => DumpSaver.SaveSplit(input, [dir.File("a")], Options(1, PageCompression.None), Ct));
        var same = Assert.Throws<ArgumentException>(() => DumpSaver.SaveSplit(input, [dir.File("a"), dir.File("./a")], Options(1, PageCompression.None), Ct));
        Assert.StartsWith("the files of a split set must be different files", same.Message);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    /// <summary>calculate_end_pfn_by_splitblock: whole splitblocks until the file holds dumped/files pages; a partial last block counts as empty.</summary>
    [Theory]
    [InlineData(100UL, 10UL, 3, "0-40 40-80 80-100")]
    [InlineData(95UL, 10UL, 3, "0-40 40-80 80-95")]
    [InlineData(20UL, 10UL, 4, "0-10 10-20 20-20 20-20")]
    [InlineData(25UL, 10UL, 2, "0-20 20-25")]
    [InlineData(1000UL, 1000UL, 2, "0-1000 1000-1000")]
    public void Ranges_follow_makedumpfile_s_splitblocks(ulong maxPfn, ulong perBlock, int files, string expected)
    {
        var all = new RangePfnBitmap([new PhysicalRange(0, maxPfn * 4096)], 4096);
        var ranges = SplitPlan.Compute(all, maxPfn, files, perBlock, Ct);
        Assert.Equal(expected, string.Join(' ', ranges.Select(r => Invariant($"{r.Start}-{r.End}"))));
    }

    [Fact]
    public void Ranges_weigh_the_dumped_pages_not_the_memory()
    {
        // Dumped pages only in [0, 10) and [90, 100): with 2 files the first needs 10 (20 / 2) and block 0 holds
        // them, so it ends at 10 and the second takes the rest; a third file then gets nothing.
        var bits = RangePfnBitmap.FromPfnRuns([(0UL, 10UL), (90UL, 100UL)]);
        Assert.Equal("0-10 10-100", string.Join(' ', SplitPlan.Compute(bits, 100, 2, 10, Ct).Select(r => Invariant($"{r.Start}-{r.End}"))));
        Assert.Equal("0-10 10-100 100-100", string.Join(' ', SplitPlan.Compute(bits, 100, 3, 10, Ct).Select(r => Invariant($"{r.Start}-{r.End}"))));
    }
}
