using System.Buffers.Binary;
using Fadump.Kernel.Arch;
using Fadump.Kernel.Workload;
using Fadump.Machine;

namespace Fadump.Kernel.Structures;

/// <summary>A vmemmap mapping: struct pages for PFNs from VirtualAddress live at PhysicalAddress.</summary>
public readonly record struct VmemmapBacking(ulong VirtualAddress, ulong PhysicalAddress, ulong Size);

/// <summary>
/// The procedural content of the first kernel's RAM at the crash (shared/DESIGN.md §3): every page
/// is a pure function of the seed, its PFN and its class; the struct page array (vmemmap) is
/// generated from the same classes, so page contents and struct pages always agree.
/// </summary>
public sealed class KernelMemoryImage : IMemoryContent
{
    private readonly WorkloadModel _workload;
    private readonly PhysicalMemory _memory;
    private readonly List<(MemoryRange Range, PageClass Class)> _reserved = [];
    private readonly List<VmemmapBacking> _vmemmap = [];
    private readonly bool _bigEndian;
    private readonly List<MemoryRange> _movableOnly = [];

    // The arch's values, read once: struct pages are encoded per PFN on the hot path.
    private readonly int _pageShift;
    private readonly ulong _vmemmapBase;
    private readonly ulong _linearMap;

    public KernelMemoryImage(WorkloadModel workload, PhysicalMemory memory, KernelArch arch)
    {
        _workload = workload;
        _memory = memory;
        _bigEndian = arch.BigEndian;
        _pageShift = arch.PageShift;
        _vmemmapBase = arch.VmemmapBase;
        _linearMap = arch.PageOffset;
        _arch = arch;
    }

    private readonly KernelArch _arch;

    public WorkloadModel Workload => _workload;

    public IReadOnlyList<VmemmapBacking> Vmemmap => _vmemmap;

    /// <summary>Marks memory the kernel owns (image, boot allocations): PG_reserved in struct page. An earlier reservation's class wins where two overlap.</summary>
    public void Reserve(MemoryRange range, PageClass cls)
    {
        if (range.Size == 0)
        {
            return;
        }

        lock (_lock)
        {
            _reserved.Add((range, cls));
            _reservedIndex = null;
        }
    }

    public void AddVmemmap(VmemmapBacking backing)
    {
        lock (_lock)
        {
            _vmemmap.Add(backing);
            _vmemmapIndex = null;
        }
    }

    private readonly Lock _lock = new();
    private VmemmapBacking[]? _vmemmapIndex;
    private ReservedIndex? _reservedIndex;

    /// <summary>The reservations as disjoint sorted intervals (built once after the last change: boot makes thousands).</summary>
    private sealed class ReservedIndex
    {
        public required ulong[] Starts { get; init; }

        public required ulong[] Ends { get; init; }

        public required PageClass[] Classes { get; init; }

        /// <summary>The interval holding addr, or -1.</summary>
        public int Find(ulong addr)
        {
            int i = Array.BinarySearch(Starts, addr);
            if (i < 0)
            {
                i = ~i - 1;
            }

            return i >= 0 && addr < Ends[i] ? i : -1;
        }

        /// <summary>Whether any interval overlaps [start, end).</summary>
        public bool Overlaps(ulong start, ulong end)
        {
            int i = Array.BinarySearch(Starts, start);
            if (i >= 0)
            {
                return true;
            }

            i = ~i; // first interval starting after start
            return (i > 0 && Ends[i - 1] > start) || (i < Starts.Length && Starts[i] < end);
        }
    }

    private ReservedIndex Reserved
    {
        get
        {
            var r = _reservedIndex;
            if (r is not null)
            {
                return r;
            }

            lock (_lock)
            {
                return _reservedIndex ??= BuildReservedIndex(_reserved);
            }
        }
    }

