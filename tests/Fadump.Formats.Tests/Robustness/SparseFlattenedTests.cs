using System.Buffers.Binary;
using System.Diagnostics;
using Fadump.Formats.Compression;
using Fadump.Formats.Flattened;
using Fadump.Formats.IO;
using Fadump.Formats.Tests.Kdump;

namespace Fadump.Formats.Tests.Robustness;

/// <summary>
/// A flattened file's logical length is set by its highest record, so a few KiB of records can describe an
/// exabyte-sized file of zeros. Header fields pointing into that hole passed the "inside the file" checks: a
/// 9 KiB file claiming 4 TiB bitmaps made the kdump reader allocate a 2 GiB rank index and scan 2^42 bytes
/// of zeros (a hang), and 64 MiB note segments were allocated from nothing. Sizes are now checked against the
/// bytes the file stores.
/// </summary>
public sealed class SparseFlattenedTests
{
    private static byte[] Flatten(byte[] inner, params (long Offset, byte[] Data)[] more)
    {
        using var ms = new MemoryStream();
        using (var sink = new FlattenedSink(ms, leaveOpen: true))
        {
            sink.Write(0, inner);
            foreach (var (offset, data) in more)
            {
                sink.Write(offset, data);
            }

            sink.Flush();
        }

        return ms.ToArray();
    }

    private static DumpFormatException FailsCheaply(byte[] file)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var sw = Stopwatch.StartNew();
        var e = Assert.Throws<DumpFormatException>(() =>
        {
            using var dump = DumpFile.Open(new MemorySource(file, "sparse.flat"));
            DumpExerciser.Exercise(dump, new Random(1));
        });
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 16L << 20, $"allocated {allocated} bytes for a {file.Length}-byte file");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
        return e;
    }

    [Fact]
    public void Kdump_bitmaps_in_the_hole_of_a_flattened_file_are_rejected()
    {
        var kdump = new SyntheticMemory(DumpMachine.X86_64, 4096, 300, [(0, 24)]).WriteKdump(31, PageCompression.Zlib);
        BinaryPrimitives.WriteUInt32LittleEndian(kdump.AsSpan(436), 0x8000_0000);          // bitmap_blocks: 2 × 4 TiB
        BinaryPrimitives.WriteUInt32LittleEndian(kdump.AsSpan(440), uint.MaxValue);
        BinaryPrimitives.WriteUInt64LittleEndian(kdump.AsSpan(4096 + 96), 1UL << 40);      // max_mapnr_64
        // The 2nd bitmap marks PFNs 0..23 dumped (so a page read builds the rank index); a record far out
        // stretches the logical file over both bitmaps.
        var file = Flatten(kdump, (8192 + (1L << 42), [0xff, 0xff, 0xff]), (1L << 58, [1]));

        var e = FailsCheaply(file);
        Assert.Contains("bitmap_blocks 2147483648", e.Message, StringComparison.Ordinal);
        Assert.Contains("bytes of data the file stores", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Kdump_notes_in_the_hole_of_a_flattened_file_are_rejected()
    {
        var kdump = new SyntheticMemory(DumpMachine.X86_64, 4096, 300, [(0, 24)]).WriteKdump(31, PageCompression.Zlib);
        BinaryPrimitives.WriteInt64LittleEndian(kdump.AsSpan(4096 + 48), 1L << 40);        // offset_note
        BinaryPrimitives.WriteUInt64LittleEndian(kdump.AsSpan(4096 + 56), 60UL << 20);     // size_note: 60 MiB
        var file = Flatten(kdump, (1L << 41, [1]));

        var e = FailsCheaply(file);
        Assert.Contains("ELF notes of 62914560 bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Elf_note_segment_in_the_hole_of_a_flattened_file_is_rejected()
    {
        var elf = TestDumps.BuildElf(DumpMachine.X86_64, 4096);
        BinaryPrimitives.WriteUInt64LittleEndian(elf.AsSpan(64 + 8), 1UL << 40);           // PT_NOTE p_offset
        BinaryPrimitives.WriteUInt64LittleEndian(elf.AsSpan(64 + 32), 60UL << 20);         // p_filesz: 60 MiB
        var file = Flatten(elf, (1L << 41, [1]));

        var e = FailsCheaply(file);
        Assert.Contains("bytes of data the file stores", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sparse_flattened_file_with_its_structures_stored_still_reads()
    {
        var mem = new SyntheticMemory(DumpMachine.X86_64, 4096, 300, [(0, 24)]).WithLevel(31);
        var file = Flatten(mem.WriteKdump(31, PageCompression.Zlib), (1L << 50, [1]));
        using var dump = DumpFile.Open(new MemorySource(file, "sparse.flat"));
        Assert.True(((Formats.Kdump.KdumpCompressedDump)dump).Source.Length > 1L << 50);
        mem.AssertMatches(dump);
    }
}
