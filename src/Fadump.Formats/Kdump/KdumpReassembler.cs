using Fadump.Formats.IO;
using static System.FormattableString;

namespace Fadump.Formats.Kdump;

/// <summary>
/// makedumpfile --reassemble: joins the files of a --split set into one kdump-compressed file, byte for byte
/// as makedumpfile writes it (reassemble_kdump_header, reassemble_kdump_pages): the first file's headers with
/// split, start_pfn and end_pfn cleared, its notes and bitmaps, then one page_desc per dumped PFN and the page
/// data, file after file in PFN order, the shared zero page first at dump levels that exclude zero pages,
/// the files' erase info last. Streams with bounded memory (makedumpfile reads the whole bitmap at once).
/// </summary>
/// <remarks>
/// Unlike makedumpfile, which refuses a set whose disk_dump_headers differ at all, a set with incomplete files
/// (status 0x8) is joined too: their lost pages stay lost (zero descriptors) and the output is flagged
/// incomplete. The output carries status 0x8 until it is complete, as every writer here does.
/// </remarks>
public static class KdumpReassembler
{
    private const int CopyChunk = 1 << 20;
    private const int DescChunk = 4096;

    /// <summary>What was written.</summary>
    public sealed record Result(ulong Pages, long Bytes, bool Incomplete);

    public static Result Reassemble(KdumpSplitSet set, IPositionedSink sink, IProgress<(ulong Done, ulong Total)>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(sink);
        if (set.MissingPfnRanges.Count > 0)
        {
            var (s, e) = set.MissingPfnRanges[0];
            throw new DumpFormatException(set.Path, Invariant($"no file of the split set holds PFNs [0x{s:x}, 0x{e:x}): a file of the set is missing"));
        }

        var parts = set.Parts;
        var first = parts[0];
        var h = first.Header;
        bool be = h.BigEndian;
        int ps = h.BlockSize;
        var header = new byte[KdumpLayout.HeaderSize];
        first.Source.ReadExactly(0, header, "disk_dump_header");
        CheckSameHeaders(parts, header, be);
        bool incomplete = parts.Any(p => p.IsIncomplete);
        if (incomplete)
        {
            // makedumpfile takes the header of the first incomplete file: the same bytes, status 0x8 set.
            parts.First(p => p.IsIncomplete).Source.ReadExactly(0, header, "disk_dump_header");
        }

        uint finalStatus = Endian.U32(header.AsSpan(KdumpLayout.Status), be);
        Endian.Write(header.AsSpan(KdumpLayout.Status), finalStatus | (uint)KdumpStatus.Incomplete, be);
        sink.Write(0, header);

        int subBytes = KdumpLayout.SubHeaderBytes(h.Version);
        var sub = new byte[subBytes];
        first.Source.ReadExactly(ps, sub, "kdump_sub_header");
        ClearSplit(sub, be);
        sink.Write(ps, sub);

        // The notes and VMCOREINFO where the first file has them (inside the sub-header blocks).
        Copy(first, h.OffsetNote, h.SizeNote, sink, "ELF notes");
        Copy(first, h.OffsetVmcoreinfo, h.SizeVmcoreinfo, sink, "VMCOREINFO");

        // Both bitmaps as the first file has them: every file of a set carries the complete bitmaps.
        Copy(first, h.Bitmap1Offset, (ulong)h.BitmapBlocks * (ulong)ps, sink, "bitmaps");

        ulong total = first.DumpedPageCount;
        long table = h.DescTableOffset;
        long dataStart = table + checked((long)total * KdumpLayout.PageDescSize);
        bool shareZero = ((h.DumpLevel ?? 0) & 1) != 0;
        var output = new Output(sink, table, dataStart, be);
        long zeroOffset = 0;
        if (shareZero)
        {
            // makedumpfile: the zero page is the first data item, and at this same offset in every file of the set.
            zeroOffset = dataStart;
            output.AppendData(new byte[ps]);
        }

        var page = new byte[ps];
        var descs = new byte[DescChunk * KdumpLayout.PageDescSize];
        ulong done = 0;
        foreach (var part in parts)
        {
            var ph = part.Header;
            if (ph.DescTableOffset != table)
            {
                throw new DumpFormatException(part.Path, KdumpLayout.SubHdrSize,
                    Invariant($"page_desc table at 0x{ph.DescTableOffset:x}: expected 0x{table:x}, as in {first.Path}"));
            }

            ulong index = 0, buffered = 0, bufferStart = 0;
            foreach (var (start, end) in first.DumpedPfnRuns(part.StartPfn, part.EndPfn))
            {
                for (ulong pfn = start; pfn < end; pfn++, index++)
                {
                    ct.ThrowIfCancellationRequested();
                    if (index - bufferStart >= buffered)
                    {
                        bufferStart = index;
                        buffered = ReadDescs(part, table, index, descs);
                    }

                    var d = descs.AsSpan((int)(index - bufferStart) * KdumpLayout.PageDescSize, KdumpLayout.PageDescSize);
                    long offset = Endian.I64(d[KdumpLayout.DescOffset..], be);
                    uint size = Endian.U32(d[KdumpLayout.DescSize..], be);
                    if (offset == 0 && size == 0 && part.IsIncomplete)
                    {
                        // Never written by the failed writer: lost here too.
                        output.AddDescriptor(d, 0, 0);
                        continue;
                    }

                    if (size == 0 || size > (uint)ps || offset < table || offset > part.Source.Length - size)
                    {
                        throw new DumpFormatException(part.Path, table + ((long)index * KdumpLayout.PageDescSize),
                            Invariant($"page_desc of PFN 0x{pfn:x}: data at [0x{offset:x}, +0x{size:x}): expected 1 to {ps} bytes after the page_desc table and inside the {part.Source.Length}-byte file"));
                    }

                    if (shareZero && offset == zeroOffset)
                    {
                        output.AddDescriptor(d, zeroOffset, (uint)ps, zero: true);
                        continue;
                    }

                    part.Source.ReadExactly(offset, page.AsSpan(0, (int)size), "page data");
                    long at = output.AppendData(page.AsSpan(0, (int)size));
                    output.AddDescriptor(d, at, size);
                }

                done += end - start;
                progress?.Report((done, total));
            }
        }

        output.Finish();
        long eraseAt = output.Length;
        ulong eraseSize = 0;
        foreach (var part in parts.Where(p => p.Header.SizeEraseinfo > 0))
        {
            Copy(part, part.Header.OffsetEraseinfo, part.Header.SizeEraseinfo, sink, "erase info", eraseAt + (long)eraseSize);
            eraseSize += part.Header.SizeEraseinfo;
        }

        if (eraseSize > 0 && subBytes >= KdumpLayout.SizeEraseinfo + 8)
        {
            Endian.Write(sub.AsSpan(KdumpLayout.OffsetEraseinfo), eraseAt, be);
            Endian.Write(sub.AsSpan(KdumpLayout.SizeEraseinfo), eraseSize, be);
            sink.Write(ps, sub);
        }

        // Pages and table durable first, then the header without status 0x8 (unless a file of the set was incomplete).
        sink.Barrier();
        Endian.Write(header.AsSpan(KdumpLayout.Status), finalStatus, be);
        sink.Write(0, header);
        sink.Flush();
        return new Result(done, eraseAt + (long)eraseSize, incomplete);
    }

