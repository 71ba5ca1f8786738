using System.Diagnostics;
using System.Globalization;
using System.Text;
using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Formats.Elf;
using Fadump.Formats.Flattened;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;

namespace Fadump.Bench;

/// <summary>
/// `bench reads`: page reads through <see cref="IDump.ReadPage"/> from the same memory written as kdump-compressed
/// (none, zlib, lzo, snappy, zstd; zlib also flattened) and as ELF, sequentially (ascending PFN) and at random
/// (a seeded shuffle of the same PFNs), one thread, files in the page cache (a warm-up pass first). The memory is
/// the real QEMU dump of Debian's 6.1 kernel when the fixture exists (its non-zero pages: kernel text and data,
/// page tables, slab, 96 MiB of random tmpfs data, 32 MiB of base64 text), else synthetic pages with a similar
/// mix. Prints a table of pages/s and MiB/s (MiB of page data delivered, 2^20 bytes).
/// </summary>
public static class DumpReadBenchmarks
{
    private const string Usage = """
        usage: bench reads [--source VMCORE | --synthetic] [--random N] [--repeat R] [--work DIR] [--keep]
          --source VMCORE  dump whose non-zero pages are the data (default: the QEMU fixture vmcore.elf in
                           $FADUMP_FIXTURES or ~/.cache/fadump/fixtures, else --synthetic)
          --synthetic      256 MiB of synthetic pages (30% random, 30% text, 40% slab-like objects)
          --random N       random reads per pass (default 20000)
          --repeat R       timed passes per measurement; the best is reported (default 3)
          --work DIR       where the dump files are written (default: a temporary directory, removed after)
          --keep           keep the written files
        """;

