using Xunit;
using Fadump.Formats.Compression;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;

namespace Fadump.Formats.Tests.Kdump;

public sealed class KdumpSplitSetTests
{
    private static KdumpCompressedDump Part(SyntheticMemory mem, ulong start, ulong end, string name, Func<KdumpWriterOptions, KdumpWriterOptions>? change = null)
    {
        var sink = new MemorySink();
        var options = mem.Options(31, PageCompression.Zlib, (start, end));
        var w = new KdumpCompressedWriter(sink, change is null ? options : change(options));
        mem.WritePages(w, start, end);
        w.Complete();
        return KdumpCompressedDump.Open(new MemorySource(sink.ToArray(), name));
    }

    [Theory]
    [InlineData("x86_64")]
    [InlineData("ppc64")]
    public void Two_files_by_PFN_range_read_as_one_dump(string machine)
    {
        var mem = SyntheticMemory.For(machine).WithLevel(31);
        using var set = KdumpSplitSet.Open([Part(mem, 4150, mem.MaxPfn, "b"), Part(mem, 0, 4150, "a")]);
        Assert.Equal("a, b", set.Path);
        Assert.Empty(set.MissingPfnRanges);
        Assert.False(set.IsIncomplete);
        Assert.Equal(mem.MaxPfn, set.MaxPfn);
        Assert.Equal(31, set.DumpLevel);
        Assert.Equal(SyntheticMemory.Release, set.VmcoreInfo!.OsRelease);
        Assert.True(set.Parts[0].IsSplit);
        Assert.Equal((0UL, 4150UL), (set.Parts[0].StartPfn, set.Parts[0].EndPfn));
        mem.AssertMatches(set);
    }

    [Fact]
    public void Each_file_alone_reports_the_other_files_pages_as_lost()
    {
        var mem = SyntheticMemory.For("x86_64").WithLevel(31);
        using var a = Part(mem, 0, 4150, "a");
        var page = new byte[4096];
        Assert.Equal(PageState.Dumped, a.ReadPage(4149, page));
        Assert.Equal(PageState.Lost, a.ReadPage(4150, page));
        Assert.Equal(PageState.Excluded, a.ReadPage(4154, page));    // 4154 % 7 == 3
        Assert.Equal(PageState.NotPresent, a.ReadPage(5000, page));
    }

    [Fact]
    public void A_missing_file_leaves_its_range_lost()
    {
        var mem = SyntheticMemory.For("x86_64").WithLevel(31);
        using var set = KdumpSplitSet.Open([Part(mem, 0, 4150, "a"), Part(mem, 8200, mem.MaxPfn, "c")]);
        Assert.Equal([(4150UL, 8200UL)], set.MissingPfnRanges);
        Assert.True(set.IsIncomplete);
        Assert.Equal(PageState.Lost, set.ReadPage(4151, new byte[4096]));
        Assert.Equal(PageState.Dumped, set.ReadPage(8201, new byte[4096]));
    }

    [Fact]
    public void Files_of_different_crashes_are_refused()
    {
        var mem = SyntheticMemory.For("x86_64").WithLevel(31);
        var e = Assert.Throws<DumpFormatException>(() => KdumpSplitSet.Open(
        [
            Part(mem, 0, 4150, "a"),
            Part(mem, 4150, mem.MaxPfn, "b", o => o with { Utsname = o.Utsname! with { Nodename = "other" } }),
        ]));
        Assert.Equal("b", e.FilePath);
        Assert.Equal(12, e.Offset);
        Assert.Contains("expected the same as a", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Overlapping_ranges_are_refused()
    {
        var mem = SyntheticMemory.For("x86_64").WithLevel(31);
        var e = Assert.Throws<DumpFormatException>(() => KdumpSplitSet.Open([Part(mem, 0, 4150, "a"), Part(mem, 4100, mem.MaxPfn, "b")]));
        Assert.Equal(4096 + 80, e.Offset);
        Assert.Contains("overlaps [0x0, 0x1036) of a: expected disjoint ranges", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_that_is_not_split_is_refused()
    {
        var mem = SyntheticMemory.For("x86_64").WithLevel(31);
        var whole = KdumpCompressedDump.Open(new MemorySource(mem.WriteKdump(), "whole"));
        var e = Assert.Throws<DumpFormatException>(() => KdumpSplitSet.Open([Part(mem, 0, 4150, "a"), whole]));
        Assert.Contains("split 0: expected 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DumpFile_opens_several_paths_as_a_split_set()
    {
        var mem = SyntheticMemory.For("ppc64le").WithLevel(31);
        using var dir = new TempDir();
        string a = dir.Write("a", mem.WriteKdump(31, PageCompression.Zlib, (0, 4150)));
        string b = dir.Write("b", mem.WriteKdump(31, PageCompression.Zlib, (4150, mem.MaxPfn)));
        using var dump = DumpFile.Open([b, a]);
        Assert.IsType<KdumpSplitSet>(dump);
        mem.AssertMatches(dump);
    }
}
