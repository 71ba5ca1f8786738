using System.Buffers;
using Fadump.Formats;
using Fadump.Tools.Inspect;

namespace Fadump.Tools.Collector;

/// <summary>Why a page was excluded; the index into <see cref="ClassCounts"/>.</summary>
internal enum ExcludedClass
{
    Zero,
    Cache,
    CachePrivate,
    User,
    Hugetlb,
    Free,
    Hwpoison,
    Offline,
}

/// <summary>Excluded-page counters, one per <see cref="ExcludedClass"/>.</summary>
internal sealed class ClassCounts
{
    private readonly ulong[] _counts = new ulong[PageClassNames.All.Count];

    public ulong this[ExcludedClass c]
    {
        get => _counts[(int)c];
        set => _counts[(int)c] = value;
    }

    public void Add(ClassCounts other)
    {
        for (int i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }
    }

    public ulong Total => _counts.Aggregate(0UL, (a, b) => a + b);

    public Dictionary<string, ulong> ToDictionary()
    {
        var d = new Dictionary<string, ulong>();
        for (int i = 0; i < _counts.Length; i++)
        {
            d[PageClassNames.All[i]] = _counts[i];
        }

        return d;
    }
}

/// <summary>
/// Page classification from struct page, as makedumpfile's __exclude_unnecessary_pages (1.7) does it: the
/// mem_map is read 512 struct pages at a time (PGMM_CACHED); for each RAM PFN, in this order:
/// compound tail (compound_head bit 0) → kept here, handled with its head;
/// free (dump level 16): PageBuddy (_mapcount == PAGE_BUDDY_MAPCOUNT_VALUE and not PG_slab, or PG_buddy),
/// 2^private pages at once (an order ≥ LENGTH(zone.free_area) is invalid and kept);
/// non-private cache (2): PG_lru or swap cache, not PG_private, not anonymous;
/// all cache (4): the same with PG_private;
/// user data (8): mapping &amp; PAGE_MAPPING_ANON, or a hugetlbfs head (compound_dtor == HUGETLB_PAGE_DTOR);
/// hwpoison (any level): PG_hwpoison; offline (any level): _mapcount == PAGE_OFFLINE_MAPCOUNT_VALUE.
/// A compound head is excluded with its 2^order pages (order from the first tail page, read only when the
/// head is not the last of the 512 cached struct pages, and ignored unless the head is aligned to it).
/// </summary>
internal sealed class PageClassifier
{
    /// <summary>PGMM_CACHED: makedumpfile's struct page cache, whose last entry never has its order read.</summary>
    public const int StructPagesPerRead = 512;

    /// <summary>Struct pages read at once here (a multiple of 512: the same pages are seen as with 512).</summary>
    private const int StructPagesPerIo = 8 * StructPagesPerRead;

    private const ulong PageMappingAnon = 1;

    private readonly KernelAddressSpace _kernel;
    private readonly StructPageLayout _page;
    private readonly MemMapRange[] _ranges;
    private readonly DumpLevel _level;
    private readonly bool _be;
    private long _unreadableStructPages;

    public PageClassifier(KernelAddressSpace kernel, StructPageLayout page, IReadOnlyList<MemMapRange> ranges, DumpLevel level)
    {
        _kernel = kernel;
        _page = page;
        _ranges = [.. ranges.OrderBy(r => r.StartPfn)];
        _level = level;
        _be = kernel.BigEndian;
    }

    /// <summary>
    /// Whether the mem_map scan is needed at this level (makedumpfile create_2nd_bitmap: levels 2, 4, 8, free
    /// pages through page_is_buddy, or any level when the kernel exports PG_hwpoison).
    /// </summary>
    public bool IsNeeded =>
        (_level & (DumpLevel.Cache | DumpLevel.CachePrivate | DumpLevel.UserData)) != 0
        || _page.PgHwpoison != 0
        || ((_level & DumpLevel.Free) != 0 && _page.CanFindBuddy);

    /// <summary>Struct pages that could not be read (their pages are kept).</summary>
    public long UnreadableStructPages => Interlocked.Read(ref _unreadableStructPages);

    public IReadOnlyList<MemMapRange> Ranges => _ranges;