    private static ReservedIndex BuildReservedIndex(List<(MemoryRange Range, PageClass Class)> reserved)
    {
        // A sweep over the boundaries: each elementary interval takes the class of the earliest reservation covering it.
        var events = new List<(ulong At, int Index, bool Open)>(reserved.Count * 2);
        for (int i = 0; i < reserved.Count; i++)
        {
            events.Add((reserved[i].Range.Start, i, true));
            events.Add((reserved[i].Range.End, i, false));
        }

        events.Sort((a, b) => a.At.CompareTo(b.At));
        var active = new SortedSet<int>();
        var starts = new List<ulong>();
        var ends = new List<ulong>();
        var classes = new List<PageClass>();
        for (int e = 0; e < events.Count;)
        {
            ulong at = events[e].At;
            for (; e < events.Count && events[e].At == at; e++)
            {
                if (events[e].Open)
                {
                    active.Add(events[e].Index);
                }
                else
                {
                    active.Remove(events[e].Index);
                }
            }

            if (active.Count == 0 || e == events.Count)
            {
                continue;
            }

            ulong next = events[e].At;
            var cls = reserved[active.Min].Class;
            if (starts.Count > 0 && ends[^1] == at && classes[^1] == cls)
            {
                ends[^1] = next;
            }
            else
            {
                starts.Add(at);
                ends.Add(next);
                classes.Add(cls);
            }
        }

        return new ReservedIndex { Starts = [.. starts], Ends = [.. ends], Classes = [.. classes] };
    }

    private VmemmapBacking[] VmemmapByPhys
    {
        get
        {
            var v = _vmemmapIndex;
            if (v is not null)
            {
                return v;
            }

            lock (_lock)
            {
                return _vmemmapIndex ??= [.. _vmemmap.OrderBy(x => x.PhysicalAddress)];
            }
        }
    }

    /// <summary>The backing whose physical block holds addr, or -1 (binary search: a 1 TiB machine has 512).</summary>
    private int FindVmemmap(VmemmapBacking[] a, ulong addr)
    {
        int lo = 0, hi = a.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (addr < a[mid].PhysicalAddress)
            {
                hi = mid - 1;
            }
            else if (addr - a[mid].PhysicalAddress >= a[mid].Size)
            {
                lo = mid + 1;
            }
            else
            {
                return mid;
            }
        }

