using Xunit;
using Fadump.Formats.Compression;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;

namespace Fadump.Formats.Tests.Kdump;

/// <summary>
/// A small fake machine: RAM in PFN runs with holes, crossing rank-index chunk boundaries (4096, 8192),
/// deterministic page contents mixing zero, compressible and incompressible pages, and an exclusion
/// predicate standing in for dump-level filtering.
/// </summary>
internal sealed class SyntheticMemory
{
    public static readonly (ulong Start, ulong End)[] DefaultRam = [(0, 100), (130, 140), (4090, 4200), (8190, 8300), (8900, 8999)];

    public SyntheticMemory(DumpMachine machine, int pageSize = 0, ulong maxPfn = 9000, (ulong Start, ulong End)[]? ram = null, Func<ulong, bool>? excluded = null)
    {
        Machine = machine;
        PageSize = pageSize == 0 ? machine.DefaultPageSize : pageSize;
        MaxPfn = maxPfn;
        RamRuns = ram ?? DefaultRam;
        Excluded = excluded ?? (_ => false);
    }

    public DumpMachine Machine { get; }

    public int PageSize { get; }

    public ulong MaxPfn { get; }

    public IReadOnlyList<(ulong Start, ulong End)> RamRuns { get; }

    public Func<ulong, bool> Excluded { get; }

    public const string Release = "6.1.0-fadump-test";

    public static SyntheticMemory For(string machine) => new(DumpMachine.Parse(machine));

    /// <summary>makedumpfile-like filtering: level 0 keeps everything, other levels drop every 7th page.</summary>
    public SyntheticMemory WithLevel(int level) =>
        new(Machine, PageSize, MaxPfn, [.. RamRuns], level > 1 ? pfn => pfn % 7 == 3 : _ => false);

    public bool IsRam(ulong pfn) => RamRuns.Any(r => pfn >= r.Start && pfn < r.End);

    public bool IsDumped(ulong pfn) => IsRam(pfn) && !Excluded(pfn);

    public IEnumerable<ulong> DumpedPfns(ulong start = 0, ulong end = ulong.MaxValue)
    {
        foreach (var r in RamRuns)
        {
            for (ulong p = Math.Max(r.Start, start); p < Math.Min(r.End, end); p++)
            {
                if (!Excluded(p))
                {
                    yield return p;
                }
            }
        }
    }

    public static bool IsZeroPage(ulong pfn) => pfn % 5 == 0;

    public static bool IsRandomPage(ulong pfn) => pfn % 11 == 1;

    public void Fill(ulong pfn, Span<byte> page)
    {
        page.Clear();
        if (IsZeroPage(pfn))
        {
            return;
        }

        if (IsRandomPage(pfn))
        {
            ulong x = (pfn * 0x9E3779B97F4A7C15UL) | 1;
            for (int i = 0; i < page.Length; i++)
            {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                page[i] = (byte)x;
            }

            return;
        }

        for (int i = 0; i < page.Length; i++)
        {
            page[i] = (byte)((pfn * 31) + (ulong)(i / 64));
        }

        BitConverter.TryWriteBytes(page, pfn);
    }

    public byte[] Page(ulong pfn)
    {
        var p = new byte[PageSize];
        Fill(pfn, p);
        return p;
    }

    public static VmcoreInfo.VmcoreInfo MakeVmcoreInfo(int pageSize)
    {
        var vi = new VmcoreInfo.VmcoreInfo();
        vi.Add("OSRELEASE", Release);
        vi.Add("PAGESIZE", pageSize.ToString(System.Globalization.CultureInfo.InvariantCulture));
        vi.AddSymbol("init_uts_ns", 0xffffffff82a0d2e0);
        vi.Add("CRASHTIME", "1700000000");
        return vi;
    }

    public List<ElfNote> Notes()
    {
        int regs = PrStatus.RegisterNames(Machine.Arch).Length;
        return
        [
            new PrStatus(1, 11, [.. Enumerable.Range(0, regs).Select(i => (ulong)i)]).ToNote(Machine),
            new PrStatus(2, 0, [.. Enumerable.Range(0, regs).Select(i => (ulong)(i * 3))]).ToNote(Machine),
            new ElfNote("VMCOREINFO", ElfNote.VMCOREINFO_TYPE, MakeVmcoreInfo(PageSize).ToBytes()),
        ];
    }

