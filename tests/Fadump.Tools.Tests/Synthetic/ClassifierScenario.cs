using Fadump.Formats;

namespace Fadump.Tools.Tests.Synthetic;

/// <summary>
/// makedumpfile's page classification rules on a synthetic x86_64 kernel (6.1 struct page layout, SPARSEMEM
/// vmemmap mapped by page tables): 64 test pages, one struct page per rule (free buddy block, page cache,
/// private cache, anon, slab, swap cache, hugetlbfs, hwpoison, offline, anon THP, cache folio, ...), each
/// page filled with non-zero data. Shared by the classifier's unit tests and the real-makedumpfile check.
/// </summary>
internal static partial class ClassifierScenario
{
    private const ulong PgLru = 1 << 4, PgSlab = 1 << 9, PgSwapcache = 1 << 10, PgPrivate = 1 << 13, PgHead = 1 << 16, PgSwapbacked = 1 << 19, PgHwpoison = 1 << 23;
    private const ulong Mapping = 0xffff9c4a40123440;

    /// <summary>The kernel and the PFN of its first test page.</summary>
    public static (SyntheticKernel Kernel, ulong Base) BuildKernel()
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
        return (k, b);
    }

    public static (IDump Dump, ulong Base) Build()
    {
        var (k, b) = BuildKernel();
        return (k.Open(), b);
    }
}