    /// <summary>makedumpfile store_splitting_info: the files must be parts of one vmcore, their disk_dump_headers alike (status 0x8 aside).</summary>
    private static void CheckSameHeaders(IReadOnlyList<KdumpCompressedDump> parts, byte[] first, bool be)
    {
        var other = new byte[KdumpLayout.HeaderSize];
        var a = (byte[])first.Clone();
        uint mask = ~(uint)KdumpStatus.Incomplete;
        Endian.Write(a.AsSpan(KdumpLayout.Status), Endian.U32(a.AsSpan(KdumpLayout.Status), be) & mask, be);
        foreach (var p in parts.Skip(1))
        {
            p.Source.ReadExactly(0, other, "disk_dump_header");
            Endian.Write(other.AsSpan(KdumpLayout.Status), Endian.U32(other.AsSpan(KdumpLayout.Status), be) & mask, be);
            int at = a.AsSpan().CommonPrefixLength(other);
            if (at < a.Length)
            {
                throw new DumpFormatException(p.Path, at,
                    Invariant($"disk_dump_header differs from that of {parts[0].Path} at byte {at}: expected the files of one --split set"));
            }
        }
    }

    private static void ClearSplit(Span<byte> sub, bool be)
    {
        if (sub.Length >= KdumpLayout.EndPfn + 8)
        {
            Endian.Write(sub[KdumpLayout.Split..], 0u, be);
            Endian.Write(sub[KdumpLayout.StartPfn..], 0UL, be);
            Endian.Write(sub[KdumpLayout.EndPfn..], 0UL, be);
        }

        if (sub.Length >= KdumpLayout.EndPfn64 + 8)
        {
            Endian.Write(sub[KdumpLayout.StartPfn64..], 0UL, be);
            Endian.Write(sub[KdumpLayout.EndPfn64..], 0UL, be);
        }
    }

