using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using static System.FormattableString;

namespace Fadump.Formats.Kdump;

/// <summary>
/// A kdump-compressed file (makedumpfile -c/-l/-p/-z, QEMU kdump-*): header, notes, VMCOREINFO and
/// random page access through the two bitmaps and the page_desc table. Memory stays bounded: bitmaps are
/// read on demand and only a rank index (8 bytes per 4096 PFNs) is kept. Reads are thread-safe.
/// </summary>
public sealed partial class KdumpCompressedDump : IDump, IPageCounts
{
    private readonly IRandomAccessSource _src;
    private readonly KdumpBitmaps _bitmaps;
    private readonly Lazy<string?> _truncation;

    private KdumpCompressedDump(IRandomAccessSource src, KdumpHeader header, DumpMachine machine, List<ElfNote> notes, VmcoreInfo.VmcoreInfo? vmcoreInfo, bool flattened)
    {
        _src = src;
        Header = header;
        Machine = machine;
        Notes = notes;
        VmcoreInfo = vmcoreInfo;
        IsFlattened = flattened;
        _bitmaps = new KdumpBitmaps(src, header);
        _truncation = new Lazy<string?>(FindTruncation, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>Opens a kdump-compressed file. Takes ownership of the source (disposed on failure too).</summary>
    public static KdumpCompressedDump Open(IRandomAccessSource src, bool flattened = false)
    {
        try
        {
            return Parse(src, flattened);
        }
        catch
        {
            src.Dispose();
            throw;
        }
    }

    public static KdumpCompressedDump Open(string path) => Open(new FileSource(path));

    private static KdumpCompressedDump Parse(IRandomAccessSource src, bool flattened)
    {
        var header = KdumpHeader.Read(src);
        var machine = header.GetMachine(src.Name);
        var notes = new List<ElfNote>();
        if (header.SizeNote > 0)
        {
            var buf = new byte[header.SizeNote];
            src.ReadExactly(header.OffsetNote, buf, "ELF notes");
            notes = ElfNote.ParseAll(buf, header.BigEndian, src.Name, header.OffsetNote);
        }

        VmcoreInfo.VmcoreInfo? info = null;
        if (header.SizeVmcoreinfo > 0)
        {
            var buf = new byte[header.SizeVmcoreinfo];
            src.ReadExactly(header.OffsetVmcoreinfo, buf, "VMCOREINFO");
            info = Formats.VmcoreInfo.VmcoreInfo.Parse(buf, src.Name, header.OffsetVmcoreinfo);
        }
        else if (notes.FirstOrDefault(n => n.Name == "VMCOREINFO") is { } note)
        {
            info = Formats.VmcoreInfo.VmcoreInfo.Parse(note.Desc, src.Name, header.OffsetNote);
        }

        return new KdumpCompressedDump(src, header, machine, notes, info, flattened);
    }

    /// <summary>Every header and sub-header field.</summary>
    public KdumpHeader Header { get; }

    public string Path => _src.Name;

    public DumpFormat Format => DumpFormat.KdumpCompressed;

    public bool IsFlattened { get; }

    public DumpMachine Machine { get; }

    public int PageSize => Header.BlockSize;

    public IReadOnlyList<ElfNote> Notes { get; }

    public VmcoreInfo.VmcoreInfo? VmcoreInfo { get; }

    public ulong MaxPfn => Header.MaxMapnr;

    public int? DumpLevel => Header.DumpLevel;

    /// <summary>Flagged incomplete by its writer (status 0x8). A truncated file that is not flagged: <see cref="Truncation"/>.</summary>
    public bool IsIncomplete => (Header.Status & KdumpStatus.Incomplete) != 0;

    /// <summary>
    /// Why the file is shorter than its headers say (a copy cut short, a writer killed before it could flag the
    /// file, a power loss), or null: the page_desc table must fit in the file, and the first and last descriptors
    /// must point at data inside it. The writer appends data in PFN order and writes the last descriptor last,
    /// so a file cut anywhere fails one of these checks. Computed on first use (it needs the bitmaps' rank
    /// index); reading a page the file lacks is an error naming it.
    /// </summary>
    public string? Truncation => _truncation.Value;

    public string? IncompleteReason =>
        IsIncomplete ? "flagged incomplete by its writer (status 0x8)"
        : Truncation is not null ? "truncated: " + Truncation
        : null;

    public int HeaderVersion => Header.Version;

    public KdumpStatus Status => Header.Status;

    public DateTimeOffset Timestamp => Header.Timestamp;

    public ulong PhysBase => Header.PhysBase;

    public KdumpUtsname Utsname => Header.Utsname;

    public string Sysname => Header.Utsname.Sysname;

    public string Nodename => Header.Utsname.Nodename;

    /// <summary>utsname.release, e.g. "6.1.0-27-amd64".</summary>
    public string Release => Header.Utsname.Release;

    /// <summary>utsname.version, e.g. "#1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1".</summary>
    public string KernelVersion => Header.Utsname.Version;

    /// <summary>utsname.machine as written ("x86_64", "ppc64le", "ppc64"; QEMU writes "ppc64" for both byte orders).</summary>
    public string UtsMachine => Header.Utsname.Machine;

    public string Domainname => Header.Utsname.Domainname;

    /// <summary>True for one file of a makedumpfile --split set; it holds the pages of [StartPfn, EndPfn).</summary>
    public bool IsSplit => Header.Split;

    public ulong StartPfn => Header.Split ? Header.StartPfn : 0;

    public ulong EndPfn => Header.Split ? Header.EndPfn : Header.MaxMapnr;

    /// <summary>Count of PFNs set in the 2nd bitmap (all of them, also outside a split file's range).</summary>
    public ulong DumpedPageCount => _bitmaps.DumpedCount;

    /// <summary>Pages this file holds: the PFNs set in the 2nd bitmap inside [StartPfn, EndPfn) (all of them unless split).</summary>
    public ulong HeldPageCount => _bitmaps.Rank(EndPfn) - _bitmaps.Rank(StartPfn);

    public IRandomAccessSource Source => _src;

    /// <summary>Runs [start, end) of dumped PFNs (2nd bitmap) inside [from, to), ascending, read in bounded blocks.</summary>
    public IEnumerable<(ulong Start, ulong End)> DumpedPfnRuns(ulong from, ulong to)
    {
        foreach (var (s, e) in _bitmaps.Runs(dumped: true))
        {
            if (e <= from)
            {
                continue;
            }

            if (s >= to)
            {
                yield break;
            }

            yield return (Math.Max(s, from), Math.Min(e, to));
        }
    }

    /// <summary>Physical ranges that are RAM (1st bitmap), ascending.</summary>
    public IEnumerable<PhysicalRange> MemoryRanges() =>
        _bitmaps.Runs(dumped: false).Select(r => new PhysicalRange(r.Start * (ulong)PageSize, r.End * (ulong)PageSize));

    /// <summary>Physical ranges whose pages are dumped (2nd bitmap), ascending.</summary>
    public IEnumerable<PhysicalRange> DumpedRanges() =>
        _bitmaps.Runs(dumped: true).Select(r => new PhysicalRange(r.Start * (ulong)PageSize, r.End * (ulong)PageSize));

    /// <summary>What the bitmaps say about a PFN, without reading its data.</summary>
    public PageState GetPageState(ulong pfn)
    {
        if (pfn >= MaxPfn)
        {
            return PageState.NotPresent;
        }

        bool ram = _bitmaps.IsRam(pfn);
        bool dumped = _bitmaps.IsDumped(pfn);
        if (dumped && !ram)
        {
            throw new DumpFormatException(Path, _bitmaps.Bitmap2ByteOffset(pfn),
                Invariant($"PFN 0x{pfn:x} is set in the 2nd bitmap (dumped) but not in the 1st (RAM): expected every dumped page to be RAM"));
        }

        return dumped ? PageState.Dumped : ram ? PageState.Excluded : PageState.NotPresent;
    }

    public int ReadPhysical(ulong address, Span<byte> buffer) => PhysicalReader.Read(this, address, buffer);

    private string? FindTruncation()
    {
        ulong entries = _bitmaps.Rank(EndPfn) - _bitmaps.Rank(StartPfn);
        if (entries == 0)
        {
            return null;
        }

        long length = _src.Length;
        long room = Math.Max(0, length - Header.DescTableOffset) / KdumpLayout.PageDescSize;
        if (entries > (ulong)room)
        {
            return Invariant($"the page_desc table of {entries} entries at 0x{Header.DescTableOffset:x} ends beyond the {length}-byte file (room for {room})");
        }

        Span<byte> d = stackalloc byte[KdumpLayout.PageDescSize];
        foreach (ulong index in (ReadOnlySpan<ulong>)[0, entries - 1])
        {
            long descAt = Header.DescTableOffset + ((long)index * KdumpLayout.PageDescSize);
            _src.ReadExactly(descAt, d, "page_desc");
            long offset = Endian.I64(d[KdumpLayout.DescOffset..], Header.BigEndian);
            uint size = Endian.U32(d[KdumpLayout.DescSize..], Header.BigEndian);
            if (offset == 0 && size == 0)
            {
                return Invariant($"page_desc {index} of {entries} at 0x{descAt:x} was never written");
            }

            if (offset > 0 && size <= (uint)PageSize && offset > length - size)
            {
                return Invariant($"page_desc {index} of {entries} at 0x{descAt:x} points at data [0x{offset:x}, +0x{size:x}) beyond the {length}-byte file");
            }
        }

        return null;
    }

    public void Dispose() => _src.Dispose();
}
