using Fadump.Formats;
using Fadump.Formats.Kdump;
using Fadump.Tools.Collector;
using Fadump.Tools.Tests.Synthetic;

namespace Fadump.Tools.Tests.Collector;

/// <summary>
/// makedumpfile's page classification rules on a synthetic x86_64 kernel (6.1 struct page layout, SPARSEMEM
/// vmemmap mapped by page tables): one struct page per rule, then the dump bitmap of a save at each level.
/// </summary>
public sealed class PageClassifierTests
{
    private const ulong PgLru = 1 << 4, PgHead = 1 << 16;
    private const ulong Mapping = 0xffff9c4a40123440;

    private static (IDump Dump, ulong Base) Build() => ClassifierScenario.Build();

    public static TheoryData<int, int[]> Levels => ClassifierScenario.Levels;

    [Theory]
    [MemberData(nameof(Levels))]
    public void Excludes_exactly_the_pages_makedumpfile_excludes(int level, int[] excludedOffsets)
    {
        var (dump, b) = Build();
        using var _ = dump;
        using var dir = new TempDir();
        var r = DumpSaver.Save(dump, dir.File("out"), new SaveOptions { DumpLevel = level, Threads = 2 }, TestContext.Current.CancellationToken);
        using var outDump = KdumpCompressedDump.Open(dir.File("out"));
        var excluded = Enumerable.Range(0, 64).Where(o => outDump.GetPageState(b + (ulong)o) == PageState.Excluded).ToArray();
        Assert.Equal(excludedOffsets.Order(), excluded);
        Assert.Equal(r.TotalPages - r.DumpedPages, (ulong)excludedOffsets.Length + r.ExcludedByClass[PageClassNames.Zero]);
        Assert.False(r.Incomplete);
    }

    [Fact]
    public void Counts_each_class_under_its_name()
    {
        var (dump, _) = Build();
        using var d = dump;
        using var dir = new TempDir();
        var r = DumpSaver.Save(dump, dir.File("out"), new SaveOptions { DumpLevel = 31 }, TestContext.Current.CancellationToken);
        Assert.Equal(8UL, r.ExcludedByClass[PageClassNames.Free]);
        Assert.Equal(2UL + 16, r.ExcludedByClass[PageClassNames.Cache]);
        Assert.Equal(1UL, r.ExcludedByClass[PageClassNames.CachePrivate]);
        Assert.Equal(9UL, r.ExcludedByClass[PageClassNames.User]);
        Assert.Equal(4UL, r.ExcludedByClass[PageClassNames.Hugetlb]);
        Assert.Equal(1UL, r.ExcludedByClass[PageClassNames.Hwpoison]);
        Assert.Equal(1UL, r.ExcludedByClass[PageClassNames.Offline]);
        Assert.True(r.ExcludedByClass[PageClassNames.Zero] > 0);
        Assert.Equal(r.TotalPages, r.DumpedPages + r.ExcludedByClass.Values.Aggregate(0UL, (a, v) => a + v));
    }

    [Fact]
    public void A_compound_head_last_in_its_512_struct_page_read_keeps_order_zero()
    {
        // makedumpfile reads the order from the next cached struct page only when the head is not the last of
        // the 512 it read: an anon head at PFN 511 is excluded alone.
        var x = new SyntheticX86_64();
        x.MapVmemmap();
        var k = x.Kernel;
        k.Info.AddOffset("page.compound_order", 17);
        k.Info.AddOffset("page.compound_head", 8);
        k.Info.AddNumber("PG_lru", 4);
        k.Info.AddNumber("PG_head_mask", 1 << 16);
        ulong head = SyntheticX86_64.VmemmapBase + (511 * 64);
        k.WriteU64(head, PgHead | PgLru);
        k.WriteU64(head + 24, Mapping | 1);
        k.Write(head + 64 + 17, [1]);
        using var dump = k.Open();
        using var dir = new TempDir();
        var r = DumpSaver.Save(dump, dir.File("out"), new SaveOptions { DumpLevel = 8 }, TestContext.Current.CancellationToken);
        Assert.Equal(1UL, r.ExcludedByClass[PageClassNames.User]);
    }

    [Theory]
    [InlineData(0xffffff7fu, -129, true)]
    [InlineData(0xffffff7eu, -129, false)]
    [InlineData(0xf0000005u, unchecked((int)0xf0000000), true)]   // 6.12+: the type is the top byte
    [InlineData(0xf1000000u, unchecked((int)0xf0000000), false)]
    public void Page_types_match_whole_values_or_the_top_byte(uint mapcount, int value, bool expected) =>
        Assert.Equal(expected, StructPageLayout.IsPageType(mapcount, value));

    [Fact]
    public void Level_2_and_up_need_VMCOREINFO()
    {
        var x = new SyntheticX86_64();
        x.Kernel.WithVmcoreInfo = false;
        using var dump = x.Kernel.Open();
        using var dir = new TempDir();
        var e = Assert.Throws<DumpFormatException>(() => DumpSaver.Save(dump, dir.File("out"), new SaveOptions { DumpLevel = 2 }, TestContext.Current.CancellationToken));
        Assert.Contains("dump level 2", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.File("out")));
        Assert.False(DumpSaver.Save(dump, dir.File("out1"), new SaveOptions { DumpLevel = 1 }, TestContext.Current.CancellationToken).Incomplete);
    }
}