    public static int Run(string[] args, TextWriter o)
    {
        string? source = null, work = null;
        bool synthetic = false, keep = false;
        int randomReads = 20000, repeat = 3;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--source" when i + 1 < args.Length:
                    source = args[++i];
                    break;
                case "--synthetic":
                    synthetic = true;
                    break;
                case "--random" when i + 1 < args.Length:
                    randomReads = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--repeat" when i + 1 < args.Length:
                    repeat = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--work" when i + 1 < args.Length:
                    work = args[++i];
                    break;
                case "--keep":
                    keep = true;
                    break;
                default:
                    o.WriteLine(Usage);
                    return 2;
            }
        }

        if (source is null && !synthetic)
        {
            string dir = Environment.GetEnvironmentVariable("FADUMP_FIXTURES")
                ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "fadump", "fixtures");
            string fixture = Path.Combine(dir, "vmcore.elf");
            synthetic = !File.Exists(fixture);
            source = synthetic ? null : fixture;
        }

        string workDir = work ?? Directory.CreateTempSubdirectory("fadump-bench-").FullName;
        Directory.CreateDirectory(workDir);
        try
        {
            using var memory = synthetic ? PageSource.Synthetic(65536) : PageSource.FromDump(source!);
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"data: {memory.Description}: {memory.Pfns.Length} pages of {memory.PageSize} bytes ({Mib(memory.Pfns.LongLength * memory.PageSize):F0} MiB), {memory.Machine}"));
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"reads: sequential = all pages in PFN order; random = {randomReads} pages in a seeded random order; best of {repeat} passes; one thread; warm page cache"));
            o.WriteLine();

            var variants = new List<(string Name, string Path)>();
            foreach (var c in new[] { PageCompression.None, PageCompression.Zlib, PageCompression.Lzo, PageCompression.Snappy, PageCompression.Zstd })
            {
                string p = Path.Combine(workDir, $"bench.kdump-{c.ToString().ToLowerInvariant()}");
                WriteKdump(memory, p, c, flattened: false);
                variants.Add(($"kdump {c.ToString().ToLowerInvariant()}", p));
            }

            string flat = Path.Combine(workDir, "bench.kdump-zlib.flat");
            WriteKdump(memory, flat, PageCompression.Zlib, flattened: true);
            variants.Add(("kdump zlib, flattened", flat));
            string elf = Path.Combine(workDir, "bench.elf");
            WriteElf(memory, elf);
            variants.Add(("ELF", elf));

            var rng = new Random(20251121);
            var randomPfns = new ulong[randomReads];
            for (int i = 0; i < randomPfns.Length; i++)
            {
                randomPfns[i] = memory.Pfns[rng.Next(memory.Pfns.Length)];
            }

            o.WriteLine($"| {"format",-22} | {"file MiB",8} | {"of data",7} | {"seq pages/s",11} | {"seq MiB/s",9} | {"rand pages/s",12} | {"rand MiB/s",10} |");
            o.WriteLine($"|{new string('-', 24)}|{new string('-', 10)}|{new string('-', 9)}|{new string('-', 13)}|{new string('-', 11)}|{new string('-', 14)}|{new string('-', 12)}|");
            ulong? expectSeq = null, expectRand = null;
            foreach (var (name, path) in variants)
            {
                using var dump = DumpFile.Open(path);
                var page = new byte[dump.PageSize];
                ulong seqSum = Pass(dump, memory.Pfns, page);   // warm-up: page cache, rank index, native codecs
                ulong randSum = Pass(dump, randomPfns, page);
                if ((expectSeq ??= seqSum) != seqSum || (expectRand ??= randSum) != randSum)
                {
                    throw new InvalidOperationException($"{name}: read other page contents than the first format");
                }

                double seq = Best(repeat, () => Pass(dump, memory.Pfns, page)) / memory.Pfns.Length;
                double rand = Best(repeat, () => Pass(dump, randomPfns, page)) / randomPfns.Length;
                long size = new FileInfo(path).Length;
                double ps = memory.PageSize;
                o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {name,-22} | {Mib(size),8:F1} | {100.0 * size / (memory.Pfns.LongLength * memory.PageSize),6:F0}% | {1 / seq,11:N0} | {Mib(ps / seq),9:N0} | {1 / rand,12:N0} | {Mib(ps / rand),10:N0} |"));
            }

            o.WriteLine();
            o.WriteLine("ELF holds every page of the source's RAM ranges (zero pages too); the kdump files hold only the pages read.");
            return 0;
        }
        finally
        {
            if (!keep && work is null)
            {
                Directory.Delete(workDir, recursive: true);
            }
        }
    }

    private static double Mib(double bytes) => bytes / (1 << 20);

    /// <summary>Reads the pages; returns a checksum so that the reads cannot be optimised away and formats can be compared.</summary>
    private static ulong Pass(IDump dump, ulong[] pfns, byte[] page)
    {
        ulong sum = 0;
        foreach (ulong pfn in pfns)
        {
            if (dump.ReadPage(pfn, page) != PageState.Dumped)
            {
                throw new InvalidOperationException($"{dump.Path}: PFN 0x{pfn:x} is not dumped");
            }

            sum = (sum * 31) + BitConverter.ToUInt64(page, 0) + BitConverter.ToUInt64(page, page.Length - 8);
        }

        return sum;
    }

    /// <summary>Seconds of the fastest of n passes.</summary>
    private static double Best(int n, Func<ulong> pass)
    {
        double best = double.MaxValue;
        for (int i = 0; i < n; i++)
        {
            long t = Stopwatch.GetTimestamp();
            pass();
            best = Math.Min(best, Stopwatch.GetElapsedTime(t).TotalSeconds);
        }

        return best;
    }

    private static void WriteKdump(PageSource memory, string path, PageCompression compression, bool flattened)
    {
        var dumped = new byte[(memory.MaxPfn + 7) / 8];
        foreach (ulong pfn in memory.Pfns)
        {
            dumped[pfn >> 3] |= (byte)(1 << (int)(pfn & 7));
        }

        var options = new KdumpWriterOptions
        {
            Machine = memory.Machine,
            PageSize = memory.PageSize,
            MaxPfn = memory.MaxPfn,
            DumpLevel = 31,
            Compression = compression,
            Notes = memory.Notes,
            RamBitmap = new RangePfnBitmap(memory.Ranges, memory.PageSize),
            DumpBitmap = new ByteArrayPfnBitmap(dumped),
        };
        using var file = flattened ? new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20) : null;
        using var handle = flattened ? null : File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite);
        using IPositionedSink sink = flattened ? new FlattenedSink(file!, leaveOpen: true) : new FileSink(handle!);
        var w = new KdumpCompressedWriter(sink, options);
        var page = new byte[memory.PageSize];
        foreach (ulong pfn in memory.Pfns)
        {
            memory.Read(pfn, page);
            w.WritePage(pfn, page);
        }

        w.Complete();
    }

    private static void WriteElf(PageSource memory, string path)
    {
        ulong ps = (ulong)memory.PageSize;
        var loads = memory.Ranges.Select(r => new ElfSegmentSpec(r.Start, r.Start, r.Size, r.Size)).ToList();
        using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite);
        using var w = new ElfCoreWriter(new FileSink(handle), memory.Machine, memory.Notes, loads, memory.PageSize);
        var page = new byte[ps];
        foreach (var r in memory.Ranges)
        {
            for (ulong a = r.Start; a < r.End; a += ps)
            {
                memory.Read(a / ps, page);
                w.Write(page.AsSpan(0, (int)Math.Min(ps, r.End - a)));
            }
        }

        w.Complete();
    }

    /// <summary>The memory to write: PFNs to read (ascending) and their contents.</summary>
    private sealed class PageSource : IDisposable
    {
        private readonly IDump? _dump;

        private PageSource(IDump? dump, string description, DumpMachine machine, int pageSize, ulong maxPfn, List<PhysicalRange> ranges, ulong[] pfns, IReadOnlyList<ElfNote> notes)
        {
            _dump = dump;
            Description = description;
            Machine = machine;
            PageSize = pageSize;
            MaxPfn = maxPfn;
            Ranges = ranges;
            Pfns = pfns;
            Notes = notes;
        }

        public string Description { get; }

        public DumpMachine Machine { get; }

        public int PageSize { get; }

        public ulong MaxPfn { get; }

        public List<PhysicalRange> Ranges { get; }

        public ulong[] Pfns { get; }

        public IReadOnlyList<ElfNote> Notes { get; }

        /// <summary>The non-zero pages of a dump's RAM ranges.</summary>
        public static PageSource FromDump(string path)
        {
            var dump = DumpFile.Open(path);
            var ranges = dump.MemoryRanges().ToList();
            var pfns = new List<ulong>();
            var page = new byte[dump.PageSize];
            ulong ps = (ulong)dump.PageSize;
            foreach (var r in ranges)
            {
                for (ulong pfn = r.Start / ps; pfn < (r.End + ps - 1) / ps; pfn++)
                {
                    if (dump.ReadPage(pfn, page) == PageState.Dumped && page.AsSpan().ContainsAnyExcept((byte)0))
                    {
                        pfns.Add(pfn);
                    }
                }
            }

            return new PageSource(dump, $"non-zero pages of {path}", dump.Machine, dump.PageSize, dump.MaxPfn, ranges, [.. pfns], dump.Notes);
        }

        /// <summary>count pages from PFN 0, no holes.</summary>
        public static PageSource Synthetic(int count)
        {
            const int pageSize = 4096;
            var ranges = new List<PhysicalRange> { new(0, (ulong)count * pageSize) };
            var pfns = Enumerable.Range(0, count).Select(i => (ulong)i).ToArray();
            return new PageSource(null, "synthetic pages (30% random, 30% text, 40% slab-like objects)", DumpMachine.X86_64, pageSize, (ulong)count, ranges, pfns, []);
        }

        public void Read(ulong pfn, Span<byte> page)
        {
            if (_dump is not null)
            {
                _dump.ReadPage(pfn, page);
                return;
            }

            var rng = new Random((int)pfn);
            switch (pfn % 10)
            {
                case < 3:
                    rng.NextBytes(page);
                    break;
                case < 6:
                    string[] words = ["task", "pid", "cpu", "irq", "mm", "page", "fault", "at", "ip", "sp", "ffff8881", "0x", "comm", "kworker", "ext4", "systemd"];
                    var sb = new StringBuilder(page.Length + 16);
                    while (sb.Length < page.Length)
                    {
                        sb.Append(words[rng.Next(words.Length)]).Append(rng.Next(10) == 0 ? '\n' : ' ');
                    }

                    Encoding.ASCII.GetBytes(sb.ToString(0, page.Length), page);
                    break;
                default:
                    page.Clear();
                    ulong baseAddr = 0xffff888100000000UL + (pfn * (ulong)page.Length);
                    for (int off = 0; off + 64 <= page.Length; off += 64)
                    {
                        var o = page.Slice(off, 64);
                        BitConverter.TryWriteBytes(o, baseAddr + (ulong)off + 64);
                        BitConverter.TryWriteBytes(o[8..], baseAddr + (ulong)off - 64);
                        BitConverter.TryWriteBytes(o[16..], (ulong)rng.Next(3));
                        BitConverter.TryWriteBytes(o[24..], 0xffffffff82a00000UL + (ulong)(rng.Next(512) * 32));
                        BitConverter.TryWriteBytes(o[32..], (uint)rng.Next(1 << 16));
                        BitConverter.TryWriteBytes(o[40..], (ulong)rng.NextInt64());
                    }

                    break;
            }
        }

        public void Dispose() => _dump?.Dispose();
    }
}
