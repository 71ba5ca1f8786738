using Fadump.Formats.Compression;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using static System.FormattableString;

namespace Fadump.Formats.Kdump;

/// <summary>
/// Streams a kdump-compressed file (header version 6) to a positioned sink with bounded memory: the bitmaps
/// are filled a window at a time, descriptors go to the table in chunks with positioned writes, page data is
/// appended after the table. Pages come through <see cref="WritePage"/> in ascending order of the PFNs set in
/// the dump bitmap. Not thread-safe: a parallel pipeline compresses elsewhere and calls
/// <see cref="WriteCompressedPage"/> in order.
/// </summary>
public sealed class KdumpCompressedWriter : IDisposable
{
    private const int BitmapWindowBytes = 1 << 20;
    private const int CursorWindowBytes = 4096;
    private const int DescChunk = 4096;
    private const int DataBufferSize = 1 << 20;

    private readonly IPositionedSink _sink;
    private readonly KdumpWriterOptions _options;
    private readonly KdumpHeader _header;
    private readonly int _pageSize;
    private readonly bool _be;
    private readonly bool _shareZeroPages;
    private readonly ulong _rangeStart;
    private readonly ulong _rangeEnd;
    private readonly byte[] _descs = new byte[DescChunk * KdumpLayout.PageDescSize];
    private readonly byte[] _data = new byte[DataBufferSize];
    private readonly byte[] _compressed;
    private readonly byte[] _cursorBits = new byte[CursorWindowBytes];
    private ulong _cursorWindowStart = ulong.MaxValue;
    private ulong _cursor;
    private ulong _descsWritten;
    private int _descsBuffered;
    private int _dataBuffered;
    private long _dataFlushedEnd;
    private long _zeroPageOffset = -1;
    private bool _completed;
    private bool _stopped;

    public KdumpCompressedWriter(IPositionedSink sink, KdumpWriterOptions options)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(options);
        _sink = sink;
        _options = options;
        _be = options.Machine.BigEndian;
        _pageSize = options.PageSize == 0 ? options.Machine.DefaultPageSize : options.PageSize;
        if (!PageSizes.IsValid(_pageSize))
        {
            throw new ArgumentException(Invariant($"page size {_pageSize}: expected a power of two from 4096 to 1048576"), nameof(options));
        }

        ulong maxPfnLimit = (1UL << KdumpLayout.MaxPhysicalAddressBits) / (ulong)_pageSize;
        if (options.MaxPfn > maxPfnLimit)
        {
            throw new ArgumentException(Invariant($"max PFN 0x{options.MaxPfn:x}: at most 0x{maxPfnLimit:x} is supported"), nameof(options));
        }

        (_rangeStart, _rangeEnd) = options.SplitRange ?? (0, options.MaxPfn);
        if (_rangeStart > _rangeEnd || _rangeEnd > options.MaxPfn)
        {
            throw new ArgumentException(Invariant($"split range [0x{_rangeStart:x}, 0x{_rangeEnd:x}): expected start <= end <= max PFN 0x{options.MaxPfn:x}"), nameof(options));
        }

        if (options.Compression is not (PageCompression.None or PageCompression.Zlib or PageCompression.Lzo or PageCompression.Snappy or PageCompression.Zstd))
        {
            throw new ArgumentException($"unknown compression {options.Compression}", nameof(options));
        }

        _shareZeroPages = (options.DumpLevel & 1) != 0;
        _compressed = new byte[_pageSize];
        _cursor = _rangeStart;

        // Notes right after the sub-header; offset_vmcoreinfo points at the VMCOREINFO note's descriptor.
        byte[] notes = ElfNote.EncodeAll(options.Notes, _be);
        long noteOffset = _pageSize + KdumpLayout.SubHeaderSize;
        long vmcoreinfoOffset = 0, vmcoreinfoSize = 0, pos = 0;
        foreach (var n in options.Notes)
        {
            if (n.Name == "VMCOREINFO" && vmcoreinfoSize == 0)
            {
                vmcoreinfoOffset = noteOffset + pos + ElfNote.HeaderSize + ElfNote.Align4(n.Name.Length + 1);
                vmcoreinfoSize = n.Desc.Length;
            }

            pos += n.EncodedSize;
        }

