using System.Globalization;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;

namespace Fadump.Tools.Service;

/// <summary>
/// The crashed kernel's memory in a Power6 hypervisor-assisted dump, as an <see cref="IDump"/> the saver can
/// read: the kernel builds no ELF header for it (spec/phyp-dump-and-opal.md §A4), so the layout comes from
/// release_region and the bytes from raw physical memory (/dev/mem). Physical addresses are the crashed
/// kernel's: [0, DUMP length) reads the firmware's copy of the low memory in the scratch area; the reserved
/// range reads in place. The CPU state and HPTE copies become notes named "PHYPDUMP" (types 1 and 2, the
/// dump section types), so one file holds everything the firmware preserved.
/// </summary>
public sealed class PhypDumpImage : IDump
{
    public const string NoteName = "PHYPDUMP";

    /// <summary>Note type of the register save area: the CPU_STATE_DATA section type.</summary>
    public const uint NoteCpuState = 0x0001;

    /// <summary>Note type of the hashed page table copy: the HPTE_REGION section type.</summary>
    public const uint NoteHpte = 0x0002;

    private readonly IRandomAccessSource _memory;
    private readonly Segment[] _segments;
    private readonly List<ElfNote> _notes = [];

    /// <exception cref="InvalidDataException">The listing's ranges overlap, or a register area is too large to keep as a note.</exception>
    public PhypDumpImage(IRandomAccessSource memory, ReleaseRegionListing listing, DumpMachine machine, int pageSize = 4096)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(listing);
        if (pageSize < 4096 || (pageSize & (pageSize - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pageSize), "expected a power of two from 4096");
        }

        _memory = memory;
        Listing = listing;
        Machine = machine;
        PageSize = pageSize;
        Path = memory.Name;
        string where = DumpDetector.ReleaseRegion;
        if (listing.Dump.Length == 0)
        {
            throw new InvalidDataException($"{where}: the DUMP range is empty: the firmware copied no memory");
        }

        foreach (var (name, r) in new[] { ("CPU", listing.Cpu), ("HPTE", listing.Hpte), ("DUMP", listing.Dump), ("reserved", listing.Reserved) })
        {
            // /dev/mem offsets are signed 64-bit: a range past 2^63 can be neither read nor a physical address.
            if (r.Length > 0 && (r.Address > long.MaxValue || r.Length > (ulong)long.MaxValue - r.Address))
            {
                throw new InvalidDataException(Invariant($"{where}: the {name} range 0x{r.Address:x}-0x{r.Length:x} lies beyond the physical address space (2^63)"));
            }
        }

        if (listing.Reserved.Length > 0 && listing.Reserved.Address < listing.Dump.Length)
        {
            throw new InvalidDataException(Invariant($"{where}: the reserved range starts at 0x{listing.Reserved.Address:x}, inside the 0x{listing.Dump.Length:x} bytes of low memory the firmware copied"));
        }

        foreach (var (name, r) in new[] { ("CPU", listing.Cpu), ("HPTE", listing.Hpte), ("DUMP", listing.Dump) })
        {
            if (r.Length > 0 && r.Address < listing.Reserved.End && listing.Reserved.Address < r.End)
            {
                throw new InvalidDataException($"{where}: the {name} range {r} overlaps the reserved range {listing.Reserved}");
            }
        }

        _segments = listing.Reserved.Length == 0
            ? [new Segment(0, listing.Dump.Length, listing.Dump.Address)]
            : [new Segment(0, listing.Dump.Length, listing.Dump.Address), new Segment(listing.Reserved.Address, listing.Reserved.End, listing.Reserved.Address)];
        _notes.Add(new ElfNote(NoteName, NoteCpuState, ReadArea(listing.Cpu, "CPU state")));
        _notes.Add(new ElfNote(NoteName, NoteHpte, ReadArea(listing.Hpte, "HPTE")));
        ulong top = _segments[^1].End;
        MaxPfn = (top + (ulong)pageSize - 1) / (ulong)pageSize;
    }

    public ReleaseRegionListing Listing { get; }

    public string Path { get; }

    /// <summary>The container the image is written as; the saver decides the file's format.</summary>
    public DumpFormat Format => DumpFormat.Elf;

    public bool IsFlattened => false;

    public DumpMachine Machine { get; }

    public int PageSize { get; }

    public IReadOnlyList<ElfNote> Notes => _notes;

    /// <summary>None: the crashed kernel's VMCOREINFO is not located by this interface.</summary>
    public Formats.VmcoreInfo.VmcoreInfo? VmcoreInfo => null;

    public ulong MaxPfn { get; }

    public int? DumpLevel => null;

    public bool IsIncomplete => false;

    public IEnumerable<PhysicalRange> MemoryRanges() =>
        PhysicalRange.Coalesce(_segments.Select(s => new PhysicalRange(s.Start, s.End)));

    public PageState ReadPage(ulong pfn, Span<byte> page)
    {
        if (page.Length != PageSize)
        {
            throw new ArgumentException("buffer must be one page", nameof(page));
        }

        int n = pfn < MaxPfn ? ReadPhysical(pfn * (ulong)PageSize, page) : 0;
        page[n..].Clear();
        if (n > 0)
        {
            return PageState.Dumped;
        }

        // A page that begins in a gap but has dumped bytes later (an unaligned range start) still counts.
        foreach (var s in _segments)
        {
            ulong a = pfn * (ulong)PageSize;
            if (s.Start > a && s.Start < a + (ulong)PageSize)
            {
                int off = (int)(s.Start - a);
                int m = ReadPhysical(s.Start, page[off..]);
                return m > 0 ? PageState.Dumped : PageState.NotPresent;
            }
        }

        return PageState.NotPresent;
    }

    public int ReadPhysical(ulong address, Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            ulong a = address + (ulong)done;
            Segment? seg = null;
            foreach (var s in _segments)
            {
                if (a >= s.Start && a < s.End)
                {
                    seg = s;
                    break;
                }
            }

            if (seg is not { } sg)
            {
                break;
            }

            int want = (int)Math.Min((ulong)(buffer.Length - done), sg.End - a);
            int n = _memory.Read(checked((long)(sg.SourceAddress + (a - sg.Start))), buffer.Slice(done, want));
            if (n <= 0)
            {
                break;
            }

            done += n;
        }

        return done;
    }

    public void Dispose() => _memory.Dispose();

    private byte[] ReadArea(AddressLength r, string what)
    {
        if (r.Length > (ulong)ElfNote.MaxFieldSize)
        {
            throw new InvalidDataException(Invariant($"{DumpDetector.ReleaseRegion}: the {what} range {r} is larger than {ElfNote.MaxFieldSize} bytes"));
        }

        var b = new byte[r.Length];
        _memory.ReadExactly(checked((long)r.Address), b, what + " copy");
        return b;
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>Original physical addresses [Start, End), read from SourceAddress on.</summary>
    private readonly record struct Segment(ulong Start, ulong End, ulong SourceAddress);
}
