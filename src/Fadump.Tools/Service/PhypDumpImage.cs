using System.Buffers.Binary;
using System.Globalization;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;

namespace Fadump.Tools.Service;

/// <summary>/sys/kernel/vmcoreinfo: the physical address and size of the running kernel's vmcoreinfo_note (<c>%llx %x</c>).</summary>
public readonly record struct VmcoreInfoLocation(ulong Address, ulong Size)
{
    public const string SysfsPath = "/sys/kernel/vmcoreinfo";

    /// <exception cref="InvalidDataException">Not two hexadecimal numbers.</exception>
    public static VmcoreInfoLocation Parse(string text, string path = SysfsPath)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2 || !TryHex(parts[0], out ulong a) || !TryHex(parts[1], out ulong n))
        {
            string shown = text.Length > 80 ? text[..80] + "..." : text;
            throw new InvalidDataException($"{path}: expected 'ADDRESS SIZE' in hexadecimal, got '{shown.TrimEnd()}'");
        }

        return new VmcoreInfoLocation(a, n);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"0x{Address:x}, 0x{Size:x} bytes");

    private static bool TryHex(string s, out ulong v) =>
        ulong.TryParse(s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? s[2..] : s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v);
}

/// <summary>
/// What an interrupted collect already saved and released (from its <see cref="PhypJournal"/>): the partial dump
/// file holds every page the dump keeps below <see cref="DurableThrough"/>, and the <see cref="Released"/> ranges of
/// /dev/mem belong to the running kernel and must never be read again. <see cref="Partial"/> is null when no file
/// that holds them was found: the released memory is then lost (read as lost pages, never from /dev/mem).
/// </summary>
public sealed record PhypResume(IDump? Partial, ulong DurableThrough, IReadOnlyList<AddressLength> Released);