        int subHdrBlocks = (int)((KdumpLayout.SubHeaderSize + notes.LongLength + _pageSize - 1) / _pageSize);
        long bitmapBytes = (long)((options.MaxPfn + 7) / 8);
        long bitmapBlocksEach = Math.Max(1, (bitmapBytes + _pageSize - 1) / _pageSize);
        if (bitmapBlocksEach * 2 > uint.MaxValue)
        {
            throw new ArgumentException("bitmaps too large for bitmap_blocks", nameof(options));
        }

        string release = options.Notes.FirstOrDefault(n => n.Name == "VMCOREINFO") is { } vi
            ? VmcoreInfo.VmcoreInfo.Parse(vi.Desc).OsRelease ?? string.Empty
            : string.Empty;
        var ts = options.Timestamp;
        _header = new KdumpHeader
        {
            Signature = KdumpLayout.KdumpSignature,
            Version = KdumpLayout.CurrentHeaderVersion,
            BigEndian = _be,
            Utsname = options.Utsname ?? KdumpUtsname.ForMachine(options.Machine, release),
            TimestampSeconds = ts.ToUnixTimeSeconds(),
            TimestampMicroseconds = (ts.UtcTicks % TimeSpan.TicksPerSecond) / 10,
            Status = options.Compression.ToStatus() | options.ExtraStatus,
            BlockSize = _pageSize,
            SubHeaderBlocks = subHdrBlocks,
            BitmapBlocks = (uint)(bitmapBlocksEach * 2),

            // The 32-bit field saturates; max_mapnr_64 has the value (makedumpfile, QEMU: MIN(max_mapnr, UINT_MAX)).
            MaxMapnr32 = (uint)Math.Min(options.MaxPfn, uint.MaxValue),

            // makedumpfile leaves total_ram_blocks, device_blocks and written_blocks 0; so do we.
            CurrentCpu = options.CurrentCpu,
            NrCpus = options.Notes.Count(n => n.Type == ElfNote.NT_PRSTATUS && n.Name == "CORE"),
            PhysBase = options.PhysBase,
            DumpLevel = options.DumpLevel,
            Split = options.SplitRange is not null,
            StartPfn = options.SplitRange is null ? 0 : _rangeStart,
            EndPfn = options.SplitRange is null ? 0 : _rangeEnd,
            OffsetVmcoreinfo = vmcoreinfoOffset,
            SizeVmcoreinfo = (ulong)vmcoreinfoSize,
            OffsetNote = noteOffset,
            SizeNote = (ulong)notes.LongLength,
            MaxMapnr = options.MaxPfn,
        };

        // Incomplete until Complete says otherwise: a file cut short by SIGKILL or a power loss keeps status 0x8.
        WriteHeader(_header with { Status = _header.Status | KdumpStatus.Incomplete });
        var sub = new byte[KdumpLayout.SubHeaderSize + notes.Length];
        _header.WriteSubHeader(sub);
        notes.CopyTo(sub, KdumpLayout.SubHeaderSize);
        _sink.Write(_pageSize, sub);

        (TotalDumpedPageCount, DumpedPageCount) = WriteBitmaps();
        DescTableOffset = _header.DescTableOffset;

