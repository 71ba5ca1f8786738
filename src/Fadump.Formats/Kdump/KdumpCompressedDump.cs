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

    private KdumpCompressedDump(IRandomAccessSource src, KdumpHeader header, DumpMachine machine, List<ElfNote> notes, VmcoreInfo.VmcoreInfo? vmcoreInfo, bool flattened)
    {
        _src = src;
        Header = header;
        Machine = machine;
        Notes = notes;
        VmcoreInfo = vmcoreInfo;
        IsFlattened = flattened;
        _bitmaps = new KdumpBitmaps(src, header);
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

    public bool IsIncomplete => (Header.Status & KdumpStatus.Incomplete) != 0;

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

    public IRandomAccessSource Source => _src;

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

    public void Dispose() => _src.Dispose();
}
