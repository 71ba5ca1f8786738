using System.Buffers.Binary;
using Fadump.Machine;

namespace Fadump.Kernel.Arch.X86_64;

/// <summary>
/// The kernel's 4-level page tables (arch/x86/mm/init_64.c, head_64.S) in simulated RAM, rooted at
/// init_top_pgt: the direct map (kernel_physical_mapping_init: 1 GiB pages where a whole aligned GiB
/// is RAM, else 2 MiB, else 4 KiB), the kernel text mapping (level2_kernel_pgt: 2 MiB pages over
/// _text.._end at phys_base) and the vmemmap (vmemmap_populate_hugepages: 2 MiB pages). Tables are
/// built in memory and written once each at <see cref="Flush"/>: a 64 TiB machine has about a
/// thousand of them. Table pages come from the caller (memblock), zeroed here.
/// </summary>
public sealed class X86_64PageTables
{
    public const ulong Present = 1UL << 0;
    public const ulong Rw = 1UL << 1;
    public const ulong Accessed = 1UL << 5;
    public const ulong Dirty = 1UL << 6;
    public const ulong Pse = 1UL << 7;
    public const ulong Global = 1UL << 8;
    public const ulong Nx = 1UL << 63;

    /// <summary>_KERNPG_TABLE: a pointer to the next level.</summary>
    public const ulong KernelTable = Present | Rw | Accessed | Dirty;

    /// <summary>__PAGE_KERNEL_LARGE (direct map, vmemmap) and __PAGE_KERNEL_LARGE_EXEC (text).</summary>
    public const ulong KernelLarge = Present | Rw | Accessed | Dirty | Pse | Global | Nx;

    public const ulong KernelLargeExec = Present | Rw | Accessed | Dirty | Pse | Global;

    /// <summary>__PAGE_KERNEL: a 4 KiB direct-map page.</summary>
    public const ulong KernelPage = Present | Rw | Accessed | Dirty | Global | Nx;

    private const ulong AddressMask = 0x000f_ffff_ffff_f000;
    private const ulong Size4K = 1UL << 12, Size2M = 1UL << 21, Size1G = 1UL << 30;

    private readonly PhysicalMemory _memory;
    private readonly Func<ulong> _allocTable;
    private readonly Dictionary<ulong, ulong[]> _tables = [];

    /// <param name="memory">RAM the tables are written into.</param>
    /// <param name="root">Physical address of init_top_pgt (a page of the kernel image).</param>
    /// <param name="allocTable">Returns the physical address of a free 4 KiB page for a new table.</param>
    public X86_64PageTables(PhysicalMemory memory, ulong root, Func<ulong> allocTable)
    {
        _memory = memory;
        _allocTable = allocTable;
        Root = root;
        _tables[root] = new ulong[512];
    }

    public ulong Root { get; }

    /// <summary>Table pages allocated so far (the root not counted).</summary>
    public int TablePages => _tables.Count - 1;

    /// <summary>kernel_physical_mapping_init for one RAM range.</summary>
    public void MapDirect(ulong pageOffset, MemoryRange ram)
    {
        ulong p = ram.Start & ~(Size4K - 1);
        while (p < ram.End)
        {
            if (p % Size1G == 0 && ram.End - p >= Size1G)
            {
                SetLeaf(pageOffset + p, p, 2, KernelLarge);
                p += Size1G;
            }
            else if (p % Size2M == 0 && ram.End - p >= Size2M)
            {
                SetLeaf(pageOffset + p, p, 3, KernelLarge);
                p += Size2M;
            }
            else
            {
                SetLeaf(pageOffset + p, p, 4, KernelPage);
                p += Size4K;
            }
        }
    }

    /// <summary>Maps [virt, virt + size) to [phys, …) with 2 MiB pages (both 2 MiB aligned).</summary>
    public void Map2M(ulong virt, ulong phys, ulong size, bool executable)
    {
        if (virt % Size2M != 0 || phys % Size2M != 0 || size % Size2M != 0)
        {
            throw new ArgumentException(FormattableString.Invariant($"2 MiB mapping 0x{virt:x} -> 0x{phys:x} (0x{size:x} bytes) is not 2 MiB aligned"));
        }

        for (ulong o = 0; o < size; o += Size2M)
        {
            SetLeaf(virt + o, phys + o, 3, executable ? KernelLargeExec : KernelLarge);
        }
    }

    /// <summary>Writes every table into RAM, one page each.</summary>
    public void Flush()
    {
        var page = new byte[Size4K];
        foreach (var (phys, entries) in _tables)
        {
            for (int i = 0; i < 512; i++)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(i * 8), entries[i]);
            }

            _memory.Write(phys, page);
        }
    }

    /// <summary>Software walk of the built tables (for tests and the kernel's own __pa of vmalloc-like addresses).</summary>
    public ulong? Translate(ulong virt)
    {
        ulong table = Root;
        for (int level = 1; level <= 4; level++)
        {
            ulong e = _tables[table][Index(virt, level)];
            if ((e & Present) == 0)
            {
                return null;
            }

            ulong size = LevelSize(level);
            if (level == 4 || (level >= 2 && (e & Pse) != 0))
            {
                return (e & AddressMask & ~(size - 1)) + (virt & (size - 1));
            }

            table = e & AddressMask;
        }

        return null;
    }

    private static int Index(ulong virt, int level) => (int)((virt >> (48 - (9 * level))) & 511);

    private static ulong LevelSize(int level) => 1UL << (48 - (9 * level));

    /// <summary>Sets the entry at <paramref name="leafLevel"/> (2 = PUD 1 GiB, 3 = PMD 2 MiB, 4 = PTE 4 KiB), creating tables above it.</summary>
    private void SetLeaf(ulong virt, ulong phys, int leafLevel, ulong flags)
    {
        ulong table = Root;
        for (int level = 1; level < leafLevel; level++)
        {
            var entries = _tables[table];
            int i = Index(virt, level);
            ulong e = entries[i];
            if ((e & Present) == 0)
            {
                ulong next = _allocTable();
                if (!_tables.TryAdd(next, new ulong[512]))
                {
                    throw new InvalidOperationException(FormattableString.Invariant($"page table page 0x{next:x} handed out twice"));
                }

                entries[i] = next | KernelTable;
                table = next;
            }
            else if ((e & Pse) != 0)
            {
                throw new InvalidOperationException(FormattableString.Invariant($"0x{virt:x} is already inside a large page"));
            }
            else
            {
                table = e & AddressMask;
            }
        }

        _tables[table][Index(virt, leafLevel)] = (phys & AddressMask) | flags;
    }
}
