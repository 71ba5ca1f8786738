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
/// page table mapping the kernel text at 0xffffffff80000000 (init_top_pgt), mem_map and four struct page
/// fields so it can tell FLATMEM), and one NT_PRSTATUS. makedumpfile warns that 6.1.0-test is not a supported
/// kernel version and carries on.
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
                BinaryPrimitives.WriteUInt64LittleEndian(p, DirectMap + 0x30000);
                break;
            case PgdPfn:
                BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(511 * 8), ((PgdPfn + 1) * PageSize) | 0x63);
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
