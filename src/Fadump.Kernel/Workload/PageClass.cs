namespace Fadump.Kernel.Workload;

/// <summary>What a page frame holds at the crash, as makedumpfile's dump levels see it.</summary>
public enum PageClass : byte
{
    /// <summary>Kernel text (PG_reserved).</summary>
    KernelText,

    /// <summary>Kernel data, bss and boot-time allocations (PG_reserved).</summary>
    KernelData,

    /// <summary>Slab pages (PG_slab).</summary>
    Slab,

    /// <summary>Page cache without private data (dump level 2 excludes).</summary>
    PageCache,

    /// <summary>Page cache with buffer heads (PG_private: only level 4 excludes).</summary>
    PageCachePrivate,

    /// <summary>Anonymous user memory (mapping | PAGE_MAPPING_ANON; level 8 excludes).</summary>
    Anon,

    /// <summary>Free pages in the buddy allocator, holding stale data (level 16 excludes).</summary>
    Free,

    /// <summary>Allocated kernel pages full of zeros (level 1 excludes by content).</summary>
    Zero,
}
