using Fadump.Machine;

namespace Fadump.Kernel.Mm;

/// <summary>
/// The boot-time memory allocator (mm/memblock.c): the memory the kernel may use and the ranges
/// reserved in it. Boot structures are allocated top-down, each below the previous one, as
/// memblock_alloc places them; reservations the kernel makes at a chosen place (FADump's area,
/// crashkernel=) are found bottom-up or inside a window. Contiguous boot allocations share one
/// entry: a large machine makes thousands of them.
/// </summary>
public sealed class Memblock(IReadOnlyList<MemoryRange> memory, ulong pageSize)
{
    private readonly List<MemoryRange> _reserved = [];
    private readonly List<MemoryRange> _allocations = [];
    private ulong _allocFloor = ulong.MaxValue;
    private int? _lastAllocation;

    /// <summary>memblock.memory: RAM the kernel manages (mem= applied).</summary>
    public IReadOnlyList<MemoryRange> Memory { get; private set; } = memory;

    /// <summary>memblock.reserved.</summary>
    public IReadOnlyList<MemoryRange> Reserved => _reserved;

    /// <summary>The boot allocations made by <see cref="AllocTopDown"/>, in order.</summary>
    public IReadOnlyList<MemoryRange> Allocations => _allocations;

    /// <summary>Called with each new boot allocation (the kernel marks its struct pages PG_reserved).</summary>
    public Action<MemoryRange>? Allocated { get; set; }

    public void Reserve(MemoryRange range) => _reserved.Add(range);

    /// <summary>memblock_phys_free of a reservation made whole (by <see cref="AllocRange"/> or <see cref="Reserve"/>).</summary>
    public bool Free(MemoryRange range) => _reserved.Remove(range);

    /// <summary>memblock_phys_free of every reserved range that matches (a released dump's memory).</summary>
    public void Free(Predicate<MemoryRange> match) => _reserved.RemoveAll(match);

    public void AddMemory(MemoryRange range) => Memory = [.. Memory.Append(range).OrderBy(r => r.Start)];

    /// <summary>memblock_is_region_reserved.</summary>
    public bool IsReserved(MemoryRange range) => _reserved.Any(x => x.Overlaps(range));

    /// <summary>memblock_is_region_memory: the whole range is RAM.</summary>
    public bool IsMemory(MemoryRange range) => Memory.Any(r => r.Start <= range.Start && range.End <= r.End);

    /// <summary>First fit, bottom-up from <paramref name="from"/> and below <paramref name="limit"/>, over RAM no reservation covers.</summary>
    public ulong? FindFreeBottomUp(ulong from, ulong size, ulong limit)
    {
        foreach (var r in Memory)
        {
            ulong start = Ranges.AlignUp(Math.Max(r.Start, from), pageSize);
            while (start + size <= Math.Min(r.End, limit))
            {
                var clash = _reserved.Where(x => x.Overlaps(new MemoryRange(start, size))).OrderBy(x => x.End).LastOrDefault();
                if (clash.Size == 0)
                {
                    return start;
                }

                start = Ranges.AlignUp(clash.End, pageSize);
            }
        }

        return null;
    }

    /// <summary>
    /// memblock_phys_alloc_range: the highest free, aligned range of <paramref name="size"/> bytes inside
    /// [<paramref name="start"/>, <paramref name="end"/>), reserved on success. Null when none is free.
    /// </summary>
    public ulong? AllocRange(ulong size, ulong align, ulong start, ulong end)
    {
        if (size == 0)
        {
            return null;
        }

        for (int ri = Memory.Count - 1; ri >= 0; ri--)
        {
            var r = Memory[ri];
            ulong top = Math.Min(r.End, end);
            ulong bottom = Math.Max(r.Start, start);
            while (top >= size && top - size >= bottom)
            {
                ulong at = Ranges.AlignDown(top - size, align);
                if (at < bottom)
                {
                    break;
                }

                var range = new MemoryRange(at, size);
                ulong clashStart = LowestClash(range);
                if (clashStart == ulong.MaxValue)
                {
                    _reserved.Add(range);
                    return at;
                }

                top = clashStart;
            }
        }

        return null;
    }

    /// <summary>
    /// memblock_alloc for boot structures: top-down, below the previous allocation, around every
    /// reservation; the range is reserved and reported to <see cref="Allocated"/>. Null when no RAM is left.
    /// </summary>
    public ulong? AllocTopDown(ulong size, ulong align)
    {
        for (int ri = Memory.Count - 1; ri >= 0; ri--)
        {
            var r = Memory[ri];
            ulong end = Math.Min(r.End, _allocFloor);
            while (end >= r.Start + size)
            {
                ulong start = (end - size) & ~(align - 1);
                if (start < r.Start)
                {
                    break;
                }

                var range = new MemoryRange(start, size);
                ulong clashStart = LowestClash(range);
                if (clashStart == ulong.MaxValue)
                {
                    _allocFloor = start;
                    if (_lastAllocation is int li && _reserved[li].Start == range.End)
                    {
                        _reserved[li] = MemoryRange.FromBounds(start, _reserved[li].End);
                        _allocations[^1] = _reserved[li];
                    }
                    else
                    {
                        _reserved.Add(range);
                        _lastAllocation = _reserved.Count - 1;
                        _allocations.Add(range);
                    }

                    Allocated?.Invoke(range);
                    return start;
                }

                end = clashStart;
            }
        }

        return null;
    }

    /// <summary>
    /// Frees the reserved parts of <paramref name="range"/> (free_reserved_area over a piece of a reservation):
    /// reservations are cut around it. Returns the bytes that were reserved and are now free.
    /// </summary>
    public ulong Unreserve(MemoryRange range)
    {
        ulong freed = 0;
        for (int i = _reserved.Count - 1; i >= 0; i--)
        {
            var x = _reserved[i];
            if (!x.Overlaps(range))
            {
                continue;
            }

            ulong a = Math.Max(x.Start, range.Start), b = Math.Min(x.End, range.End);
            freed += b - a;
            _reserved.RemoveAt(i);
            if (x.Start < a)
            {
                _reserved.Add(MemoryRange.FromBounds(x.Start, a));
            }

            if (b < x.End)
            {
                _reserved.Add(MemoryRange.FromBounds(b, x.End));
            }
        }

        _lastAllocation = null;
        return freed;
    }

    /// <summary>Records memory the kernel took for itself outside memblock (hot-added memory's memmap).</summary>
    public void RecordAllocation(MemoryRange range) => _allocations.Add(range);

    private ulong LowestClash(MemoryRange range)
    {
        ulong clashStart = ulong.MaxValue;
        foreach (var x in _reserved)
        {
            if (x.Overlaps(range) && x.Start < clashStart)
            {
                clashStart = x.Start;
            }
        }

        return clashStart;
    }
}