    public KdumpWriterOptions Options(int level, PageCompression compression, (ulong Start, ulong End)? split = null) => new()
    {
        Machine = Machine,
        PageSize = PageSize,
        MaxPfn = MaxPfn,
        Utsname = KdumpUtsname.ForMachine(Machine, Release, "testnode", "#1 SMP PREEMPT_DYNAMIC"),
        Timestamp = DateTimeOffset.FromUnixTimeSeconds(1700000000).AddTicks(123456 * 10),
        DumpLevel = level,
        Compression = compression,
        Notes = Notes(),
        PhysBase = Machine.Arch == DumpArch.X86_64 ? 0x1000000UL : 0,
        CurrentCpu = 1,
        RamBitmap = RangePfnBitmap.FromPfnRuns(RamRuns),
        DumpBitmap = new ExcludingPfnBitmap(RangePfnBitmap.FromPfnRuns(RamRuns), Excluded),
        SplitRange = split,
    };

    public void WritePages(KdumpCompressedWriter w, ulong start = 0, ulong end = ulong.MaxValue)
    {
        var page = new byte[PageSize];
        foreach (var pfn in DumpedPfns(start, end))
        {
            Fill(pfn, page);
            w.WritePage(pfn, page);
        }
    }

    /// <summary>Writes a whole kdump-compressed dump to a sink.</summary>
    public void Write(IPositionedSink sink, int level = 31, PageCompression compression = PageCompression.Zlib, (ulong Start, ulong End)? split = null)
    {
        var w = new KdumpCompressedWriter(sink, Options(level, compression, split));
        WritePages(w, split?.Start ?? 0, split?.End ?? ulong.MaxValue);
        w.Complete();
    }

    public byte[] WriteKdump(int level = 31, PageCompression compression = PageCompression.Zlib, (ulong Start, ulong End)? split = null)
    {
        var sink = new MemorySink();
        Write(sink, level, compression, split);
        return sink.ToArray();
    }

    /// <summary>
    /// The same memory as an ELF core: one PT_LOAD per RAM run (all pages, an ELF dump has no exclusion) at its
    /// direct-map address, the same notes.
    /// </summary>
    public void WriteElf(IPositionedSink sink)
    {
        ulong ps = (ulong)PageSize;
        var loads = RamRuns.Select(r => new ElfSegmentSpec(r.Start * ps, TestDumps.VirtualFor(Machine, r.Start * ps), (r.End - r.Start) * ps, (r.End - r.Start) * ps)).ToList();
        using var w = new ElfCoreWriter(sink, Machine, Notes(), loads, PageSize);
        var page = new byte[PageSize];
        foreach (var r in RamRuns)
        {
            for (ulong pfn = r.Start; pfn < r.End; pfn++)
            {
                Fill(pfn, page);
                w.Write(page);
            }
        }

        w.Complete();
    }

    public byte[] WriteElf()
    {
        var sink = new MemorySink();
        WriteElf(sink);
        return sink.ToArray();
    }

    /// <summary>Checks every PFN (and a few past the end) of a dump against this memory.</summary>
    public void AssertMatches(IDump dump, ulong start = 0, ulong end = ulong.MaxValue)
    {
        var page = new byte[PageSize];
        var expected = new byte[PageSize];
        for (ulong pfn = start; pfn < Math.Min(end, MaxPfn + 3); pfn++)
        {
            var state = dump.ReadPage(pfn, page);
            var want = IsDumped(pfn) ? PageState.Dumped : IsRam(pfn) ? PageState.Excluded : PageState.NotPresent;
            Assert.True(want == state, $"PFN 0x{pfn:x}: state {state}, expected {want}");
            if (state == PageState.Dumped)
            {
                Fill(pfn, expected);
            }
            else
            {
                expected.AsSpan().Clear();
            }

            Assert.True(expected.AsSpan().SequenceEqual(page), $"PFN 0x{pfn:x}: content differs");
        }
    }
}
