using Fadump.Formats;
using Fadump.Tools.Inspect;
using VmcoreInfoNote = Fadump.Formats.VmcoreInfo.VmcoreInfo;

namespace Fadump.Tools.Collector;

/// <summary>
/// struct page as VMCOREINFO describes it, and the page-flag numbers and page-type values that page
/// classification needs (makedumpfile: the OFFSET/NUMBER tables read by read_vmcoreinfo). Optional members are
/// null when the kernel does not export them; the rules that need them are then off, as in makedumpfile.
/// </summary>
internal sealed class StructPageLayout
{
    private StructPageLayout()
    {
    }

    public int Size { get; private init; }

    public int Flags { get; private init; }

    public int Refcount { get; private init; }

    public int Mapping { get; private init; }

    public int? Mapcount { get; private init; }

    public int? Private { get; private init; }

    public int? CompoundHead { get; private init; }

    /// <summary>Offset of the compound order byte from the head page's struct page (it lives in the first tail).</summary>
    public int? OrderFromHead { get; private init; }

    /// <summary>Offset of the compound destructor byte from the head page's struct page (first tail).</summary>
    public int? DtorFromHead { get; private init; }

    public ulong PgLru { get; private init; }

    public ulong PgPrivate { get; private init; }

    public ulong PgSwapcache { get; private init; }

    /// <summary>PG_swapbacked mask, or 0 before 4.10 (then PG_swapcache alone means swap cache).</summary>
    public ulong PgSwapbacked { get; private init; }

    public ulong PgSlab { get; private init; }

    public ulong PgHwpoison { get; private init; }

    /// <summary>NUMBER(PG_head_mask): the compound head flag.</summary>
    public ulong PgHeadMask { get; private init; }

    /// <summary>PG_buddy mask (kernels before 4.x kept buddy in flags); 0 when absent.</summary>
    public ulong PgBuddy { get; private init; }

    public int? BuddyMapcount { get; private init; }

    public int? OfflineMapcount { get; private init; }

    public int? SlabMapcount { get; private init; }

    public int? HugetlbMapcount { get; private init; }

    public long? HugetlbDtor { get; private init; }

    /// <summary>LENGTH(zone.free_area): a buddy order at or above it is invalid (makedumpfile: "Invalid free page order").</summary>
    public long? FreeAreaLength { get; private init; }

    public bool BigEndian { get; private init; }

    /// <summary>True when free pages can be told from struct page (page_is_buddy_v2/v3 of makedumpfile).</summary>
    public bool CanFindBuddy => PgBuddy != 0 || (BuddyMapcount is not null && Mapcount is not null && Private is not null);

    /// <summary>Reads the layout, or null with the reason when VMCOREINFO lacks what classification needs.</summary>
    public static StructPageLayout? TryRead(VmcoreInfoNote info, DumpMachine machine, out string? problem)
    {
        problem = null;
        long? size = info.Size("page");
        long? flags = info.Offset("page.flags");
        long? refcount = info.Offset("page._refcount") ?? info.Offset("page._count");
        long? mapping = info.Offset("page.mapping");
        long? pgLru = info.Number("PG_lru");
        if (size is not (> 0 and <= 4096) || flags is null || refcount is null || mapping is null || pgLru is null)
        {
            problem = "VMCOREINFO lacks SIZE(page), OFFSET(page.flags|_refcount|mapping) or NUMBER(PG_lru)";
            return null;
        }

        int s = (int)size.Value;
        int? Field(string name, int width)
        {
            long? v = info.Offset(name);
            return v is { } o && o >= 0 && o + width <= s ? (int)o : null;
        }

        ulong Bit(string name) => info.Number(name) is { } b && b is >= 0 and < 64 ? 1UL << (int)b : 0;
        int? MapcountValue(string name) => info.Number(name) is { } v && v is >= int.MinValue and <= int.MaxValue ? (int)v : null;

        if (!Fits(flags.Value, 8, s) || !Fits(refcount.Value, 4, s) || !Fits(mapping.Value, 8, s))
        {
            problem = "VMCOREINFO struct page offsets do not fit SIZE(page)";
            return null;
        }

        // Compound order and destructor: bytes of the first tail page (4.16+: unsigned char; the kernel
        // exports their offsets inside struct page). Folio kernels (6.3+) export folio._folio_order instead,
        // an offset from the head.
        var version = KernelVersion.Parse(info.OsRelease);
        int? orderFromHead = info.Offset("page.compound_order") is { } co && co >= 0 && co < s ? s + (int)co
            : info.Offset("folio._folio_order") is { } fo && fo >= s && fo < 2L * s ? (int)fo : null;
        int? dtorFromHead = info.Offset("page.compound_dtor") is { } cd && cd >= 0 && cd < s ? s + (int)cd : null;
        if (version is not null && version < new Version(4, 4))
        {
            // Before 4.4 the order and destructor were whole words in lru: not supported, as compound pages
            // then also had no compound_head bit.
            orderFromHead = dtorFromHead = null;
        }

        return new StructPageLayout
        {
            Size = s,
            Flags = (int)flags.Value,
            Refcount = (int)refcount.Value,
            Mapping = (int)mapping.Value,
            Mapcount = Field("page._mapcount", 4),
            Private = Field("page.private", 8),
            CompoundHead = Field("page.compound_head", 8),
            OrderFromHead = orderFromHead,
            DtorFromHead = dtorFromHead,
            PgLru = Bit("PG_lru"),
            PgPrivate = Bit("PG_private"),
            PgSwapcache = Bit("PG_swapcache"),
            PgSwapbacked = Bit("PG_swapbacked"),
            PgSlab = Bit("PG_slab"),
            PgHwpoison = Bit("PG_hwpoison"),
            PgHeadMask = info.Number("PG_head_mask") is { } hm && hm > 0 ? (ulong)hm : 0,
            PgBuddy = Bit("PG_buddy"),
            BuddyMapcount = MapcountValue("PAGE_BUDDY_MAPCOUNT_VALUE"),
            OfflineMapcount = MapcountValue("PAGE_OFFLINE_MAPCOUNT_VALUE"),
            SlabMapcount = MapcountValue("PAGE_SLAB_MAPCOUNT_VALUE"),
            HugetlbMapcount = MapcountValue("PAGE_HUGETLB_MAPCOUNT_VALUE"),
            HugetlbDtor = info.Number("HUGETLB_PAGE_DTOR"),
            FreeAreaLength = info.Length("zone.free_area"),
            BigEndian = machine.BigEndian,
        };
    }

    /// <summary>
    /// Whether _mapcount holds a page type. Older kernels store the whole value (PAGE_BUDDY_MAPCOUNT_VALUE =
    /// -129 on 6.1: ~PG_buddy); since 6.12 the type is the top byte (value = type &lt;&lt; 24) and the rest is free.
    /// </summary>
    public static bool IsPageType(uint mapcount, int? value)
    {
        if (value is not { } v)
        {
            return false;
        }

        return (v & 0xffffff) == 0 ? mapcount >> 24 == (uint)v >> 24 : mapcount == (uint)v;
    }

    private static bool Fits(long offset, int width, int size) => offset >= 0 && offset + width <= size;
}