        // A file of a --split set sizes its table for every dumped page of the set, as makedumpfile does (its
        // num_dumpable): page data then starts at the same offset in every file and in the reassembled one, which
        // is how makedumpfile --reassemble recognises the shared zero page. The entries past this file's range
        // stay zero (a hole in the file).
        ulong tableEntries = options.SplitRange is null ? DumpedPageCount : TotalDumpedPageCount;
        DataOffset = DescTableOffset + ((long)tableEntries * KdumpLayout.PageDescSize);
        _dataFlushedEnd = DataOffset;
        if (_shareZeroPages)
        {
            // makedumpfile's pd_zero: one page of zeros as the first data item, shared by every zero page.
            _zeroPageOffset = DataOffset;
            _data.AsSpan(0, _pageSize).Clear();
            _dataBuffered = _pageSize;
        }
    }

    public int PageSize => _pageSize;

    /// <summary>The headers as <see cref="Complete"/> writes them (status without the incomplete bit, which the file carries until then).</summary>
    public KdumpHeader Header => _header;

    /// <summary>Pages this file holds: PFNs set in the dump bitmap inside this file's range.</summary>
    public ulong DumpedPageCount { get; }

    /// <summary>PFNs set in the dump bitmap, the whole of it (for a --split file, those of every file of the set).</summary>
    public ulong TotalDumpedPageCount { get; }

    /// <summary>Descriptors written so far (pages accepted).</summary>
    public ulong PagesWritten => _descsWritten + (ulong)_descsBuffered;

    public long DescTableOffset { get; }

    /// <summary>Where page data starts, right after the table.</summary>
    public long DataOffset { get; }

    /// <summary>Size of the file so far (end of the appended data).</summary>
    public long Length => _dataFlushedEnd + _dataBuffered;

    public bool IsCompleted => _completed;

    /// <summary>Compresses (per the options) and writes the next dumped page.</summary>
    public void WritePage(ulong pfn, ReadOnlySpan<byte> page)
    {
        if (page.Length != _pageSize)
        {
            throw new ArgumentException(Invariant($"page of {page.Length} bytes: expected {_pageSize}"), nameof(page));
        }

        Advance(pfn);
        if (_shareZeroPages && !page.ContainsAnyExcept((byte)0))
        {
            AddDescriptor(_zeroPageOffset, (uint)_pageSize, 0);
            return;
        }

        if (_options.Compression != PageCompression.None)
        {
            // Kept only when smaller than a page, as makedumpfile does; else stored raw with flags 0.
            int n = PageCodec.Compress(_options.Compression, page, _compressed.AsSpan(0, _pageSize - 1));
            if (n > 0)
            {
                AppendData(_compressed.AsSpan(0, n), (uint)_options.Compression);
                return;
            }
        }

        AppendData(page, 0);
    }

    /// <summary>
    /// Writes a page compressed elsewhere: data with its page_desc flags (a <see cref="PageCompression"/> bit),
    /// or a raw page with <see cref="PageCompression.None"/> (stored raw, never compressed again). A raw all-zero
    /// page shares the zero page when the dump level excludes zero pages.
    /// </summary>
    public void WriteCompressedPage(ulong pfn, ReadOnlySpan<byte> data, PageCompression flags)
    {
        if (flags == PageCompression.None)
        {
            // Stored as it is: the caller already tried to compress it (it did not shrink).
            if (data.Length != _pageSize)
            {
                throw new ArgumentException(Invariant($"page of {data.Length} bytes: expected {_pageSize}"), nameof(data));
            }

            Advance(pfn);
            if (_shareZeroPages && !data.ContainsAnyExcept((byte)0))
            {
                AddDescriptor(_zeroPageOffset, (uint)_pageSize, 0);
                return;
            }

            AppendData(data, 0);
            return;
        }

        if (flags is not (PageCompression.Zlib or PageCompression.Lzo or PageCompression.Snappy or PageCompression.Zstd))
        {
            throw new ArgumentException($"unknown compression {flags}", nameof(flags));
        }

        if (data.Length == 0 || data.Length >= _pageSize)
        {
            throw new ArgumentException(Invariant($"compressed page of {data.Length} bytes: expected 1 to {_pageSize - 1} (a page that does not shrink is stored raw)"), nameof(data));
        }

        Advance(pfn);
        AppendData(data, (uint)flags);
    }

    /// <summary>
    /// Makes every page written so far durable: the buffered page data, then the descriptors that point at it,
    /// then a flush (fsync) of the sink. The header keeps its incomplete status, so a file cut short after this
    /// reads those pages back and the rest as lost (zero descriptors).
    /// </summary>
    public void FlushDurable()
    {
        ThrowIfStopped();
        FlushData();
        FlushDescriptors(_descsBuffered);
        _sink.Flush();
    }

    /// <summary>Checks that every dumped page was written, writes the remaining descriptors and flushes the sink.</summary>
    public void Complete()
    {
        ThrowIfStopped();
        ulong next = NextDumped(_cursor);
        if (next < _rangeEnd)
        {
            throw new InvalidOperationException(Invariant($"PFN 0x{next:x} is set in the dump bitmap but was not written ({PagesWritten} of {DumpedPageCount} pages); call MarkIncomplete for a partial dump"));
        }

        FlushData();
        FlushDescriptors(_descsBuffered);

        // Pages and table durable first, then the header without status 0x8: after a power loss the file is
        // either complete or still flagged.
        _sink.Barrier();
        WriteHeader(_header);
        _sink.Flush();
        _completed = true;
        _stopped = true;
    }

    /// <summary>
    /// Keeps what can be kept after a failed write (ENOSPC) and sets status 0x8 in the header, so that readers
    /// see an incomplete dump: descriptors never written stay zero and read as lost pages. Descriptors whose
    /// data did not reach the sink are dropped.
    /// </summary>
    public void MarkIncomplete()
    {
        _stopped = true;
        try
        {
            FlushData();
        }
        catch (IOException)
        {
            // The buffered data is lost; its descriptors are dropped below.
        }

        try
        {
            int durable = 0;
            while (durable < _descsBuffered && DescEnd(durable) <= _dataFlushedEnd)
            {
                durable++;
            }

            FlushDescriptors(durable);
        }
        catch (IOException)
        {
            // The table keeps holes: those pages read as lost.
        }

        WriteHeader(_header with { Status = _header.Status | KdumpStatus.Incomplete });
        _sink.Flush();
    }

    public void Dispose() => _sink.Dispose();

    private void WriteHeader(KdumpHeader header)
    {
        var h = new byte[KdumpLayout.HeaderSize];
        header.WriteHeader(h);
        _sink.Write(0, h);
    }

    /// <summary>
    /// Writes both bitmaps a window at a time, zero padding included so that the file holds whole bitmap
    /// blocks even if nothing follows (a disk full at the first page), and counts the dumped PFNs: all of
    /// them, and those of this file's range.
    /// </summary>
    private (ulong Total, ulong InRange) WriteBitmaps()
    {
        long bytes = _header.BitmapBytes;
        var w1 = new byte[(int)Math.Min(BitmapWindowBytes, Math.Max(bytes, 1))];
        var w2 = new byte[w1.Length];
        ulong count = 0, total = 0;
        for (long pos = 0; pos < bytes; pos += w1.Length)
        {
            int n = (int)Math.Min(w1.Length, bytes - pos);
            ulong first = (ulong)pos * 8;
            FillMasked(_options.RamBitmap, first, w1.AsSpan(0, n));
            FillMasked(_options.DumpBitmap, first, w2.AsSpan(0, n));
            for (int i = 0; i < n; i++)
            {
                int bad = w2[i] & ~w1[i];
                if (bad != 0)
                {
                    ulong pfn = first + ((ulong)i * 8) + (ulong)System.Numerics.BitOperations.TrailingZeroCount(bad);
                    throw new ArgumentException(Invariant($"PFN 0x{pfn:x} is set in DumpBitmap but not in RamBitmap: dumped pages must be RAM"), "options");
                }
            }

            count += CountInRange(w2.AsSpan(0, n), first);
            total += PopCount(w2.AsSpan(0, n));
            _sink.Write(_header.Bitmap1Offset + pos, w1.AsSpan(0, n));
            _sink.Write(_header.Bitmap2Offset + pos, w2.AsSpan(0, n));
        }

        return (total, count);
    }

    private static ulong PopCount(ReadOnlySpan<byte> bits)
    {
        ulong c = 0;
        foreach (byte b in bits)
        {
            c += (ulong)System.Numerics.BitOperations.PopCount(b);
        }

        return c;
    }

    private ulong CountInRange(ReadOnlySpan<byte> bits, ulong first)
    {
        ulong end = first + ((ulong)bits.Length * 8);
        if (first >= _rangeStart && end <= _rangeEnd)
        {
            return PopCount(bits);
        }

        ulong count = 0;
        for (ulong p = Math.Max(first, _rangeStart); p < Math.Min(end, _rangeEnd); p++)
        {
            if (PfnBits.Test(bits, p - first))
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>Fills bitmap bytes and clears the padding bits past max PFN.</summary>
    private void FillMasked(IPfnBitmap bitmap, ulong first, Span<byte> bits)
    {
        bitmap.Fill(first, bits);
        ulong end = first + ((ulong)bits.Length * 8);
        if (end > _options.MaxPfn)
        {
            ulong keep = _options.MaxPfn - first;
            int lastByte = (int)(keep >> 3);
            if ((keep & 7) != 0)
            {
                bits[lastByte] &= (byte)((1 << (int)(keep & 7)) - 1);
                lastByte++;
            }

            bits[lastByte..].Clear();
        }
    }

    /// <summary>Checks that pfn is the next PFN of the dump bitmap and moves past it.</summary>
    private void Advance(ulong pfn)
    {
        ThrowIfStopped();
        ulong expected = NextDumped(_cursor);
        if (pfn != expected)
        {
            string why = expected >= _rangeEnd
                ? Invariant($"all {DumpedPageCount} dumped pages of [0x{_rangeStart:x}, 0x{_rangeEnd:x}) were already written")
                : pfn < expected
                    ? Invariant($"pages must come in ascending order of the PFNs set in the dump bitmap; the next one is 0x{expected:x}")
                    : Invariant($"PFN 0x{expected:x} is set in the dump bitmap and comes first");
            throw new InvalidOperationException(Invariant($"PFN 0x{pfn:x}: {why}"));
        }

        _cursor = pfn + 1;
    }

    /// <summary>The first PFN set in the dump bitmap at or after from, or the range end.</summary>
    private ulong NextDumped(ulong from)
    {
        while (from < _rangeEnd)
        {
            ulong windowStart = from & ~((ulong)CursorWindowBytes * 8 - 1);
            if (windowStart != _cursorWindowStart)
            {
                FillMasked(_options.DumpBitmap, windowStart, _cursorBits);
                _cursorWindowStart = windowStart;
            }

            ulong windowEnd = Math.Min(windowStart + ((ulong)CursorWindowBytes * 8), _rangeEnd);
            ulong p = from;
            while (p < windowEnd)
            {
                ulong rel = p - windowStart;
                if ((rel & 7) == 0)
                {
                    // Whole empty bytes are skipped at once: excluded stretches cost one scan.
                    int nonzero = _cursorBits.AsSpan((int)(rel >> 3)).IndexOfAnyExcept((byte)0);
                    if (nonzero < 0)
                    {
                        break;
                    }

                    p += (ulong)nonzero * 8;
                    rel = p - windowStart;
                    if (p >= windowEnd)
                    {
                        break;
                    }
                }

                if (PfnBits.Test(_cursorBits, rel))
                {
                    return p;
                }

                p++;
            }

            from = windowEnd;
        }

        return _rangeEnd;
    }

    private void AppendData(ReadOnlySpan<byte> data, uint flags)
    {
        long offset = Length;
        if (_dataBuffered + data.Length > _data.Length)
        {
            FlushData();
        }

        data.CopyTo(_data.AsSpan(_dataBuffered));
        _dataBuffered += data.Length;
        AddDescriptor(offset, (uint)data.Length, flags);
    }

    private void AddDescriptor(long offset, uint size, uint flags)
    {
        var d = _descs.AsSpan(_descsBuffered * KdumpLayout.PageDescSize, KdumpLayout.PageDescSize);
        Endian.Write(d[KdumpLayout.DescOffset..], offset, _be);
        Endian.Write(d[KdumpLayout.DescSize..], size, _be);
        Endian.Write(d[KdumpLayout.DescFlags..], flags, _be);
        Endian.Write(d[KdumpLayout.DescPageFlags..], 0UL, _be);
        _descsBuffered++;
        if (_descsBuffered == DescChunk)
        {
            // Data first: a descriptor on disk never points at data that is not.
            FlushData();
            FlushDescriptors(_descsBuffered);
        }
    }

    private long DescEnd(int i)
    {
        var d = _descs.AsSpan(i * KdumpLayout.PageDescSize);
        return Endian.I64(d[KdumpLayout.DescOffset..], _be) + Endian.U32(d[KdumpLayout.DescSize..], _be);
    }

    private void FlushData()
    {
        if (_dataBuffered > 0)
        {
            _sink.Write(_dataFlushedEnd, _data.AsSpan(0, _dataBuffered));
            _dataFlushedEnd += _dataBuffered;
            _dataBuffered = 0;
        }
    }

    private void FlushDescriptors(int count)
    {
        if (count > 0)
        {
            _sink.Write(DescTableOffset + ((long)_descsWritten * KdumpLayout.PageDescSize), _descs.AsSpan(0, count * KdumpLayout.PageDescSize));
            _descsWritten += (ulong)count;
        }

        _descsBuffered = 0;
    }

    private void ThrowIfStopped()
    {
        if (_stopped)
        {
            throw new InvalidOperationException(_completed ? "the dump is already complete" : "the dump was marked incomplete");
        }
    }
}