/// <summary>
/// The crashed kernel's memory in a Power6 hypervisor-assisted dump, as an <see cref="IDump"/> the saver can
/// read: the kernel builds no ELF header for it (spec/phyp-dump-and-opal.md §A4), so the layout comes from
/// release_region and the bytes from raw physical memory (/dev/mem). Physical addresses are the crashed
/// kernel's: [0, DUMP length) reads the firmware's copy of the low memory in the scratch area; the reserved
/// range reads in place. The register save area becomes one NT_PRSTATUS note per saved CPU; the crashed
/// kernel's VMCOREINFO note is found through /sys/kernel/vmcoreinfo (the capture kernel is the same build,
/// loaded at the same address, so its note's address is the crashed kernel's too) when it is given; the raw
/// CPU state and HPTE copies are kept as notes named "PHYPDUMP" (types 1 and 2, the dump section types).
/// </summary>
/// <remarks>
/// <b>(quirk)</b> of the old kernel (spec §A3): the firmware copies 256 MiB of low memory, but the capture
/// kernel's boot region R can be larger. The crashed kernel's memory in [DUMP length, R) was then neither copied
/// nor reserved: the capture kernel overwrote it, and the image has a hole there (<see cref="LostBytes"/>). The
/// listed reserved range [R, R + length) then runs over the scratch area (the copies, near the top of RAM):
/// it is read in place only up to the first copy inside it (<see cref="ScratchStart"/>); in the crashed kernel
/// that memory was its own, empty, scratch reservation.
/// </remarks>
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
    private readonly List<string> _warnings = [];
    private readonly PhypResume? _resume;

    /// <summary>The resume's released /dev/mem ranges, sorted and merged: [start, end) pairs, for a binary search per page.</summary>
    private readonly (ulong Start, ulong End)[] _released = [];

    /// <param name="memory">/dev/mem.</param>
    /// <param name="listing">/sys/kernel/release_region.</param>
    /// <param name="machine">The crashed kernel's machine (ppc64 big-endian on Power6).</param>
    /// <param name="pageSize">The page size when no VMCOREINFO gives it.</param>
    /// <param name="vmcoreInfo">/sys/kernel/vmcoreinfo, when the capture kernel has it.</param>
    /// <param name="resume">An interrupted collect's partial dump: its notes and pages replace what was released.</param>
    /// <exception cref="InvalidDataException">The listing's ranges overlap, or a register area is too large to keep as a note.</exception>
    public PhypDumpImage(IRandomAccessSource memory, ReleaseRegionListing listing, DumpMachine machine, int pageSize = 4096, VmcoreInfoLocation? vmcoreInfo = null, PhypResume? resume = null)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(listing);
        if (pageSize < 4096 || (pageSize & (pageSize - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pageSize), "expected a power of two from 4096");
        }

        _memory = memory;
        _resume = resume;
        if (resume is not null)
        {
            // (quirk) release_memory_range frees whole pages of the running kernel from PFN_DOWN(addr), and
            // PFN_DOWN(len) + 1 of them: a released range takes the rest of its first page and one page more.
            // The partial dump's page size is the kernel's; without it, the largest ppc64 base page (64 KiB).
            _released = Merge(resume.Released, (ulong)(resume.Partial?.PageSize ?? Math.Max(pageSize, 1 << 16)));
        }

        Listing = listing;
        Machine = machine;
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

        // A copy that starts inside the reserved range marks the scratch area there (the quirk above); one that
        // only straddles its start, or lies in the copied low memory, is a listing no kernel writes.
        ulong reservedEnd = listing.Reserved.End;
        foreach (var (name, r) in new[] { ("CPU", listing.Cpu), ("HPTE", listing.Hpte), ("DUMP", listing.Dump) })
        {
            if (r.Length == 0)
            {
                continue;
            }

            bool inside = r.Address >= listing.Reserved.Address && r.Address < listing.Reserved.End;
            if (inside)
            {
                reservedEnd = Math.Min(reservedEnd, r.Address);
            }
            else if (listing.Reserved.Length > 0 && r.Address < listing.Reserved.End && listing.Reserved.Address < r.End)
            {
                throw new InvalidDataException($"{where}: the {name} range {r} overlaps the start of the reserved range {listing.Reserved}");
            }

            if (r.Address < listing.Dump.Length && name != "DUMP")
            {
                throw new InvalidDataException($"{where}: the {name} copy {r} lies inside the low memory [0, 0x{listing.Dump.Length:x}) it would have overwritten");
            }
        }

        if (listing.Reserved.Length > 0 && reservedEnd < listing.Reserved.End)
        {
            ScratchStart = reservedEnd;
            _warnings.Add(Invariant($"{where}: the reserved range {listing.Reserved} runs over the scratch area (the firmware's copies) from 0x{reservedEnd:x}: the crashed kernel's memory is read up to there (old kernel quirk: its boot region is larger than the 256 MiB copied)"));
        }

        if (listing.Reserved.Length > 0 && listing.Reserved.Address > listing.Dump.Length)
        {
            LostBytes = listing.Reserved.Address - listing.Dump.Length;
            _warnings.Add(Invariant($"{where}: the crashed kernel's memory [0x{listing.Dump.Length:x}, 0x{listing.Reserved.Address:x}) ({LostBytes} bytes) was neither copied nor reserved (the capture kernel ran there): lost, a hole in the dump"));
        }

        var segs = new List<Segment> { new(0, listing.Dump.Length, listing.Dump.Address) };
        if (listing.Reserved.Length > 0 && reservedEnd > listing.Reserved.Address)
        {
            segs.Add(new Segment(listing.Reserved.Address, reservedEnd, listing.Reserved.Address));
        }

        _segments = [.. segs];
        ImageEnd = _segments[^1].End;
        if (resume?.Partial is { } partial)
        {
            // The copies went back to the running kernel with the first durable report: the notes come from the partial dump.
            _notes.AddRange(partial.Notes.Where(n => n.Name is "CORE" or "VMCOREINFO" or NoteName));
            VmcoreInfo = partial.VmcoreInfo;
        }
        else
        {
            byte[]? cpuArea = ReadArea(listing.Cpu, "CPU state");
            var info = vmcoreInfo is { } loc ? FindVmcoreInfo(loc) : null;
            if (cpuArea is not null)
            {
                _notes.AddRange(CpuNotes(cpuArea));
            }

            if (info is not null)
            {
                _notes.Add(info);
                VmcoreInfo = Formats.VmcoreInfo.VmcoreInfo.Parse(info.Desc, VmcoreInfoLocation.SysfsPath, -1);
            }

            if (cpuArea is not null)
            {
                _notes.Add(new ElfNote(NoteName, NoteCpuState, cpuArea));
            }

            if (ReadArea(listing.Hpte, "HPTE") is { } hpte)
            {
                _notes.Add(new ElfNote(NoteName, NoteHpte, hpte));
            }
        }

        PageSize = VmcoreInfo?.PageSize is { } ps ? (int)ps : pageSize;
        MaxPfn = (ImageEnd + (ulong)PageSize - 1) / (ulong)PageSize;
    }

    public ReleaseRegionListing Listing { get; }

    public string Path { get; }

    /// <summary>The container the image is written as; the saver decides the file's format.</summary>
    public DumpFormat Format => DumpFormat.Elf;

    public bool IsFlattened => false;

    public DumpMachine Machine { get; }

    public int PageSize { get; }

    public IReadOnlyList<ElfNote> Notes => _notes;

    /// <summary>The crashed kernel's VMCOREINFO, when /sys/kernel/vmcoreinfo led to a valid note in the copied low memory.</summary>
    public Formats.VmcoreInfo.VmcoreInfo? VmcoreInfo { get; }

    public ulong MaxPfn { get; }

    public int? DumpLevel => null;

    public bool IsIncomplete => false;

    /// <summary>One past the last crashed-kernel address the image holds.</summary>
    public ulong ImageEnd { get; }

    /// <summary>Bytes of the crashed kernel's memory between the copied low memory and the reserved range (the quirk); 0 normally.</summary>
    public ulong LostBytes { get; }

    /// <summary>Where the listed reserved range was cut because the scratch area begins there (the quirk), or null.</summary>
    public ulong? ScratchStart { get; }

    /// <summary>What the user should know: the quirk's loss, why there is no VMCOREINFO or no CPU notes.</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    public IEnumerable<PhysicalRange> MemoryRanges() =>
        PhysicalRange.Coalesce(_segments.Select(s => new PhysicalRange(s.Start, s.End)));

    /// <summary>The /dev/mem address behind a crashed-kernel address, or null when the image does not hold it.</summary>
    public ulong? SourceAddress(ulong address)
    {
        foreach (var s in _segments)
        {
            if (address >= s.Start && address < s.End)
            {
                return s.SourceAddress + (address - s.Start);
            }
        }

        return null;
    }

    public PageState ReadPage(ulong pfn, Span<byte> page)
    {
        if (page.Length != PageSize)
        {
            throw new ArgumentException("buffer must be one page", nameof(page));
        }

        ulong a = pfn * (ulong)PageSize;
        if (_resume is { } r && pfn < MaxPfn)
        {
            if (r.Partial is { } p && a < r.DurableThrough && p.PageSize == PageSize && pfn < p.MaxPfn && p.ReadPage(pfn, page) == PageState.Dumped)
            {
                return PageState.Dumped;
            }

            if (TouchesReleased(a, (ulong)PageSize))
            {
                // Saved by no one and given back: the running kernel owns it now.
                page.Clear();
                return SourceAddress(a) is null && !HasDataIn(a) ? PageState.NotPresent : PageState.Lost;
            }
        }

        int n = pfn < MaxPfn ? ReadMemory(a, page) : 0;
        page[n..].Clear();
        if (n > 0)
        {
            return PageState.Dumped;
        }

        // A page that begins in a gap but has dumped bytes later (an unaligned range start) still counts.
        foreach (var s in _segments)
        {
            if (s.Start > a && s.Start < a + (ulong)PageSize)
            {
                int off = (int)(s.Start - a);
                int m = ReadMemory(s.Start, page[off..]);
                return m > 0 ? PageState.Dumped : PageState.NotPresent;
            }
        }

        return PageState.NotPresent;
    }

    public int ReadPhysical(ulong address, Span<byte> buffer)
    {
        if (_resume is null)
        {
            return ReadMemory(address, buffer);
        }

        // Page by page: each from the partial dump, or from /dev/mem unless that part was released.
        int done = 0;
        var page = new byte[PageSize];
        while (done < buffer.Length)
        {
            ulong a = address + (ulong)done;
            ulong pfn = a / (ulong)PageSize;
            int off = (int)(a % (ulong)PageSize);
            if (ReadPage(pfn, page) != PageState.Dumped || SourceAddress(a) is null)
            {
                break;
            }

            int n = Math.Min(PageSize - off, buffer.Length - done);
            page.AsSpan(off, n).CopyTo(buffer[done..]);
            done += n;
        }

        return done;
    }

    public void Dispose()
    {
        _memory.Dispose();
        _resume?.Partial?.Dispose();
    }

    /// <summary>Reads the crashed kernel's memory from /dev/mem through the segments.</summary>
    private int ReadMemory(ulong address, Span<byte> buffer)
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
            ulong src = sg.SourceAddress + (a - sg.Start);
            if (_resume is not null && TouchesReleasedSource(src, (ulong)want))
            {
                // Never reached by the callers (they check first); a last guard: released memory is not ours to read.
                throw new InvalidOperationException(Invariant($"/dev/mem 0x{src:x}, 0x{want:x} bytes: the range was released to the running kernel and must not be read"));
            }

            int n = _memory.Read(checked((long)src), buffer.Slice(done, want));
            if (n <= 0)
            {
                break;
            }

            done += n;
        }

        return done;
    }

    private bool HasDataIn(ulong a)
    {
        foreach (var s in _segments)
        {
            if (s.Start < a + (ulong)PageSize && a < s.End)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Does the /dev/mem memory behind [a, a+len) of the image touch a released range?</summary>
    private bool TouchesReleased(ulong a, ulong len)
    {
        foreach (var s in _segments)
        {
            ulong lo = Math.Max(a, s.Start), hi = Math.Min(a + len, s.End);
            if (lo < hi && TouchesReleasedSource(s.SourceAddress + (lo - s.Start), hi - lo))
            {
                return true;
            }
        }

        return false;
    }

    private bool TouchesReleasedSource(ulong src, ulong len)
    {
        // The first merged range that ends after src; it touches [src, src+len) if it starts before the end.
        int lo = 0, hi = _released.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_released[mid].End <= src)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo < _released.Length && _released[lo].Start < src + len;
    }

    /// <summary>The pages the kernel freed for each range (see the constructor), sorted and merged.</summary>
    private static (ulong Start, ulong End)[] Merge(IEnumerable<AddressLength> ranges, ulong pageSize)
    {
        var merged = new List<(ulong Start, ulong End)>();
        foreach (var r in ranges.Where(r => r.Length > 0).OrderBy(r => r.Address))
        {
            var (start, end) = r.FreedPages(pageSize);
            if (merged.Count > 0 && start <= merged[^1].End)
            {
                merged[^1] = (merged[^1].Start, Math.Max(merged[^1].End, end));
            }
            else
            {
                merged.Add((start, end));
            }
        }

        return [.. merged];
    }

    /// <summary>One NT_PRSTATUS per CPU of the register save area; none, with a warning, when it cannot be read.</summary>
    private List<ElfNote> CpuNotes(byte[] area)
    {
        try
        {
            return [.. Ppc64RegisterSaveArea.Parse(area, _memory.Name + " (CPU state copy)", checked((long)Listing.Cpu.Address))
                .Select(c => c.ToPrStatus().ToNote(Machine))];
        }
        catch (DumpFormatException e)
        {
            _warnings.Add($"no CPU registers in the dump: {e.Message}");
            return [];
        }
    }

    /// <summary>
    /// The crashed kernel's VMCOREINFO note at the capture kernel's vmcoreinfo_note address, which must lie in
    /// the copied low memory; null, with a warning saying why, when it is not a valid VMCOREINFO note.
    /// </summary>
    private ElfNote? FindVmcoreInfo(VmcoreInfoLocation loc)
    {
        string where = Invariant($"{VmcoreInfoLocation.SysfsPath} ({loc})");
        ulong low = Listing.Dump.Length;
        const int nameSize = 11; // "VMCOREINFO\0"
        int headerBytes = ElfNote.HeaderSize + ElfNote.Align4(nameSize);
        if (loc.Size < (ulong)headerBytes || loc.Size > (ulong)ElfNote.MaxFieldSize || loc.Address > low || loc.Size > low - loc.Address)
        {
            _warnings.Add($"no VMCOREINFO: {where}: expected a note of {headerBytes} to {ElfNote.MaxFieldSize} bytes inside the copied low memory [0, 0x{low:x}); saving without it (unfiltered)");
            return null;
        }

        if (_resume is not null && TouchesReleased(loc.Address, loc.Size))
        {
            _warnings.Add($"no VMCOREINFO: {where}: that memory was released by an interrupted collect and no partial dump holds it");
            return null;
        }

        var buf = new byte[loc.Size];
        int n = ReadMemory(loc.Address, buf);
        bool be = Machine.BigEndian;
        uint namesz = n >= 12 ? Read32(buf, 0, be) : 0, descsz = n >= 12 ? Read32(buf, 4, be) : 0, type = n >= 12 ? Read32(buf, 8, be) : 0;
        if (n != buf.Length || namesz != nameSize || type != ElfNote.VMCOREINFO_TYPE
            || !buf.AsSpan(ElfNote.HeaderSize, nameSize).SequenceEqual("VMCOREINFO\0"u8)
            || descsz > (ulong)buf.Length - (ulong)headerBytes)
        {
            _warnings.Add(Invariant($"no VMCOREINFO: {where}: the crashed kernel's memory there is not a VMCOREINFO note (namesz {namesz}, descsz {descsz}, type {type}); saving without it (unfiltered)"));
            return null;
        }

        var desc = buf.AsSpan(headerBytes, (int)descsz).ToArray();
        try
        {
            var info = Formats.VmcoreInfo.VmcoreInfo.Parse(desc, where, -1);
            if (info.OsRelease is null)
            {
                _warnings.Add($"no VMCOREINFO: {where}: the note has no OSRELEASE; saving without it (unfiltered)");
                return null;
            }

            if (info.PageSize is { } ps && (ps is < 4096 or > (1 << 20) || (ps & (ps - 1)) != 0))
            {
                _warnings.Add(Invariant($"no VMCOREINFO: {where}: PAGESIZE={ps}: expected a power of two from 4096 to 1048576; saving without it (unfiltered)"));
                return null;
            }
        }
        catch (DumpFormatException e)
        {
            _warnings.Add($"no VMCOREINFO: {e.Message}; saving without it (unfiltered)");
            return null;
        }

        return new ElfNote("VMCOREINFO", ElfNote.VMCOREINFO_TYPE, desc);
    }

    private static uint Read32(byte[] b, int at, bool be) => be ? BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(at)) : BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(at));

    /// <summary>A copy's bytes; null, with a warning, when an interrupted collect released it and no partial dump kept it.</summary>
    private byte[]? ReadArea(AddressLength r, string what)
    {
        if (r.Length > (ulong)ElfNote.MaxFieldSize)
        {
            throw new InvalidDataException(Invariant($"{DumpDetector.ReleaseRegion}: the {what} range {r} is larger than {ElfNote.MaxFieldSize} bytes"));
        }

        if (_resume is not null && TouchesReleasedSource(r.Address, r.Length))
        {
            _warnings.Add($"the {what} copy {r} was released by an interrupted collect and no partial dump holds it: not in the dump");
            return null;
        }

        var b = new byte[r.Length];
        _memory.ReadExactly(checked((long)r.Address), b, what + " copy");
        return b;
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>Original physical addresses [Start, End), read from SourceAddress on.</summary>
    private readonly record struct Segment(ulong Start, ulong End, ulong SourceAddress);
}
