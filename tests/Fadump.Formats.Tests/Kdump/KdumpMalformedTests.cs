using System.Buffers.Binary;
using Xunit;
using Fadump.Formats.Compression;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;

namespace Fadump.Formats.Tests.Kdump;

/// <summary>Bad bytes built on purpose from a valid x86_64 dump: each must fail with the offset and the expectation.</summary>
public sealed class KdumpMalformedTests
{
    private const int Ps = 4096;
    private const int Sub = Ps;                       // kdump_sub_header at block 1
    private static readonly SyntheticMemory Mem = SyntheticMemory.For("x86_64").WithLevel(31);
    private static readonly byte[] Valid = Mem.WriteKdump(31, PageCompression.Zlib);

    private static byte[] Copy() => (byte[])Valid.Clone();

    private static long Bitmap2Offset(byte[] b) => (2L * Ps) + (BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(436)) / 2 * Ps);

    private static long DescTable(byte[] b) => (2L * Ps) + (BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(436)) * Ps);

    /// <summary>File offset of the descriptor of the n-th dumped PFN.</summary>
    private static int DescOf(byte[] b, ulong pfn) => (int)(DescTable(b) + (Mem.DumpedPfns().TakeWhile(p => p < pfn).Count() * 24));

    private static DumpFormatException OpenFails(byte[] b, long offset, string expectation)
    {
        var e = Assert.Throws<DumpFormatException>(() => KdumpCompressedDump.Open(new MemorySource(b, "bad.kdump")).Dispose());
        AssertNames(e, offset, expectation);
        return e;
    }

    private static DumpFormatException ReadFails(byte[] b, ulong pfn, long offset, string expectation)
    {
        using var dump = KdumpCompressedDump.Open(new MemorySource(b, "bad.kdump"));
        var e = Assert.Throws<DumpFormatException>(() => dump.ReadPage(pfn, new byte[Ps]));
        AssertNames(e, offset, expectation);
        return e;
    }

    private static void AssertNames(DumpFormatException e, long offset, string expectation)
    {
        Assert.Equal(offset, e.Offset);
        Assert.StartsWith($"bad.kdump: at offset 0x{offset:x}: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("expected", e.Message, StringComparison.Ordinal);
        Assert.Contains(expectation, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Wrong_signature()
    {
        var b = Copy();
        "KDUMPXXX"u8.CopyTo(b);
        OpenFails(b, 0, "\"KDUMP   \" or \"DISKDUMP\"");
        var e = Assert.Throws<DumpFormatException>(() => DumpFile.Open(new MemorySource(b, "bad.kdump")));
        Assert.Contains("unknown dump format", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Truncated_header() => OpenFails(Valid[..200], 0, "disk_dump_header: expected 464 bytes");

    [Fact]
    public void Block_size_not_a_page_size()
    {
        var b = Copy();
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(428), 3000);
        OpenFails(b, 8, "power-of-two block size from 4096 to 1048576");
    }

    [Fact]
    public void Huge_sub_hdr_size()
    {
        var b = Copy();
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(432), 0x10000000);
        OpenFails(b, 432, "sub-header to end inside the");
    }

    [Fact]
    public void Bitmap_blocks_past_the_end_of_file()
    {
        var b = Copy();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(436), 0x7ffffffe);
        OpenFails(b, 436, "ending inside the");
    }

    [Fact]
    public void Odd_bitmap_blocks()
    {
        var b = Copy();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(436), 3);
        OpenFails(b, 436, "nonzero even count");
    }

    [Fact]
    public void Bitmaps_too_small_for_max_mapnr()
    {
        var b = Copy();
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(Sub + 96), (Ps * 8) + 1);
        OpenFails(b, 436, "2 × ceil(max_mapnr / 8)");
    }

    [Fact]
    public void Absurd_max_mapnr()
    {
        var b = Copy();
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(Sub + 96), 1UL << 60);
        OpenFails(b, Sub + 96, "expected at most 0x10000000000");
    }

    [Fact]
    public void Vmcoreinfo_outside_the_file()
    {
        var b = Copy();
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(Sub + 32), b.Length - 10);
        OpenFails(b, Sub + 32, "VMCOREINFO at");
    }

    [Fact]
    public void Absurd_note_size()
    {
        var b = Copy();
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(Sub + 56), 1UL << 40);
        OpenFails(b, Sub + 56, "ELF notes of 1099511627776 bytes: expected at most");
    }

    [Fact]
    public void Unknown_machine()
    {
        var b = Copy();
        b.AsSpan(12 + (4 * 65), 65).Clear();
        "aarch64"u8.CopyTo(b.AsSpan(12 + (4 * 65)));
        OpenFails(b, 12 + (4 * 65), "expected x86_64, ppc64le or ppc64");
    }

    [Fact]
    public void Split_range_past_max_mapnr()
    {
        var b = Copy();
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(Sub + 12), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(Sub + 80), 10);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(Sub + 88), 100000);
        OpenFails(b, Sub + 80, "start <= end <= max_mapnr");
    }

    [Fact]
    public void Bit_set_in_bitmap_2_but_not_in_bitmap_1()
    {
        // PFN 110 is in the hole [100, 130).
        var b = Copy();
        long at = Bitmap2Offset(b) + (110 / 8);
        b[at] |= 1 << (110 % 8);
        ReadFails(b, 110, at, "expected every dumped page to be RAM");

        // Any page read builds the rank index, which finds it too.
        var e = ReadFails(b, 4, at, "PFN 0x6e is set in the 2nd bitmap");
        Assert.Contains("not in the 1st", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Descriptor_offset_outside_the_file()
    {
        var b = Copy();
        int d = DescOf(b, 1);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(d), b.Length + 10L);
        ReadFails(b, 1, d, "expected it after the page_desc table");
    }

    [Fact]
    public void Descriptor_offset_inside_the_headers()
    {
        var b = Copy();
        int d = DescOf(b, 1);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(d), 0);
        ReadFails(b, 1, d, "expected it after the page_desc table");
    }

    [Fact]
    public void Descriptor_size_larger_than_a_block()
    {
        var b = Copy();
        int d = DescOf(b, 1);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(d + 8), 8192);
        ReadFails(b, 1, d + 8, "size 8192: expected 1 to block_size 4096");
    }

    [Fact]
    public void Raw_page_of_the_wrong_size()
    {
        var b = Copy();
        int d = DescOf(b, 2);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(d + 12), 0);
        ReadFails(b, 2, d + 8, "uncompressed page (flags 0)");
    }

    [Fact]
    public void Unknown_descriptor_flags()
    {
        var b = Copy();
        int d = DescOf(b, 1);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(d + 12), 0x40);
        ReadFails(b, 1, d + 12, "flags 0x40: expected 0 or one of");
    }

    [Fact]
    public void Corrupt_compressed_page()
    {
        // PFN 2 holds a pattern: zlib-compressed. Break its deflate stream and checksum.
        var b = Copy();
        int d = DescOf(b, 2);
        long off = BinaryPrimitives.ReadInt64LittleEndian(b.AsSpan(d));
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(d + 8));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(d + 12)));
        for (long i = off + 2; i < off + size; i++)
        {
            b[i] ^= 0x5a;
        }

        var e = ReadFails(b, 2, off, "Zlib data of PFN 0x2");
        Assert.Contains("expected it to decompress to one 4096-byte page", e.Message, StringComparison.Ordinal);
        Assert.IsType<InvalidDataException>(e.InnerException);
    }

    [Fact]
    public void Page_desc_table_cut_short_in_a_complete_dump()
    {
        var b = Valid[..(int)(DescTable(Valid) + 100)];
        ReadFails(b, 0, DescTable(Valid), "page_desc table of");
    }

    [Fact]
    public void Page_desc_table_cut_short_in_an_incomplete_dump_reads_as_lost()
    {
        var b = Valid[..(int)(DescTable(Valid) + 100)];
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(424), (uint)(KdumpStatus.CompressedZlib | KdumpStatus.Incomplete));
        using var dump = KdumpCompressedDump.Open(new MemorySource(b, "bad.kdump"));
        var page = new byte[Ps];
        Assert.Equal(PageState.Lost, dump.ReadPage(0, page));
        Assert.Equal(PageState.Lost, dump.ReadPage(4199, page));
        Assert.Equal(PageState.Excluded, dump.ReadPage(3, page));
    }
}