        return -1;
    }

    /// <summary>A CMA area: only movable pages (user memory, page cache) or free pages live there.</summary>
    public void SetMovableOnly(MemoryRange range) => _movableOnly.Add(range);

    /// <summary>
    /// The class of a PFN at the crash. A free buddy block never spans a reserved page: the buddy allocator
    /// only ever received the pages memblock left free, so a workload block that shares its pages with a boot
    /// allocation is kernel data rather than a free block claiming the reserved page.
    /// </summary>
    public PageClass ClassOf(ulong pfn)
    {
        ulong addr = pfn << _pageShift;
        var reserved = Reserved;
        int ri = reserved.Find(addr);
        if (ri >= 0)
        {
            return reserved.Classes[ri];
        }

        if (FindVmemmap(VmemmapByPhys, addr) >= 0)
        {
            return PageClass.KernelData;
        }

        var cls = _workload.ClassOf(pfn);
        if (cls == PageClass.Free)
        {
            ulong blockBytes = (ulong)WorkloadModel.BlockPages << _pageShift;
            ulong blockStart = addr & ~(blockBytes - 1);
            if (reserved.Overlaps(blockStart, blockStart + blockBytes))
            {
                return PageClass.KernelData;
            }
        }

        foreach (var m in _movableOnly)
        {
            if (m.Contains(addr) && cls is not (PageClass.Anon or PageClass.PageCache or PageClass.Free))
            {
                return PageClass.Free;
            }
        }

        return cls;
    }

    /// <summary>Whether the kernel reserved the page at addr for itself at boot (memblock): PG_reserved.</summary>
    public bool IsReserved(ulong addr) => Reserved.Find(addr) >= 0 || FindVmemmap(VmemmapByPhys, addr) >= 0;

    public void Fill(ulong frameAddress, Span<byte> frame)
    {
        var byPhys = VmemmapByPhys;
        int vi = FindVmemmap(byPhys, frameAddress);
        if (vi >= 0)
        {
            var v = byPhys[vi];
            FillStructPages(v.VirtualAddress + (frameAddress - v.PhysicalAddress), frame);
            return;
        }

        ulong pfn = frameAddress >> _pageShift;
        FillPage(ClassOf(pfn), _workload.Seed ^ (frameAddress * 0x9E3779B97F4A7C15), frame, _arch);
    }

    /// <summary>
    /// Content by class, compressible roughly as real memory of that kind is, in the arch's terms: its
    /// instruction words in text, pointers into its linear map in data, in its byte order.
    /// </summary>
    public static void FillPage(PageClass cls, ulong seed, Span<byte> frame, KernelArch arch)
    {
        bool be = arch.BigEndian;
        uint[] opcodes = arch.Machine.Arch == Formats.DumpArch.X86_64 ? X86Opcodes : Opcodes;
        ulong linear = arch.PageOffset;
        ulong s = seed;
        switch (cls)
        {
            case PageClass.Zero:
                frame.Clear();
                return;
            case PageClass.KernelText:
                // Instruction words from a small repertoire: code compresses about 2-3x.
                for (int i = 0; i < frame.Length; i += 8)
                {
                    ulong r = WorkloadModel.Mix64(s++);
                    Formats.Endian.Write(frame[i..], opcodes[(int)(r & 31)], be);
                    Formats.Endian.Write(frame[(i + 4)..], opcodes[(int)((r >> 8) & 31)], be);
                }

                return;
            case PageClass.KernelData:
            case PageClass.Slab:
                // Pointers into the linear map, small counters and zeros.
                for (int i = 0; i < frame.Length; i += 8)
                {
                    ulong r = WorkloadModel.Mix64(s++);
                    ulong v = (r & 3) switch
                    {
                        0 => 0,
                        1 => linear | (r >> 20 & 0x3fffffff8),
                        2 => r >> 56,
                        _ => linear | (r >> 24 & 0xffff00),
                    };
                    Formats.Endian.Write(frame[i..], v, be);
                }

                return;
            case PageClass.PageCache:
            case PageClass.PageCachePrivate:
                // Text: file data as it often is; a window of a generated corpus, chosen per frame.
                int start = (int)(WorkloadModel.Mix64(s) % (ulong)(TextCorpus.Length - frame.Length));
                TextCorpus.AsSpan(start, frame.Length).CopyTo(frame);
                return;
            default:
                // Anonymous memory and stale free pages: random bytes with runs of zeros.
                for (int i = 0; i < frame.Length; i += 8)
                {
                    ulong r = WorkloadModel.Mix64(s++);
                    BinaryPrimitives.WriteUInt64LittleEndian(frame[i..], (r & 0x300) == 0 ? 0 : r);
                }

                return;
        }
    }

    private void FillStructPages(ulong vaddr, Span<byte> frame)
    {
        const int Size = KernelArch.PageStructSize;
        ulong firstPfn = (vaddr - _vmemmapBase) / Size;
        for (int i = 0; i < frame.Length / Size; i++)
        {
            EncodeStructPage(firstPfn + (ulong)i, frame.Slice(i * Size, Size));
        }
    }

    /// <summary>struct page for a PFN (6.1 layout): what makedumpfile's page classification reads.</summary>
    public void EncodeStructPage(ulong pfn, Span<byte> page)
    {
        page.Clear();
        ulong addr = pfn << _pageShift;
        if (!_memory.IsRam(addr))
        {
            return;
        }

        ulong flags = 0, mapping = 0, priv = 0, lru = _linearMap | ((pfn * 64) & 0xffffff0);
        int mapcount = -1, refcount = 1;
        ulong h = WorkloadModel.Mix64(_workload.Seed ^ pfn);
        switch (ClassOf(pfn))
        {
            case PageClass.KernelText:
            case PageClass.KernelData:
                break;
            case PageClass.Zero:
                break;
            case PageClass.Slab:
                flags = 1UL << KernelArch.PgSlab;
                mapping = 0;
                break;
            case PageClass.PageCache:
                flags = (1UL << KernelArch.PgLru) | (1UL << KernelArch.PgUptodate);
                mapping = _linearMap | 0x10000000 | ((h >> 16) & 0xffffc0);
                mapcount = (int)(h & 1) - 1;
                break;
            case PageClass.PageCachePrivate:
                flags = (1UL << KernelArch.PgLru) | (1UL << KernelArch.PgUptodate) | (1UL << KernelArch.PgPrivate);
                mapping = _linearMap | 0x10000000 | ((h >> 16) & 0xffffc0);
                priv = _linearMap | 0x20000000 | ((h >> 20) & 0xffff80);
                break;
            case PageClass.Anon:
                flags = (1UL << KernelArch.PgLru) | (1UL << KernelArch.PgSwapbacked) | (1UL << KernelArch.PgUptodate) | (1UL << KernelArch.PgActive);
                mapping = _linearMap | 0x30000000 | ((h >> 16) & 0xffffc0) | 1; // PAGE_MAPPING_ANON
                mapcount = 0;
                break;
            case PageClass.Free:
                refcount = 0;
                if ((pfn & (WorkloadModel.BlockPages - 1)) == 0)
                {
                    // Buddy head: PageBuddy via the page_type in _mapcount, order in private.
                    mapcount = KernelArch.PageBuddyMapcountValue;
                    priv = WorkloadModel.FreeOrder;
                }

                break;
        }

        if (IsReserved(addr))
        {
            // memblock-reserved at boot: PG_reserved, never freed to the buddy allocator.
            flags = 1UL << KernelArch.PgReserved;
            mapping = priv = 0;
            mapcount = -1;
            refcount = 1;
        }

        Write64(page[KernelArch.PageFlags..], flags);
        Write64(page[KernelArch.PageLru..], lru);
        Write64(page[(KernelArch.PageLru + 8)..], lru + 8);
        Write64(page[KernelArch.PageMapping..], mapping);
        Write64(page[KernelArch.PagePrivate..], priv);
        Write32(page[KernelArch.PageMapcount..], mapcount);
        Write32(page[KernelArch.PageRefcount..], refcount);
    }

    private void Write64(Span<byte> d, ulong v)
    {
        if (_bigEndian)
        {
            BinaryPrimitives.WriteUInt64BigEndian(d, v);
        }
        else
        {
            BinaryPrimitives.WriteUInt64LittleEndian(d, v);
        }
    }

    private void Write32(Span<byte> d, int v)
    {
        if (_bigEndian)
        {
            BinaryPrimitives.WriteInt32BigEndian(d, v);
        }
        else
        {
            BinaryPrimitives.WriteInt32LittleEndian(d, v);
        }
    }

    private static readonly uint[] Opcodes =
    [
        0x7c0802a6, 0xf8010010, 0xf821ff91, 0x38210070, 0xe8010010, 0x7c0803a6, 0x4e800020, 0x60000000,
        0x3c4c0000, 0x38420000, 0x7c7f1b78, 0x7fe3fb78, 0x48000001, 0x2c230000, 0x41820010, 0x40820008,
        0xe9230000, 0xf9230008, 0x39400000, 0x7d2a4b78, 0x81230000, 0x91230004, 0x7c631a14, 0x3863ffff,
        0xebe1fff8, 0xfbe1fff8, 0x7c691b78, 0x5463063e, 0x28030000, 0x4bfffff0, 0x7d4903a6, 0x4e800420,
    ];

    /// <summary>x86-64 instruction bytes as they sit in memory (read as little-endian words): push/mov/call/ret/jcc/nop…</summary>
    private static readonly uint[] X86Opcodes =
    [
        0xe5894855, 0x10ec8348, 0x24448b48, 0xc3c9c031, 0x00000fe8, 0x8b4c0000, 0x74c08548, 0x48c78948,
        0x0f1f4400, 0x90909090, 0x8948f689, 0x48d23108, 0x4c8b4808, 0x5d5b415c, 0x415d415e, 0xcccccccc,
        0x0000841f, 0x08478b48, 0x48e68949, 0x0000b848, 0x8548c085, 0x850fc084, 0x31c0ff48, 0xe8000000,
        0xf6854875, 0x65488b04, 0x25280000, 0x83481074, 0x0fc4014c, 0x1f400000, 0x8b450873, 0x5de58948,
    ];

    private static readonly byte[][] Words = [.. new[]
    {
        "the ", "of ", "and ", "to ", "in ", "is ", "that ", "for ", "it ", "as ", "with ", "was ", "on ", "be ",
        "at ", "by ", "this ", "from ", "or ", "which ", "an ", "are ", "not ", "have ", "but ", "SELECT ", "row ",
        "INSERT ", "value ", "page ", "memory ", "kernel ", "dump ", "firmware ", "\n", "0", "1", "2024-", "{\"id\": ",
    }.Select(System.Text.Encoding.ASCII.GetBytes)];

    private static readonly byte[] TextCorpus = BuildCorpus();

    private static byte[] BuildCorpus()
    {
        var corpus = new byte[1 << 20];
        int pos = 0;
        ulong s = 0x5eed;
        while (pos < corpus.Length)
        {
            var w = Words[(int)(WorkloadModel.Mix64(s++) % (ulong)Words.Length)];
            int n = Math.Min(w.Length, corpus.Length - pos);
            w.AsSpan(0, n).CopyTo(corpus.AsSpan(pos));
            pos += n;
        }

        return corpus;
    }
}
