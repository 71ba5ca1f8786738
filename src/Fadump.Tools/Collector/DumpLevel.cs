namespace Fadump.Tools.Collector;

/// <summary>makedumpfile -d bits (makedumpfile.h: DL_EXCLUDE_*). 31 excludes everything excludable.</summary>
[Flags]
public enum DumpLevel
{
    None = 0,

    /// <summary>Pages filled with zeros, detected from their contents (DL_EXCLUDE_ZERO).</summary>
    Zero = 1,

    /// <summary>Page cache without PG_private (DL_EXCLUDE_CACHE).</summary>
    Cache = 2,

    /// <summary>All page cache, PG_private included (DL_EXCLUDE_CACHE_PRI).</summary>
    CachePrivate = 4,

    /// <summary>Anonymous user pages and hugetlbfs pages (DL_EXCLUDE_USER_DATA).</summary>
    UserData = 8,

    /// <summary>Free pages of the buddy allocator (DL_EXCLUDE_FREE).</summary>
    Free = 16,

    All = 31,
}

/// <summary>Keys of <see cref="SaveResult.ExcludedByClass"/>, in makedumpfile's report order.</summary>
public static class PageClassNames
{
    public const string Zero = "zero";
    public const string Cache = "cache";
    public const string CachePrivate = "cache_private";
    public const string User = "user";
    public const string Hugetlb = "hugetlb";
    public const string Free = "free";
    public const string Hwpoison = "hwpoison";
    public const string Offline = "offline";

    public static IReadOnlyList<string> All { get; } = [Zero, Cache, CachePrivate, User, Hugetlb, Free, Hwpoison, Offline];
}
