using Xunit;
using Fadump.Formats.Compression;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;

namespace Fadump.Formats.Tests.Kdump;

public sealed class KdumpWriterTests
{
    private static readonly SyntheticMemory Mem = SyntheticMemory.For("x86_64").WithLevel(31);

    [Fact]
    public void Pages_out_of_order_are_refused()
    {
        using var w = new KdumpCompressedWriter(new MemorySink(), Mem.Options(31, PageCompression.Zlib));
        var page = new byte[4096];
        w.WritePage(0, page);
        var e = Assert.Throws<InvalidOperationException>(() => w.WritePage(0, page));
        Assert.Contains("ascending order", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_page_not_in_the_dump_bitmap_is_refused()
    {
        using var w = new KdumpCompressedWriter(new MemorySink(), Mem.Options(31, PageCompression.Zlib));
        var page = new byte[4096];
        w.WritePage(0, page);
        w.WritePage(1, page);
        w.WritePage(2, page);

        // PFN 3 is excluded (3 % 7 == 3): writing PFN 4 is fine, writing 3 is not.
        var e = Assert.Throws<InvalidOperationException>(() => w.WritePage(3, page));
        Assert.Contains("0x4", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Skipping_a_dumped_page_is_refused()
    {
        using var w = new KdumpCompressedWriter(new MemorySink(), Mem.Options(31, PageCompression.Zlib));
        var e = Assert.Throws<InvalidOperationException>(() => w.WritePage(1, new byte[4096]));
        Assert.Contains("PFN 0x0 is set in the dump bitmap", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Complete_refuses_a_dump_with_missing_pages_and_writes_after_Complete_are_refused()
    {
        var w = new KdumpCompressedWriter(new MemorySink(), Mem.Options(31, PageCompression.Zlib));
        Mem.WritePages(w, 0, 4000);
        var e = Assert.Throws<InvalidOperationException>(w.Complete);
        Assert.Contains("0xffa", e.Message, StringComparison.Ordinal);
        Mem.WritePages(w, 4000);
        w.Complete();
        Assert.True(w.IsCompleted);
        Assert.Throws<InvalidOperationException>(() => w.WritePage(9000, new byte[4096]));
    }

    [Fact]
    public void A_dump_bitmap_that_is_not_a_subset_of_RAM_is_refused()
    {
        var options = Mem.Options(31, PageCompression.Zlib) with { DumpBitmap = RangePfnBitmap.FromPfnRuns([(95, 105)]) };
        var e = Assert.Throws<ArgumentException>(() => new KdumpCompressedWriter(new MemorySink(), options));
        Assert.Contains("PFN 0x64", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Wrong_page_size_buffers_and_oversized_compressed_pages_are_refused()
    {
        using var w = new KdumpCompressedWriter(new MemorySink(), Mem.Options(31, PageCompression.Zlib));
        Assert.Throws<ArgumentException>(() => w.WritePage(0, new byte[100]));
        Assert.Throws<ArgumentException>(() => w.WriteCompressedPage(0, new byte[4096], PageCompression.Zlib));
        Assert.Throws<ArgumentException>(() => w.WriteCompressedPage(0, new byte[10], (PageCompression)0x40));
    }

    [Fact]
    public void MarkIncomplete_flags_the_header_and_unwritten_pages_read_as_lost()
    {
        var sink = new MemorySink();
        using (var w = new KdumpCompressedWriter(sink, Mem.Options(31, PageCompression.Zlib)))
        {
            Mem.WritePages(w, 0, 4150);
            w.MarkIncomplete();
            Assert.Throws<InvalidOperationException>(() => w.WritePage(4150, new byte[4096]));
        }

        using var dump = KdumpCompressedDump.Open(new MemorySource(sink.ToArray()));
        Assert.True(dump.IsIncomplete);
        Assert.True(dump.Status.HasFlag(KdumpStatus.Incomplete));
        var page = new byte[4096];
        foreach (var pfn in Mem.DumpedPfns())
        {
            var state = dump.ReadPage(pfn, page);
            if (pfn < 4150)
            {
                Assert.Equal(PageState.Dumped, state);
                Assert.True(Mem.Page(pfn).AsSpan().SequenceEqual(page));
            }
            else
            {
                Assert.Equal(PageState.Lost, state);
                Assert.False(page.AsSpan().ContainsAnyExcept((byte)0));
            }
        }
    }

    [Fact]
    public void A_full_disk_leaves_a_readable_file_flagged_incomplete()
    {
        // 64 KiB pages make a few MiB of data: the first 1 MiB buffer reaches the disk, then it is full.
        // Header and table rewrites below the limit still work, as on a real file system.
        var mem = SyntheticMemory.For("ppc64le").WithLevel(31);
        var full = new DiskFullSink(limit: 0);
        var probe = new KdumpCompressedWriter(new MemorySink(), mem.Options(31, PageCompression.Zlib));
        full.Limit = probe.DataOffset + (1536 << 10);

        var w = new KdumpCompressedWriter(full, mem.Options(31, PageCompression.Zlib));
        var page = new byte[mem.PageSize];
        var ex = Assert.Throws<IOException>(() =>
        {
            foreach (var pfn in mem.DumpedPfns())
            {
                mem.Fill(pfn, page);
                w.WritePage(pfn, page);
            }

            w.Complete();
        });
        Assert.Contains("No space", ex.Message, StringComparison.Ordinal);
        w.MarkIncomplete();

        using var dump = KdumpCompressedDump.Open(new MemorySource(full.Inner.ToArray()));
        Assert.True(dump.IsIncomplete);
        int dumped = 0, lost = 0;
        foreach (var pfn in mem.DumpedPfns())
        {
            var state = dump.ReadPage(pfn, page);
            if (state == PageState.Dumped)
            {
                Assert.True(mem.Page(pfn).AsSpan().SequenceEqual(page), $"PFN {pfn}");
                Assert.Equal(0, lost);
                dumped++;
            }
            else
            {
                Assert.Equal(PageState.Lost, state);
                lost++;
            }
        }

        Assert.True(dumped > 0 && lost > 0, $"{dumped} dumped, {lost} lost");
    }

    [Fact]
    public void Huge_max_pfn_costs_no_memory_beyond_a_window()
    {
        // 2^40 PFNs (4 PiB of 4 KiB pages) would need 128 GiB per bitmap held in memory; sparse sinks cope.
        var ram = RangePfnBitmap.FromPfnRuns([(0, 16)]);
        var options = new KdumpWriterOptions
        {
            Machine = DumpMachine.X86_64,
            MaxPfn = 1UL << 27,
            RamBitmap = ram,
            DumpBitmap = ram,
            DumpLevel = 1,
        };
        var sink = new MemorySink();
        var w = new KdumpCompressedWriter(sink, options);
        for (ulong p = 0; p < 16; p++)
        {
            w.WritePage(p, new byte[4096]);
        }

        w.Complete();
        using var dump = KdumpCompressedDump.Open(new MemorySource(sink.ToArray()));
        Assert.Equal(1UL << 27, dump.MaxPfn);
        Assert.Equal(PageState.Dumped, dump.ReadPage(15, new byte[4096]));
        Assert.Equal(PageState.NotPresent, dump.ReadPage((1UL << 27) - 1, new byte[4096]));
    }

    /// <summary>A sink that fails like a full disk: writes reaching past Limit throw, rewrites below it work.</summary>
    private sealed class DiskFullSink(long limit) : IPositionedSink
    {
        public long Limit { get; set; } = limit;

        public MemorySink Inner { get; } = new();

        public void Write(long offset, ReadOnlySpan<byte> data)
        {
            if (offset + data.Length > Limit)
            {
                throw new IOException("No space left on device");
            }

            Inner.Write(offset, data);
        }

        public void Flush()
        {
        }

        public void Dispose()
        {
        }
    }
}
