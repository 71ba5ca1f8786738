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
    private const ulong PgLru = 1 << 4, PgSlab = 1 << 9, PgSwapcache = 1 << 10, PgPrivate = 1 << 13, PgHead = 1 << 16, PgSwapbacked = 1 << 19, PgHwpoison = 1 << 23;
    private const ulong Mapping = 0xffff9c4a40123440;

    private static (IDump Dump, ulong Base) Build()
    {
        var x = new SyntheticX86_64();
        x.MapVmemmap();
        var k = x.Kernel;
        var i = k.Info;
        i.AddOffset("page.lru", 8);
        i.AddOffset("page._mapcount", 48);
        i.AddOffset("page.private", 40);
        i.AddOffset("page.compound_dtor", 16);
        i.AddOffset("page.compound_order", 17);
        i.AddOffset("page.compound_head", 8);
        i.AddLength("zone.free_area", 11);
        i.AddNumber("PG_lru", 4);
        i.AddNumber("PG_private", 13);
        i.AddNumber("PG_swapcache", 10);
        i.AddNumber("PG_swapbacked", 19);
        i.AddNumber("PG_slab", 9);
        i.AddNumber("PG_hwpoison", 23);
        i.AddNumber("PG_head_mask", 1 << 16);
        i.AddNumber("PAGE_BUDDY_MAPCOUNT_VALUE", -129);
        i.AddNumber("HUGETLB_PAGE_DTOR", 2);
        i.AddNumber("PAGE_OFFLINE_MAPCOUNT_VALUE", -257);

        // 64 test pages, 64-aligned, each filled with non-zero data so that only the zero rule sees zeros.
        ulong va = x.AllocRam(64 * 4096, 64 * 4096);
        ulong b = (va - SyntheticX86_64.PageOffsetBase) / 4096;
        for (int p = 0; p < 64; p++)
        {
            k.Write(va + (ulong)(p * 4096), Enumerable.Repeat((byte)(p + 1), 4096).ToArray());
        }

        void Page(ulong pfn, ulong flags = 0, ulong mapping = 0, int mapcount = -1, ulong priv = 0, ulong head = 0)
        {
            ulong sp = SyntheticX86_64.VmemmapBase + (pfn * 64);
            k.WriteU64(sp, flags);
            k.WriteU64(sp + 8, head);
            k.WriteU64(sp + 24, mapping);
            k.WriteU64(sp + 40, priv);
            k.WriteU32(sp + 48, unchecked((uint)mapcount));
        }

        void Compound(ulong headPfn, int order, ulong flags, ulong mapping, byte dtor)
        {
            Page(headPfn, flags | PgHead, mapping);
            for (ulong t = 1; t < (1UL << order); t++)
            {
                Page(headPfn + t, head: SyntheticX86_64.VmemmapBase + (headPfn * 64) + 1);
            }

            ulong first = SyntheticX86_64.VmemmapBase + ((headPfn + 1) * 64);
            k.Write(first + 16, [dtor, (byte)order]);
        }

        Page(b + 0, mapcount: -129, priv: 3);                                   // free: 8 pages
        Page(b + 8, PgLru, Mapping);                                              // cache
        Page(b + 9, PgLru | PgPrivate, Mapping);                                  // private cache
        Page(b + 10, PgLru | PgSwapbacked, Mapping | 1);                          // anon
        Page(b + 11, PgSlab, Mapping | 1);                                        // slab: never user
        Page(b + 12, PgSwapcache | PgSwapbacked, Mapping);                        // swap cache: cache
        Page(b + 13, PgSwapcache, Mapping);                                       // PG_owner_priv_1 alone: kept
        Compound(b + 16, 2, 0, Mapping, 2);                                       // hugetlbfs: 4 pages user
        Page(b + 20, PgHwpoison);                                                 // hwpoison: any level
        Page(b + 21, mapcount: -257);                                             // offline: any level
        Compound(b + 24, 3, PgLru | PgSwapbacked, Mapping | 1, 0);                // anon THP: 8 pages
        Page(b + 40, mapcount: -129, priv: 11);                                   // invalid order: kept
        Page(b + 41, PgSlab, mapcount: -129, priv: 0);                            // slab is never buddy
        Compound(b + 48, 4, PgLru, Mapping, 0);                                   // cache folio: 16 pages
        return (k.Open(), b);
    }

    public static TheoryData<int, int[]> Levels => new()
    {
        { 0, [20, 21] },
        { 2, [8, 12, 20, 21, .. Enumerable.Range(48, 16)] },
        { 4, [8, 9, 12, 20, 21, .. Enumerable.Range(48, 16)] },
        { 8, [10, 16, 17, 18, 19, 20, 21, .. Enumerable.Range(24, 8)] },
        { 16, [0, 1, 2, 3, 4, 5, 6, 7, 20, 21] },
        { 30, [.. Enumerable.Range(0, 11), 12, 16, 17, 18, 19, 20, 21, .. Enumerable.Range(24, 8), .. Enumerable.Range(48, 16)] },
    };

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
