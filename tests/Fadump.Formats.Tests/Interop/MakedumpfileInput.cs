using System.Buffers.Binary;
using System.Text;
using Xunit;
using Fadump.Formats.Compression;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;
using Fadump.Formats.Tests.Kdump;

namespace Fadump.Formats.Tests.Interop;

/// <summary>
/// A tiny x86_64 machine that makedumpfile 1.7 accepts as input: 4 MiB of RAM with a hole, a VMCOREINFO with
/// what makedumpfile needs for -d 0/1 (OSRELEASE, PAGESIZE, init_uts_ns and the utsname in memory, a 4-level
/// page table mapping the kernel text at 0xffffffff80000000 and the direct map (init_top_pgt), mem_map and struct page
/// fields so it can tell FLATMEM), and one NT_PRSTATUS. makedumpfile warns that 6.1.0-test is not a supported
/// kernel version and carries on. For -d 31 the FLATMEM mem_map (1024 struct pages with Debian 6.1's layout and
/// page flags) marks a free buddy block, anonymous pages and page-cache pages, which makedumpfile excludes.
/// </summary>
internal sealed class MakedumpfileInput
{
    public const string Release = "6.1.0-test";
    public const int PageSize = 4096;
    public const ulong MaxPfn = 1024;
    public const long CrashTime = 1700000000;
    private const ulong KernelText = 0xffffffff80000000;   // __START_KERNEL_map, phys_base 0
    private const ulong DirectMap = 0xffff888000000000;    // page_offset_base default

    private const ulong UtsPfn = 10;
    private const ulong MemMapPfn = 11;
    private const ulong PgdPfn = 20;

    /// <summary>mem_map: struct page[MaxPfn] at this physical address, 64 bytes each (16 pages).</summary>
    private const ulong MemMapPhys = 0x30000;
    private const int StructPageSize = 64;

    /// <summary>A free order-6 buddy block (64 pages): _mapcount = PAGE_BUDDY_MAPCOUNT_VALUE, private = order.</summary>
    public const ulong FreeBlock = 704;
    public const int FreeOrder = 6;

    /// <summary>Anonymous pages (mapping with PAGE_MAPPING_ANON), page-cache pages (PG_lru, file mapping), one with PG_private.</summary>
    public static readonly (ulong Start, ulong End) AnonPages = (800, 810), CachePages = (850, 860);
    public const ulong PrivateCachePage = 870;

    public static readonly (ulong Start, ulong End)[] Ram = [(0, 600), (640, 1024)];

    private readonly SyntheticMemory _content = new(DumpMachine.X86_64, PageSize, MaxPfn, Ram);

    public static bool IsRam(ulong pfn) => Ram.Any(r => pfn >= r.Start && pfn < r.End);