    /// <summary>The kernel address space's <see cref="KernelAddressSpace.TranslationProblem"/>.</summary>
    public string? TranslationProblem => _kernel.TranslationProblem;

    public static PageClassifier? TryCreate(IDump dump, DumpLevel level, out string? problem)
    {
        problem = null;
        if (dump.VmcoreInfo is null)
        {
            problem = "the dump has no VMCOREINFO note";
            return null;
        }

        KernelAddressSpace kernel;
        try
        {
            kernel = KernelAddressSpace.Create(dump);
        }
        catch (DumpFormatException e)
        {
            problem = e.Message;
            return null;
        }

        var layout = StructPageLayout.TryRead(dump.VmcoreInfo, dump.Machine, out problem);
        if (layout is null)
        {
            return null;
        }

        var ranges = MemMap.TryFind(kernel, layout, dump.MaxPfn, out problem);
        return ranges is null ? null : new PageClassifier(kernel, layout, ranges, level);
    }

    /// <summary>
    /// Clears the bits of excluded PFNs in [first, end) of <paramref name="dump"/> (bit i = PFN first + i,
    /// first a multiple of 8), counting each cleared bit under its class. Only PFNs set in
    /// <paramref name="ram"/> are looked at (makedumpfile: is_in_segs). Ranges that start before first are not
    /// seen: callers start at boundaries aligned beyond the largest compound order.
    /// </summary>
    public void Classify(ulong first, ulong end, ReadOnlySpan<byte> ram, Span<byte> dump, ClassCounts counts)
    {
        int size = _page.Size;
        byte[] buf = ArrayPool<byte>.Shared.Rent(StructPagesPerIo * size);
        try
        {
            int lo = FirstRangeEndingAfter(first);
            for (int ri = lo; ri < _ranges.Length && _ranges[ri].StartPfn < end; ri++)
            {
                var r = _ranges[ri];
                ulong pfn = Math.Max(r.StartPfn, first);
                ulong stop = Math.Min(r.EndPfn, end);
                ulong cacheStart = 0, cacheEnd = 0;
                while (pfn < stop)
                {
                    if (!Test(ram, pfn - first))
                    {
                        pfn++;
                        continue;
                    }

                    if (pfn < cacheStart || pfn >= cacheEnd)
                    {
                        ulong index = pfn % StructPagesPerIo;
                        ulong n = Math.Min(StructPagesPerIo - index, stop - pfn);
                        int want = (int)n * size;
                        int got = _kernel.ReadVirtual(r.MemMap + ((pfn - r.StartPfn) * (ulong)size), buf.AsSpan(0, want));
                        ulong whole = (ulong)(got / size);
                        if (whole == 0)
                        {
                            Interlocked.Increment(ref _unreadableStructPages);
                            pfn++;
                            continue;
                        }

                        if (whole < n)
                        {
                            Interlocked.Add(ref _unreadableStructPages, (long)(n - whole));
                        }

                        cacheStart = pfn;
                        cacheEnd = pfn + whole;
                    }

                    pfn += Examine(pfn, buf.AsSpan((int)(pfn - cacheStart) * size), pfn + 1 < cacheEnd, first, end, dump, counts);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    /// <summary>Classifies one struct page; returns how many PFNs it accounts for (1, or 2^order when excluded as a whole).</summary>
    private ulong Examine(ulong pfn, ReadOnlySpan<byte> sp, bool nextCached, ulong first, ulong end, Span<byte> dump, ClassCounts counts)
    {
        var L = _page;
        ulong flags = Endian.U64(sp[L.Flags..], _be);
        ulong mapping = Endian.U64(sp[L.Mapping..], _be);
        ulong compoundHead = L.CompoundHead is { } ch ? Endian.U64(sp[ch..], _be) : 0;
        if ((compoundHead & 1) != 0)
        {
            // A tail page: excluded with its head, or kept (makedumpfile: "continue").
            return 1;
        }

        uint mapcount = L.Mapcount is { } mc ? Endian.U32(sp[mc..], _be) : 0;
        ulong priv = L.Private is { } pr ? Endian.U64(sp[pr..], _be) : 0;

        int order = 0;
        int dtor = 0;
        if (L.PgHeadMask != 0 && (flags & L.PgHeadMask) != 0 && pfn % StructPagesPerRead < StructPagesPerRead - 1 && nextCached)
        {
            if (L.OrderFromHead is { } of)
            {
                order = sp[of];
            }

            if (L.DtorFromHead is { } df)
            {
                dtor = sp[df];
            }

            if (order >= 64 || (pfn & ((1UL << order) - 1)) != 0)
            {
                order = 0; // invalid order
            }
        }

        bool slab = (flags & L.PgSlab) != 0 || StructPageLayout.IsPageType(mapcount, L.SlabMapcount);
        bool anon = (mapping & PageMappingAnon) != 0 && !slab;
        ulong nr = 1UL << order;
        ExcludedClass cls;

        if ((_level & DumpLevel.Free) != 0 && IsBuddy(flags, mapcount))
        {
            if ((L.FreeAreaLength is { } fal && priv >= (ulong)fal) || priv >= 64)
            {
                return 1; // "Invalid free page order": kept
            }

            nr = 1UL << (int)priv;
            cls = ExcludedClass.Free;
        }
        else if ((_level & DumpLevel.Cache) != 0 && IsCache(flags) && (flags & L.PgPrivate) == 0 && !anon)
        {
            cls = ExcludedClass.Cache;
        }
        else if ((_level & DumpLevel.CachePrivate) != 0 && IsCache(flags) && !anon)
        {
            cls = (flags & L.PgPrivate) != 0 ? ExcludedClass.CachePrivate : ExcludedClass.Cache;
        }
        else if ((_level & DumpLevel.UserData) != 0 && (anon || IsHugetlbHead(order, dtor, mapcount)))
        {
            cls = anon ? ExcludedClass.User : ExcludedClass.Hugetlb;
        }
        else if (L.PgHwpoison != 0 && (flags & L.PgHwpoison) != 0)
        {
            cls = ExcludedClass.Hwpoison;
        }
        else if (L.OfflineMapcount is not null && !slab && StructPageLayout.IsPageType(mapcount, L.OfflineMapcount))
        {
            cls = ExcludedClass.Offline;
        }
        else
        {
            return 1;
        }

        ulong from = pfn, to = Math.Min(pfn + nr, end);
        ulong cleared = 0;
        for (ulong p = from; p < to; p++)
        {
            ulong bit = p - first;
            int mask = 1 << (int)(bit & 7);
            ref byte b = ref dump[(int)(bit >> 3)];
            if ((b & mask) != 0)
            {
                b &= (byte)~mask;
                cleared++;
            }
        }

        counts[cls] += cleared;
        return nr;
    }

    /// <summary>makedumpfile page_is_buddy_v3 (PAGE_BUDDY_MAPCOUNT_VALUE) or page_is_buddy_v2 (PG_buddy).</summary>
    private bool IsBuddy(ulong flags, uint mapcount)
    {
        if (_page.PgBuddy != 0)
        {
            return (flags & _page.PgBuddy) != 0;
        }

        if (_page.BuddyMapcount is null || _page.Mapcount is null || _page.Private is null)
        {
            return false;
        }

        return (flags & _page.PgSlab) == 0 && StructPageLayout.IsPageType(mapcount, _page.BuddyMapcount);
    }

    /// <summary>makedumpfile is_cache_page: PG_lru, or PG_swapcache when PG_swapbacked is set (or unknown, before 4.10).</summary>
    private bool IsCache(ulong flags) =>
        (flags & _page.PgLru) != 0
        || ((flags & _page.PgSwapcache) != 0 && (_page.PgSwapbacked == 0 || (flags & _page.PgSwapbacked) != 0));

    private bool IsHugetlbHead(int order, int dtor, uint mapcount)
    {
        if (_page.HugetlbDtor is { } d && _page.DtorFromHead is not null)
        {
            return dtor != 0 && dtor == d;
        }

        return StructPageLayout.IsPageType(mapcount, _page.HugetlbMapcount);
    }

    private int FirstRangeEndingAfter(ulong pfn)
    {
        int lo = 0, hi = _ranges.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_ranges[mid].EndPfn <= pfn)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private static bool Test(ReadOnlySpan<byte> bits, ulong bit) => (bits[(int)(bit >> 3)] & (1 << (int)(bit & 7))) != 0;
}
