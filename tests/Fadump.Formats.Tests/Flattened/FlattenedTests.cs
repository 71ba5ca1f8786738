using System.Buffers.Binary;
using Xunit;
using Fadump.Formats.Compression;
using Fadump.Formats.Elf;
using Fadump.Formats.Flattened;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;
using Fadump.Formats.Tests.Kdump;

namespace Fadump.Formats.Tests.Flattened;

public sealed class FlattenedTests
{
    private static byte[] Flatten(Action<IPositionedSink> write)
    {
        var ms = new MemoryStream();
        using (var sink = new FlattenedSink(ms, leaveOpen: true))
        {
            write(sink);
        }

        return ms.ToArray();
    }

    private static byte[] Rearrange(byte[] flat)
    {
        var outSink = new MemorySink();
        FlattenedRearranger.Rearrange(new NonSeekableStream(new MemoryStream(flat)), outSink);
        Assert.Equal(1, outSink.FlushCount);
        return outSink.ToArray();
    }

    /// <summary>Header, records (offset, payload) and the end marker, as makedumpfile writes them.</summary>
    private static byte[] Build(params (long Offset, byte[] Data)[] records) => BuildRaw(true, records);

    private static byte[] BuildRaw(bool end, params (long Offset, byte[] Data)[] records)
    {
        var ms = new MemoryStream();
        var h = new byte[4096];
        "makedumpfile"u8.CopyTo(h);
        BinaryPrimitives.WriteInt64BigEndian(h.AsSpan(16), 1);
        BinaryPrimitives.WriteInt64BigEndian(h.AsSpan(24), 1);
        ms.Write(h);
        foreach (var (off, data) in records)
        {
            WriteRecordHeader(ms, off, data.Length);
            ms.Write(data);
        }

        if (end)
        {
            WriteRecordHeader(ms, -1, -1);
        }

        return ms.ToArray();
    }

    private static void WriteRecordHeader(Stream s, long offset, long size)
    {
        var rh = new byte[16];
        BinaryPrimitives.WriteInt64BigEndian(rh, offset);
        BinaryPrimitives.WriteInt64BigEndian(rh.AsSpan(8), size);
        s.Write(rh);
    }

    [Theory]
    [InlineData("x86_64")]
    [InlineData("ppc64le")]
    [InlineData("ppc64")]
    public void Flattened_write_rearranged_is_byte_identical_to_a_direct_write(string machine)
    {
        var mem = SyntheticMemory.For(machine).WithLevel(31);
        var direct = mem.WriteKdump(31, PageCompression.Zlib);
        var flat = Flatten(sink => mem.Write(sink, 31, PageCompression.Zlib));
        Assert.Equal("makedumpfile"u8.ToArray(), flat[..12]);
        Assert.Equal(direct, Rearrange(flat));
    }

    [Theory]
    [InlineData("x86_64")]
    [InlineData("ppc64")]
    public void A_flattened_file_reads_like_the_direct_file(string machine)
    {
        var mem = SyntheticMemory.For(machine).WithLevel(31);
        using var dir = new TempDir();
        string path = dir.Write("flat", Flatten(sink => mem.Write(sink, 31, PageCompression.Zlib)));
        using var dump = DumpFile.Open(path);
        var kdump = Assert.IsType<KdumpCompressedDump>(dump);
        Assert.True(dump.IsFlattened);
        Assert.Equal(path, dump.Path);
        Assert.Equal(SyntheticMemory.Release, kdump.Release);
        mem.AssertMatches(dump);

        using var src = FlattenedSource.Open(path);
        Assert.Equal(mem.WriteKdump(31, PageCompression.Zlib).Length, src.Length);
    }

