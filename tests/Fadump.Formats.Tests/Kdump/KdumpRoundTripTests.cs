using Xunit;
using System.Buffers.Binary;
using Fadump.Formats.Compression;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;

namespace Fadump.Formats.Tests.Kdump;

public sealed class KdumpRoundTripTests
{
    public static TheoryData<string, int, PageCompression> Variants()
    {
        var data = new TheoryData<string, int, PageCompression>();
        foreach (var m in new[] { "x86_64", "ppc64le", "ppc64" })
        {
            foreach (int level in new[] { 0, 1, 31 })
            {
                foreach (var c in new[] { PageCompression.None, PageCompression.Zlib })
                {
                    data.Add(m, level, c);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Written_dump_reads_back_every_page(string machine, int level, PageCompression compression)
    {
        var mem = SyntheticMemory.For(machine).WithLevel(level);
        var bytes = mem.WriteKdump(level, compression);

        using var dump = KdumpCompressedDump.Open(new MemorySource(bytes, "rt.kdump"));
        Assert.Equal(DumpFormat.KdumpCompressed, dump.Format);
        Assert.Equal(mem.Machine, dump.Machine);
        Assert.Equal(mem.PageSize, dump.PageSize);
        Assert.Equal(mem.MaxPfn, dump.MaxPfn);
        Assert.Equal(level, dump.DumpLevel);
        Assert.False(dump.IsIncomplete);
        Assert.False(dump.IsFlattened);
        Assert.Equal((ulong)mem.DumpedPfns().Count(), dump.DumpedPageCount);
        mem.AssertMatches(dump);
    }

    [Theory]
    [InlineData("x86_64")]
    [InlineData("ppc64le")]
    [InlineData("ppc64")]
    public void Header_fields_round_trip(string machine)
    {
        var mem = SyntheticMemory.For(machine);
        var bytes = mem.WriteKdump(31, PageCompression.Zlib);
        using var dump = KdumpCompressedDump.Open(new MemorySource(bytes));

        Assert.Equal(6, dump.HeaderVersion);
        Assert.Equal(mem.Machine.BigEndian, dump.Header.BigEndian);
        Assert.Equal("Linux", dump.Sysname);
        Assert.Equal("testnode", dump.Nodename);
        Assert.Equal(SyntheticMemory.Release, dump.Release);
        Assert.Equal("#1 SMP PREEMPT_DYNAMIC", dump.KernelVersion);
        Assert.Equal(mem.Machine.UtsMachine, dump.UtsMachine);
        Assert.Equal("(none)", dump.Domainname);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000).AddTicks(1234560), dump.Timestamp);
        Assert.Equal(KdumpStatus.CompressedZlib, dump.Status);
        Assert.Equal(mem.Machine.Arch == DumpArch.X86_64 ? 0x1000000UL : 0, dump.PhysBase);
        Assert.Equal(2, dump.Header.NrCpus);
        Assert.Equal(1u, dump.Header.CurrentCpu);
        Assert.Equal((uint)mem.MaxPfn, dump.Header.MaxMapnr32);
        Assert.False(dump.IsSplit);

        // Notes right after the sub-header; offset_vmcoreinfo points at the VMCOREINFO descriptor inside them.
        Assert.Equal(mem.PageSize + 104, dump.Header.OffsetNote);
        Assert.Equal(3, dump.Notes.Count);
        Assert.Equal(2, dump.CpuStates().Count);
        Assert.Equal(11, dump.CpuStates()[0].CurSig);
        var vmcoreinfoText = SyntheticMemory.MakeVmcoreInfo(mem.PageSize).ToBytes();
        Assert.Equal((ulong)vmcoreinfoText.Length, dump.Header.SizeVmcoreinfo);
        Assert.Equal(vmcoreinfoText, bytes.AsSpan((int)dump.Header.OffsetVmcoreinfo, vmcoreinfoText.Length).ToArray());
        Assert.Equal(SyntheticMemory.Release, dump.VmcoreInfo!.OsRelease);
        Assert.Equal(1, dump.Header.SubHeaderBlocks);
    }

    [Fact]
    public void Header_layout_matches_the_spec_offsets_in_both_byte_orders()
    {
        foreach (var machine in new[] { DumpMachine.X86_64, DumpMachine.Ppc64 })
        {
            var mem = new SyntheticMemory(machine);
            var b = mem.WriteKdump(1, PageCompression.Zlib);
            bool be = machine.BigEndian;
            int ps = mem.PageSize;
            Assert.Equal("KDUMP   "u8.ToArray(), b[..8]);
            Assert.Equal(6, Endian.I32(b.AsSpan(8), be));
            Assert.Equal("Linux"u8.ToArray(), b.AsSpan(12, 5).ToArray());
            Assert.Equal(machine.UtsMachine, System.Text.Encoding.ASCII.GetString(b, 12 + (4 * 65), machine.UtsMachine.Length));
            Assert.Equal(1700000000L, Endian.I64(b.AsSpan(408), be));
            Assert.Equal(123456L, Endian.I64(b.AsSpan(416), be));
            Assert.Equal(1u, Endian.U32(b.AsSpan(424), be));
            Assert.Equal(ps, Endian.I32(b.AsSpan(428), be));
            Assert.Equal(1, Endian.I32(b.AsSpan(432), be));
            uint bitmapBlocks = Endian.U32(b.AsSpan(436), be);
            Assert.Equal(2u * (uint)((9000 / 8 + ps - 1) / ps), bitmapBlocks);
            Assert.Equal(9000u, Endian.U32(b.AsSpan(440), be));
            Assert.Equal(2, Endian.I32(b.AsSpan(460), be));

            // kdump_sub_header at block 1
            Assert.Equal(1, Endian.I32(b.AsSpan(ps + 8), be));                   // dump_level
            Assert.Equal(0, Endian.I32(b.AsSpan(ps + 12), be));                  // split
            Assert.Equal((ulong)ps + 104, Endian.U64(b.AsSpan(ps + 48), be));    // offset_note
            Assert.Equal(9000UL, Endian.U64(b.AsSpan(ps + 96), be));             // max_mapnr_64

            // bitmaps at (1 + sub_hdr_size) blocks, LSB first: PFN 0..99 RAM, 100..129 hole
            long bm1 = 2L * ps;
            Assert.Equal(0xff, b[bm1]);
            Assert.Equal(0x0f, b[bm1 + 12]);    // PFNs 96..99
            Assert.Equal(0x00, b[bm1 + 13]);
            long bm2 = bm1 + (bitmapBlocks / 2 * ps);
            Assert.Equal(0xff, b[bm2]);
        }
    }

    [Theory]
    [InlineData(PageCompression.Zlib)]
    [InlineData(PageCompression.None)]
    public void Zero_pages_share_one_descriptor_when_the_level_excludes_zero_pages(PageCompression compression)
    {
        var mem = SyntheticMemory.For("x86_64");
        var b = mem.WriteKdump(1, compression);
        using var dump = KdumpCompressedDump.Open(new MemorySource(b));
        long table = dump.Header.DescTableOffset;
        long dataStart = table + ((long)dump.DumpedPageCount * 24);
        int i = 0;
        foreach (var pfn in mem.DumpedPfns())
        {
            var d = b.AsSpan((int)(table + (i * 24)), 24);
            long off = BinaryPrimitives.ReadInt64LittleEndian(d);
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(d[8..]);
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(d[12..]);
            if (SyntheticMemory.IsZeroPage(pfn))
            {
                Assert.Equal(dataStart, off);
                Assert.Equal(4096u, size);
                Assert.Equal(0u, flags);
            }
            else
            {
                Assert.True(off >= dataStart + 4096, $"PFN {pfn} data at {off}: expected after the shared zero page");
                if (SyntheticMemory.IsRandomPage(pfn) || compression == PageCompression.None)
                {
                    Assert.Equal((4096u, 0u), (size, flags));
                }
                else
                {
                    Assert.Equal(1u, flags);
                    Assert.True(size < 4096);
                }
            }

            i++;
        }

        Assert.True(new byte[4096].AsSpan().SequenceEqual(b.AsSpan((int)dataStart, 4096)));
    }

    [Fact]
    public void Without_level_bit_1_zero_pages_are_compressed_one_by_one_and_no_zero_page_is_written()
    {
        var mem = SyntheticMemory.For("x86_64");
        var b = mem.WriteKdump(0, PageCompression.Zlib);
        using var dump = KdumpCompressedDump.Open(new MemorySource(b));
        long table = dump.Header.DescTableOffset;
        long dataStart = table + ((long)dump.DumpedPageCount * 24);
        var offsets = new HashSet<long>();
        int i = 0;
        foreach (var pfn in mem.DumpedPfns())
        {
            var d = b.AsSpan((int)(table + (i++ * 24)), 24);
            Assert.True(offsets.Add(BinaryPrimitives.ReadInt64LittleEndian(d)), $"PFN {pfn} shares a descriptor");
            if (SyntheticMemory.IsZeroPage(pfn))
            {
                Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(d[12..]));
            }
        }

        // The first data item is PFN 0's compressed zero page, right after the table.
        Assert.Equal(dataStart, BinaryPrimitives.ReadInt64LittleEndian(b.AsSpan((int)table)));
    }

    [Fact]
    public void Memory_ranges_come_from_the_first_bitmap_and_dumped_ranges_from_the_second()
    {
        var mem = SyntheticMemory.For("ppc64").WithLevel(31);
        using var dump = KdumpCompressedDump.Open(new MemorySource(mem.WriteKdump()));
        ulong ps = (ulong)mem.PageSize;
        Assert.Equal(mem.RamRuns.Select(r => new PhysicalRange(r.Start * ps, r.End * ps)), dump.MemoryRanges());
        var dumped = dump.DumpedRanges().ToList();
        Assert.Equal(mem.DumpedPfns().Count(), dumped.Sum(r => (long)(r.Size / ps)));
        Assert.DoesNotContain(dumped, r => r.Start / ps % 7 == 3);
    }

    [Fact]
    public void ReadPhysical_crosses_pages_and_stops_at_the_first_page_not_dumped()
    {
        var mem = SyntheticMemory.For("x86_64").WithLevel(31);
        using var dump = KdumpCompressedDump.Open(new MemorySource(mem.WriteKdump()));
        var buf = new byte[3 * 4096];

        // PFNs 4..6 are dumped (4 % 7 != 3 ... 6), read from the middle of PFN 4 across two boundaries.
        int n = dump.ReadPhysical((4 * 4096) + 100, buf.AsSpan(0, 8192));
        Assert.Equal(8192, n);
        var expected = mem.Page(4).Concat(mem.Page(5)).Concat(mem.Page(6)).Skip(100).Take(8192).ToArray();
        Assert.Equal(expected, buf[..8192]);

        // PFN 10 is excluded (10 % 7 == 3): a read from PFN 9 stops at its end.
        Assert.Equal(4096 - 10, dump.ReadPhysical((9 * 4096) + 10, buf));
        Assert.Equal(0, dump.ReadPhysical(10 * 4096, buf));
        Assert.Equal(0, dump.ReadPhysical(110 * 4096, buf));
    }

    [Fact]
    public void Pages_read_concurrently_match()
    {
        var mem = SyntheticMemory.For("x86_64").WithLevel(31);
        using var dump = KdumpCompressedDump.Open(new MemorySource(mem.WriteKdump()));
        var pfns = mem.DumpedPfns().ToArray();
        Parallel.ForEach(Enumerable.Range(0, 4), _ =>
        {
            var page = new byte[4096];
            foreach (var pfn in pfns.Reverse())
            {
                Assert.Equal(PageState.Dumped, dump.ReadPage(pfn, page));
                Assert.True(mem.Page(pfn).AsSpan().SequenceEqual(page));
            }
        });
    }

    [Fact]
    public void A_file_on_disk_opens_through_DumpFile()
    {
        var mem = SyntheticMemory.For("ppc64le").WithLevel(31);
        using var dir = new TempDir();
        string path = dir.Write("vmcore.kdump", mem.WriteKdump());
        using var dump = DumpFile.Open(path);
        Assert.IsType<KdumpCompressedDump>(dump);
        Assert.Equal(path, dump.Path);
        mem.AssertMatches(dump);
    }

    [Fact]
    public void Compressed_pages_from_a_parallel_pipeline_are_written_as_given()
    {
        var mem = SyntheticMemory.For("x86_64").WithLevel(31);
        var sink = new MemorySink();
        using (var w = new KdumpCompressedWriter(sink, mem.Options(31, PageCompression.Zlib)))
        {
            var page = new byte[mem.PageSize];
            var packed = new byte[mem.PageSize];
            foreach (var pfn in mem.DumpedPfns())
            {
                mem.Fill(pfn, page);
                int n = PageCodec.Compress(PageCompression.Zlib, page, packed.AsSpan(0, mem.PageSize - 1));
                if (n > 0 && !SyntheticMemory.IsZeroPage(pfn))
                {
                    w.WriteCompressedPage(pfn, packed.AsSpan(0, n), PageCompression.Zlib);
                }
                else
                {
                    w.WriteCompressedPage(pfn, page, PageCompression.None);
                }
            }

            w.Complete();
        }

        Assert.Equal(mem.WriteKdump(31, PageCompression.Zlib), sink.ToArray());
    }
}