    /// <summary>Up to one chunk of a file's descriptors from index on; those beyond the end of an incomplete file read as zeros.</summary>
    private static ulong ReadDescs(KdumpCompressedDump part, long table, ulong index, byte[] descs)
    {
        long at = table + ((long)index * KdumpLayout.PageDescSize);
        long room = Math.Max(0, part.Source.Length - at);
        int want = descs.Length;
        int have = (int)Math.Min(want, room - (room % KdumpLayout.PageDescSize));
        if (have < want)
        {
            descs.AsSpan(have).Clear();
        }

        if (have > 0)
        {
            part.Source.ReadExactly(at, descs.AsSpan(0, have), "page_desc");
        }

        if (have == 0 && !part.IsIncomplete)
        {
            throw new DumpFormatException(part.Path, at, Invariant($"page_desc {index} at 0x{at:x}: expected it inside the {part.Source.Length}-byte file"));
        }

        return (ulong)(want / KdumpLayout.PageDescSize);
    }

    private static void Copy(KdumpCompressedDump from, long offset, ulong size, IPositionedSink sink, string what, long? to = null)
    {
        if (size == 0)
        {
            return;
        }

        if (offset < 0 || size > (ulong)from.Source.Length || offset > from.Source.Length - (long)size)
        {
            throw new DumpFormatException(from.Path, offset, Invariant($"{what} [0x{offset:x}, +0x{size:x}): expected them inside the {from.Source.Length}-byte file"));
        }

        var buf = new byte[(int)Math.Min((ulong)CopyChunk, size)];
        for (ulong done = 0; done < size;)
        {
            int n = (int)Math.Min((ulong)buf.Length, size - done);
            from.Source.ReadExactly(offset + (long)done, buf.AsSpan(0, n), what);
            sink.Write((to ?? offset) + (long)done, buf.AsSpan(0, n));
            done += (ulong)n;
        }
    }

    /// <summary>The output's table and data, each buffered and written in order: data first, so no descriptor points at data not yet written.</summary>
    private sealed class Output(IPositionedSink sink, long table, long dataStart, bool be)
    {
        private readonly byte[] _descs = new byte[DescChunk * KdumpLayout.PageDescSize];
        private readonly byte[] _data = new byte[CopyChunk];
        private int _descCount;
        private long _descsWritten;
        private int _dataBuffered;
        private long _dataFlushed = dataStart;

        public long Length => _dataFlushed + _dataBuffered;

        public long AppendData(ReadOnlySpan<byte> data)
        {
            if (_dataBuffered + data.Length > _data.Length)
            {
                FlushData();
            }

            long at = Length;
            data.CopyTo(_data.AsSpan(_dataBuffered));
            _dataBuffered += data.Length;
            return at;
        }

        /// <summary>The input descriptor with a new offset (and, for the zero page, makedumpfile's pd_zero: flags and page_flags 0).</summary>
        public void AddDescriptor(ReadOnlySpan<byte> input, long offset, uint size, bool zero = false)
        {
            var d = _descs.AsSpan(_descCount * KdumpLayout.PageDescSize, KdumpLayout.PageDescSize);
            input.CopyTo(d);
            Endian.Write(d[KdumpLayout.DescOffset..], offset, be);
            Endian.Write(d[KdumpLayout.DescSize..], size, be);
            if (zero)
            {
                Endian.Write(d[KdumpLayout.DescFlags..], 0u, be);
                Endian.Write(d[KdumpLayout.DescPageFlags..], 0UL, be);
            }

            if (++_descCount == DescChunk)
            {
                FlushData();
                FlushDescs();
            }
        }

        public void Finish()
        {
            FlushData();
            FlushDescs();
        }

        private void FlushData()
        {
            if (_dataBuffered > 0)
            {
                sink.Write(_dataFlushed, _data.AsSpan(0, _dataBuffered));
                _dataFlushed += _dataBuffered;
                _dataBuffered = 0;
            }
        }

        private void FlushDescs()
        {
            if (_descCount > 0)
            {
                sink.Write(table + (_descsWritten * KdumpLayout.PageDescSize), _descs.AsSpan(0, _descCount * KdumpLayout.PageDescSize));
                _descsWritten += _descCount;
                _descCount = 0;
            }
        }
    }
}