    [Fact]
    public void A_flattened_ELF_core_opens_through_DumpFile()
    {
        var loads = new[] { new ElfSegmentSpec(0x100000, 0xffff888000100000, 8192, 8192) };
        var flat = Flatten(sink =>
        {
            var w = new ElfCoreWriter(sink, DumpMachine.X86_64, [], loads, 4096);
            w.Write(Enumerable.Range(0, 8192).Select(i => (byte)i).ToArray());
            w.Complete();
        });
        using var dir = new TempDir();
        using var dump = DumpFile.Open(dir.Write("elf.flat", flat));
        Assert.IsType<ElfDump>(dump);
        Assert.True(dump.IsFlattened);
        var buf = new byte[4];
        Assert.Equal(4, dump.ReadPhysical(0x100000 + 4097, buf));
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, buf);
    }

    [Fact]
    public void Contiguous_writes_are_coalesced_and_records_are_capped()
    {
        var ms = new MemoryStream();
        using var sink = new FlattenedSink(ms, leaveOpen: true);
        var chunk = new byte[1000];
        for (int i = 0; i < 100; i++)
        {
            sink.Write(i * 1000L, chunk);
        }

        sink.Write(0, new byte[10]);
        sink.Write(1L << 20, new byte[FlattenedSink.MaxRecordSize + 5]);
        sink.Flush();
        Assert.Equal(4, sink.RecordCount);
        Assert.Throws<InvalidOperationException>(() => sink.Write(0, new byte[1]));
    }

    [Fact]
    public void Later_records_win_and_holes_read_as_zeros()
    {
        var flat = Build((0, [1, 1, 1, 1, 1, 1]), (10, [2, 2]), (3, [3, 3, 3, 3, 3, 3, 3, 3]), (4, [4]));
        using var src = FlattenedSource.Open(new MemorySource(flat, "f"));
        Assert.Equal(12, src.Length);
        var buf = new byte[12];
        Assert.Equal(12, src.Read(0, buf));
        Assert.Equal(new byte[] { 1, 1, 1, 3, 4, 3, 3, 3, 3, 3, 3, 2 }, buf);
        Assert.Equal(4, src.RecordCount);
        Assert.Equal(new byte[] { 1, 1, 1, 3, 4, 3, 3, 3, 3, 3, 3, 2 }, Rearrange(flat));

        var gap = Build((0, [1]), (8, [2]));
        using var g = FlattenedSource.Open(new MemorySource(gap, "g"));
        var gb = new byte[9];
        Assert.Equal(9, g.Read(0, gb));
        Assert.Equal(new byte[] { 1, 0, 0, 0, 0, 0, 0, 0, 2 }, gb);
        Assert.Equal(0, g.Read(9, gb));
    }

    [Fact]
    public void Records_become_runs_and_pieces_of_one_record_rejoin()
    {
        // The sink cuts records at 4 MiB; the index keeps each as a run (16-byte headers sit between them).
        var flat = Flatten(sink =>
        {
            sink.Write(0, new byte[(FlattenedSink.MaxRecordSize * 2) + 1]);
            sink.Flush();
        });
        using var src = FlattenedSource.Open(new MemorySource(flat, "f"));
        Assert.Equal(3, src.RecordCount);
        Assert.Equal(3, src.RunCount);

        // A header rewritten at the end covers what came before: the sweep cuts it at the older boundaries
        // (0, 40, 50, 100) and the pieces, contiguous in the file, rejoin into one run.
        var last = Enumerable.Range(0, 100).Select(i => (byte)i).ToArray();
        var over = Build((0, new byte[100]), (40, new byte[10]), (0, last));
        using var o = FlattenedSource.Open(new MemorySource(over, "o"));
        Assert.Equal(1, o.RunCount);
        var buf = new byte[100];
        o.Read(0, buf);
        Assert.Equal(last, buf);
    }

    private static DumpFormatException Fails(byte[] flat, long offset, string expectation)
    {
        var e = Assert.Throws<DumpFormatException>(() => FlattenedSource.Open(new MemorySource(flat, "bad.flat")).Dispose());
        Assert.Equal(offset, e.Offset);
        Assert.StartsWith($"bad.flat: at offset 0x{offset:x}: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(expectation, e.Message, StringComparison.Ordinal);
        return e;
    }

    [Fact]
    public void Wrong_signature_type_and_version()
    {
        var b = Build((0, [1]));
        b[3] = (byte)'X';
        Fails(b, 0, "expected \"makedumpfile\" NUL-padded");

        b = Build((0, [1]));
        b[13] = (byte)'!';
        Fails(b, 0, "expected \"makedumpfile\" NUL-padded");

        b = Build((0, [1]));
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(16), 1);
        Fails(b, 16, "expected 1 (TYPE_FLAT_HEADER, big-endian)");

        b = Build((0, [1]));
        BinaryPrimitives.WriteInt64BigEndian(b.AsSpan(24), 2);
        Fails(b, 24, "flattened header version 2: expected 1");

        Fails(Build()[..1000], 0, "flattened header: expected 4096 bytes");
    }

    [Fact]
    public void Record_past_the_end_of_file()
    {
        var b = Build((0, [1, 2, 3]), (100, new byte[50]));
        var cut = b[..(4096 + 19 + 16 + 20)];
        Fails(cut, 4096 + 19, "expected its data inside the file, which has 20 bytes left");
    }

    [Fact]
    public void Negative_size_and_negative_offset()
    {
        var b = BuildRaw(false, (0, [1]));
        var ms = new MemoryStream();
        ms.Write(b);
        WriteRecordHeader(ms, 0, -5);
        Fails(ms.ToArray(), 4096 + 17, "(offset 0, size -5): expected a non-negative offset and size");

        ms = new MemoryStream();
        ms.Write(b);
        WriteRecordHeader(ms, -1, 5);
        ms.Write(new byte[5]);
        Fails(ms.ToArray(), 4096 + 17, "or the end marker (-1, -1)");
    }

    [Fact]
    public void Absurd_offset()
    {
        var b = BuildRaw(false, (0, [1]));
        var ms = new MemoryStream();
        ms.Write(b);
        WriteRecordHeader(ms, long.MaxValue - 2, 4);
        ms.Write(new byte[4]);
        Fails(ms.ToArray(), 4096 + 17, "expected it to end below 2^60");
    }

    [Fact]
    public void Missing_end_marker_is_an_error_unless_truncation_is_allowed()
    {
        var b = BuildRaw(false, (0, [1, 2, 3]), (3, [4]));
        Fails(b, b.Length, "expected a record or the end marker (-1, -1), but the file ends");

        using var src = FlattenedSource.Open(new MemorySource(b, "t"), allowTruncated: true);
        Assert.True(src.IsTruncated);
        Assert.Equal(4, src.Length);

        // A record cut in the middle is dropped.
        var cut = b[..^1];
        using var src2 = FlattenedSource.Open(new MemorySource(cut, "t"), allowTruncated: true);
        Assert.True(src2.IsTruncated);
        Assert.Equal(3, src2.Length);

        var e = Assert.Throws<DumpFormatException>(() => Rearrange(b));
        Assert.Equal(b.Length, e.Offset);
        Assert.Contains("<stdin>: at offset", e.Message, StringComparison.Ordinal);
        Assert.Contains("but the stream ends after 0 (truncated stream?)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rearrange_refuses_a_negative_size()
    {
        var ms = new MemoryStream();
        ms.Write(BuildRaw(false));
        WriteRecordHeader(ms, 0, -7);
        var e = Assert.Throws<DumpFormatException>(() => Rearrange(ms.ToArray()));
        Assert.Equal(4096, e.Offset);
    }

    [Fact]
    public void Disposing_without_Flush_leaves_no_end_marker()
    {
        var ms = new MemoryStream();
        using (var sink = new FlattenedSink(ms, leaveOpen: true))
        {
            sink.Write(0, [1, 2, 3]);
        }

        var b = ms.ToArray();
        Assert.Equal(4096 + 16 + 3, b.Length);
        Assert.Throws<DumpFormatException>(() => FlattenedSource.Open(new MemorySource(b, "t")));
    }

    /// <summary>A pipe: no seeking, no length, reads return what they return.</summary>
    private sealed class NonSeekableStream(Stream inner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        // Short reads, as a pipe gives them.
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, 1000));

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
