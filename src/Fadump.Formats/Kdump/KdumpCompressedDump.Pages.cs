using System.Buffers;
using Fadump.Formats.Compression;
using Fadump.Formats.IO;
using static System.FormattableString;

namespace Fadump.Formats.Kdump;

public sealed partial class KdumpCompressedDump
{
    private readonly Lock _tableCheckLock = new();
    private bool _tableChecked;

    /// <summary>
    /// Reads one page. Excluded pages and holes read as zeros. A page whose descriptor an incomplete dump never
    /// wrote (offset 0), and a page that a split file leaves to another file of its set, read as
    /// <see cref="PageState.Lost"/>.
    /// </summary>
    public PageState ReadPage(ulong pfn, Span<byte> page)
    {
        if (page.Length != PageSize)
        {
            throw new ArgumentException("buffer must be one page", nameof(page));
        }

        var state = GetPageState(pfn);
        if (state != PageState.Dumped)
        {
            page.Clear();
            return state;
        }

        if (pfn < StartPfn || pfn >= EndPfn)
        {
            page.Clear();
            return PageState.Lost;
        }

        CheckTableFits();
        ulong index = _bitmaps.Rank(pfn) - _bitmaps.Rank(StartPfn);
        return ReadDescribedPage(pfn, index, page);
    }

    private PageState ReadDescribedPage(ulong pfn, ulong index, Span<byte> page)
    {
        long descAt = Header.DescTableOffset + ((long)index * KdumpLayout.PageDescSize);
        Span<byte> d = stackalloc byte[KdumpLayout.PageDescSize];
        if (descAt > _src.Length - KdumpLayout.PageDescSize)
        {
            // Only an incomplete dump gets here: CheckTableFits rejects a short table otherwise.
            page.Clear();
            return PageState.Lost;
        }

        _src.ReadExactly(descAt, d, "page_desc");
        bool be = Header.BigEndian;
        long offset = Endian.I64(d[KdumpLayout.DescOffset..], be);
        uint size = Endian.U32(d[KdumpLayout.DescSize..], be);
        uint flags = Endian.U32(d[KdumpLayout.DescFlags..], be);
        if (offset == 0 && IsIncomplete)
        {
            page.Clear();
            return PageState.Lost;
        }

        if (size == 0 || size > (uint)PageSize)
        {
            throw new DumpFormatException(Path, descAt + KdumpLayout.DescSize,
                Invariant($"page_desc of PFN 0x{pfn:x}: size {size}: expected 1 to block_size {PageSize}"));
        }

        if (offset < Header.DescTableOffset || offset > _src.Length - size)
        {
            if (IsIncomplete && offset >= Header.DescTableOffset)
            {
                page.Clear();
                return PageState.Lost;
            }

            throw new DumpFormatException(Path, descAt,
                Invariant($"page_desc of PFN 0x{pfn:x}: data at [0x{offset:x}, +0x{size:x}): expected it after the page_desc table (0x{Header.DescTableOffset:x}) and inside the {_src.Length}-byte file"));
        }

        if (flags == 0)
        {
            if (size != (uint)PageSize)
            {
                throw new DumpFormatException(Path, descAt + KdumpLayout.DescSize,
                    Invariant($"page_desc of PFN 0x{pfn:x}: uncompressed page (flags 0) of {size} bytes: expected {PageSize}"));
            }

            _src.ReadExactly(offset, page, "page data");
            return PageState.Dumped;
        }

        var method = flags switch
        {
            (uint)PageCompression.Zlib => PageCompression.Zlib,
            (uint)PageCompression.Lzo => PageCompression.Lzo,
            (uint)PageCompression.Snappy => PageCompression.Snappy,
            (uint)PageCompression.Zstd => PageCompression.Zstd,
            _ => throw new DumpFormatException(Path, descAt + KdumpLayout.DescFlags,
                Invariant($"page_desc of PFN 0x{pfn:x}: flags 0x{flags:x}: expected 0 or one of 0x1 (zlib), 0x2 (lzo), 0x4 (snappy), 0x20 (zstd)")),
        };

        byte[] buf = ArrayPool<byte>.Shared.Rent((int)size);
        try
        {
            _src.ReadExactly(offset, buf.AsSpan(0, (int)size), "compressed page data");
            PageCodec.Decompress(method, buf.AsSpan(0, (int)size), page);
        }
        catch (InvalidDataException e)
        {
            throw new DumpFormatException(Path, offset,
                Invariant($"{method} data of PFN 0x{pfn:x} ({size} bytes): expected it to decompress to one {PageSize}-byte page: {e.Message}"), e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }

        return PageState.Dumped;
    }

    /// <summary>
    /// Once per file: the page_desc table must hold one entry per dumped PFN of this file's range. An incomplete
    /// dump may end early; its missing descriptors read as lost pages.
    /// </summary>
    private void CheckTableFits()
    {
        if (Volatile.Read(ref _tableChecked))
        {
            return;
        }

        lock (_tableCheckLock)
        {
            if (_tableChecked)
            {
                return;
            }

            ulong entries = _bitmaps.Rank(EndPfn) - _bitmaps.Rank(StartPfn);
            ulong room = (ulong)Math.Max(0, _src.Length - Header.DescTableOffset) / KdumpLayout.PageDescSize;
            if (entries > room && !IsIncomplete)
            {
                throw new DumpFormatException(Path, Header.DescTableOffset,
                    Invariant($"page_desc table of {entries} entries (the dumped PFNs of [0x{StartPfn:x}, 0x{EndPfn:x})): expected {entries * KdumpLayout.PageDescSize} bytes inside the {_src.Length}-byte file, which has room for {room}"));
            }

            Volatile.Write(ref _tableChecked, true);
        }
    }
}