    public static VmcoreInfo.VmcoreInfo VmcoreInfo()
    {
        var vi = new VmcoreInfo.VmcoreInfo();
        vi.Add("OSRELEASE", Release);
        vi.Add("PAGESIZE", "4096");
        vi.AddSymbol("init_uts_ns", KernelText + (UtsPfn * PageSize));
        vi.AddOffset("uts_namespace.name", 8);
        vi.AddSymbol("init_top_pgt", KernelText + (PgdPfn * PageSize));
        vi.AddSymbol("mem_map", KernelText + (MemMapPfn * PageSize));
        vi.AddSize("page", 64);
        vi.AddOffset("page.flags", 0);
        vi.AddOffset("page._refcount", 52);
        vi.AddOffset("page.mapping", 24);
        vi.AddOffset("page.lru", 8);
        vi.AddOffset("page._mapcount", 48);
        vi.AddOffset("page.private", 40);
        vi.AddOffset("page.compound_dtor", 16);
        vi.AddOffset("page.compound_order", 17);
        vi.AddOffset("page.compound_head", 8);
        vi.AddNumber("PG_lru", 4);
        vi.AddNumber("PG_private", 13);
        vi.AddNumber("PG_swapcache", 10);
        vi.AddNumber("PG_swapbacked", 19);
        vi.AddNumber("PG_slab", 9);
        vi.AddNumber("PG_hwpoison", 23);
        vi.AddNumber("PG_head_mask", 65536);
        vi.AddNumber("PAGE_BUDDY_MAPCOUNT_VALUE", -129);
        vi.AddNumber("PAGE_OFFLINE_MAPCOUNT_VALUE", -257);
        vi.AddNumber("phys_base", 0);
        vi.Add("CRASHTIME", CrashTime.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return vi;
    }

    public static List<ElfNote> Notes() =>
    [
        new PrStatus(1, 11, [.. Enumerable.Range(0, 27).Select(i => (ulong)i)]).ToNote(DumpMachine.X86_64),
        new ElfNote("VMCOREINFO", ElfNote.VMCOREINFO_TYPE, VmcoreInfo().ToBytes()),
    ];

    public byte[] Page(ulong pfn)
    {
        var p = new byte[PageSize];
        switch (pfn)
        {
            case UtsPfn:
                int i = 0;
                foreach (var f in new[] { "Linux", "testnode", Release, "#1 SMP", "x86_64", "(none)" })
                {
                    Encoding.ASCII.GetBytes(f, p.AsSpan(8 + (65 * i++)));
                }

                break;
            case MemMapPfn:
                BinaryPrimitives.WriteUInt64LittleEndian(p, DirectMap + MemMapPhys);
                break;
            case >= MemMapPhys / PageSize and < (MemMapPhys / PageSize) + (MaxPfn * StructPageSize / PageSize):
                for (int k = 0; k < PageSize / StructPageSize; k++)
                {
                    WriteStructPage(((pfn - (MemMapPhys / PageSize)) * (PageSize / StructPageSize)) + (ulong)k, p.AsSpan(k * StructPageSize, StructPageSize));
                }

                break;
            case PgdPfn:
                BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(511 * 8), ((PgdPfn + 1) * PageSize) | 0x63);
                BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan((int)((DirectMap >> 39) & 511) * 8), ((PgdPfn + 3) * PageSize) | 0x63);
                break;
            case PgdPfn + 3:
                BinaryPrimitives.WriteUInt64LittleEndian(p, 0xe3);    // direct map: 1 GiB page at physical 0 (mem_map is read through it)
                break;
            case PgdPfn + 1:
                BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(510 * 8), ((PgdPfn + 2) * PageSize) | 0x63);
                break;
            case PgdPfn + 2:
                BinaryPrimitives.WriteUInt64LittleEndian(p, 0xe3);    // 2 MiB page at physical 0
                break;
            default:
                _content.Fill(pfn, p);
                break;
        }

        return p;
    }

    /// <summary>struct page of a PFN (Debian 6.1 offsets): flags @0, mapping @24, private @40, _mapcount @48.</summary>
    private static void WriteStructPage(ulong pfn, Span<byte> page)
    {
        const ulong PgLru = 1UL << 4, PgPrivate = 1UL << 13;
        ulong flags = 0, mapping = 0, priv = 0;
        uint mapcount = uint.MaxValue;     // -1: not mapped
        if (pfn == FreeBlock)
        {
            mapcount = 0xffffff7f;            // PAGE_BUDDY_MAPCOUNT_VALUE (-129)
            priv = FreeOrder;
        }
        else if (pfn >= AnonPages.Start && pfn < AnonPages.End)
        {
            mapping = DirectMap + 0x123400 + 1;   // an anon_vma | PAGE_MAPPING_ANON
            mapcount = 0;
        }
        else if ((pfn >= CachePages.Start && pfn < CachePages.End) || pfn == PrivateCachePage)
        {
            flags = PgLru | (pfn == PrivateCachePage ? PgPrivate : 0);
            mapping = DirectMap + 0x234500;       // an address_space
        }

        BinaryPrimitives.WriteUInt64LittleEndian(page, flags);
        BinaryPrimitives.WriteUInt64LittleEndian(page[24..], mapping);
        BinaryPrimitives.WriteUInt64LittleEndian(page[40..], priv);
        BinaryPrimitives.WriteUInt32LittleEndian(page[48..], mapcount);
        BinaryPrimitives.WriteUInt32LittleEndian(page[52..], 1);    // _refcount
    }

    /// <summary>
    /// What makedumpfile -d 31 keeps in a kdump-compressed file: RAM that is not free, anonymous or page cache.
    /// Zero pages stay in the 2nd bitmap, sharing one zero-filled page (only ELF output leaves them out).
    /// </summary>
    public bool KeptAtLevel31(ulong pfn) =>
        IsRam(pfn)
        && !(pfn >= FreeBlock && pfn < FreeBlock + (1UL << FreeOrder))
        && !(pfn >= AnonPages.Start && pfn < AnonPages.End)
        && !(pfn >= CachePages.Start && pfn < CachePages.End)
        && pfn != PrivateCachePage;

    public void WriteElf(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite);
        var loads = Ram.Select(r => new ElfSegmentSpec(r.Start * PageSize, DirectMap + (r.Start * PageSize), (r.End - r.Start) * PageSize, (r.End - r.Start) * PageSize)).ToList();
        var w = new ElfCoreWriter(new FileSink(handle), DumpMachine.X86_64, Notes(), loads, PageSize);
        foreach (var r in Ram)
        {
            for (ulong p = r.Start; p < r.End; p++)
            {
                w.Write(Page(p));
            }
        }

        w.Complete();
    }

    public KdumpWriterOptions Options(int level, PageCompression compression, (ulong, ulong)? split = null)
    {
        var ram = RangePfnBitmap.FromPfnRuns(Ram);
        return new KdumpWriterOptions
        {
            Machine = DumpMachine.X86_64,
            PageSize = PageSize,
            MaxPfn = MaxPfn,
            Utsname = new KdumpUtsname("Linux", "testnode", Release, "#1 SMP", "x86_64", "(none)"),
            Timestamp = DateTimeOffset.FromUnixTimeSeconds(CrashTime),
            DumpLevel = level,
            Compression = compression,
            Notes = Notes(),
            RamBitmap = ram,
            DumpBitmap = ram,
            SplitRange = split,
        };
    }

    /// <summary>Writes the same memory with our writer to a file.</summary>
    public void WriteKdump(string path, int level = 1, PageCompression compression = PageCompression.Zlib, (ulong Start, ulong End)? split = null)
    {
        using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite);
        WriteKdump(new FileSink(handle), level, compression, split);
    }

    public void WriteKdump(IPositionedSink sink, int level = 1, PageCompression compression = PageCompression.Zlib, (ulong Start, ulong End)? split = null)
    {
        var w = new KdumpCompressedWriter(sink, Options(level, compression, split));
        foreach (var r in Ram)
        {
            for (ulong p = Math.Max(r.Start, split?.Start ?? 0); p < Math.Min(r.End, split?.End ?? MaxPfn); p++)
            {
                w.WritePage(p, Page(p));
            }
        }

        w.Complete();
    }

    /// <summary>Every RAM page dumped with its content; holes not present.</summary>
    public void AssertMatches(IDump dump)
    {
        var page = new byte[PageSize];
        for (ulong pfn = 0; pfn < MaxPfn + 2; pfn++)
        {
            var state = dump.ReadPage(pfn, page);
            if (IsRam(pfn))
            {
                Assert.True(state == PageState.Dumped, $"PFN 0x{pfn:x}: {state}, expected Dumped");
                Assert.True(Page(pfn).AsSpan().SequenceEqual(page), $"PFN 0x{pfn:x}: content differs");
            }
            else
            {
                Assert.True(state == PageState.NotPresent, $"PFN 0x{pfn:x}: {state}, expected NotPresent");
            }
        }
    }
}
