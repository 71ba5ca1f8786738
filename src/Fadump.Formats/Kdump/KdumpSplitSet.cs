using Fadump.Formats.Elf;
using static System.FormattableString;

namespace Fadump.Formats.Kdump;

/// <summary>
/// The files of a makedumpfile --split set read as one dump. Each file has split = 1, the complete bitmaps
/// and the pages of its own PFN range [start_pfn, end_pfn); together they must describe the same crash
/// (machine, page size, max_mapnr, utsname) with disjoint ranges. A PFN that no file's range covers (a file
/// of the set is missing) reads as <see cref="PageState.Lost"/> when the bitmaps say it was dumped.
/// </summary>
public sealed class KdumpSplitSet : IDump, IPageCounts
{
    private readonly KdumpCompressedDump[] _parts;

    private KdumpSplitSet(KdumpCompressedDump[] parts)
    {
        _parts = parts;
        Path = string.Join(", ", parts.Select(p => p.Path));
        var missing = new List<(ulong Start, ulong End)>();
        ulong at = 0;
        foreach (var p in parts)
        {
            if (p.StartPfn > at)
            {
                missing.Add((at, p.StartPfn));
            }

            at = Math.Max(at, p.EndPfn);
        }

        if (at < MaxPfn)
        {
            missing.Add((at, MaxPfn));
        }

        MissingPfnRanges = missing;
    }

    /// <summary>Opens and checks a split set. Takes ownership of the parts (all disposed on failure).</summary>
    public static KdumpSplitSet Open(IEnumerable<KdumpCompressedDump> parts)
    {
        var list = parts.ToList();
        try
        {
            return new KdumpSplitSet(Check(list));
        }
        catch
        {
            foreach (var p in list)
            {
                p.Dispose();
            }

            throw;
        }
    }

    /// <summary>Opens each file (plain or flattened) and checks that they form one set.</summary>
    public static KdumpSplitSet Open(IEnumerable<string> paths)
    {
        var parts = new List<KdumpCompressedDump>();
        try
        {
            foreach (var path in paths)
            {
                var dump = DumpFile.Open(path);
                if (dump is not KdumpCompressedDump kdump)
                {
                    dump.Dispose();
                    throw new DumpFormatException(path, 0, $"split set member in {dump.Format} format: expected a kdump-compressed file");
                }

                parts.Add(kdump);
            }
        }
        catch
        {
            foreach (var p in parts)
            {
                p.Dispose();
            }

            throw;
        }

        return Open(parts);
    }

    private static KdumpCompressedDump[] Check(List<KdumpCompressedDump> parts)
    {
        if (parts.Count == 0)
        {
            throw new ArgumentException("a split set needs at least one file", nameof(parts));
        }

        var first = parts[0];
        long sub = first.PageSize;
        foreach (var p in parts)
        {
            if (!p.IsSplit)
            {
                throw new DumpFormatException(p.Path, sub + KdumpLayout.Split, "split 0: expected 1 for a file of a --split set");
            }

            if (p.Machine != first.Machine)
            {
                throw new DumpFormatException(p.Path, KdumpLayout.Utsname,
                    $"machine {p.Machine}: expected {first.Machine}, as in {first.Path}");
            }

            if (p.PageSize != first.PageSize)
            {
                throw new DumpFormatException(p.Path, KdumpLayout.BlockSize,
                    Invariant($"block_size {p.PageSize}: expected {first.PageSize}, as in {first.Path}"));
            }

            if (p.MaxPfn != first.MaxPfn)
            {
                throw new DumpFormatException(p.Path, sub + KdumpLayout.MaxMapnr64,
                    Invariant($"max_mapnr 0x{p.MaxPfn:x}: expected 0x{first.MaxPfn:x}, as in {first.Path}"));
            }

            if (p.Utsname != first.Utsname)
            {
                throw new DumpFormatException(p.Path, KdumpLayout.Utsname,
                    $"utsname ({Describe(p.Utsname)}): expected the same as {first.Path} ({Describe(first.Utsname)})");
            }
        }

        var sorted = parts.OrderBy(p => p.StartPfn).ToArray();
        KdumpCompressedDump? prev = null;
        foreach (var cur in sorted.Where(p => p.EndPfn > p.StartPfn))
        {
            if (prev is not null && cur.StartPfn < prev.EndPfn)
            {
                throw new DumpFormatException(cur.Path, sub + KdumpLayout.StartPfn64,
                    Invariant($"split range of PFNs [0x{cur.StartPfn:x}, 0x{cur.EndPfn:x}) overlaps [0x{prev.StartPfn:x}, 0x{prev.EndPfn:x}) of {prev.Path}: expected disjoint ranges"));
            }

            if (prev is null || cur.EndPfn > prev.EndPfn)
            {
                prev = cur;
            }
        }

        return sorted;
    }

    private static string Describe(KdumpUtsname u) => $"{u.Sysname} {u.Nodename} {u.Release} {u.Version} {u.Machine}";

    /// <summary>The files, ordered by start PFN.</summary>
    public IReadOnlyList<KdumpCompressedDump> Parts => _parts;

    /// <summary>PFN ranges that no file covers (empty for a complete set).</summary>
    public IReadOnlyList<(ulong Start, ulong End)> MissingPfnRanges { get; }

    public string Path { get; }

    public DumpFormat Format => DumpFormat.KdumpCompressed;

    public bool IsFlattened => _parts.Any(p => p.IsFlattened);

    public DumpMachine Machine => _parts[0].Machine;

    public int PageSize => _parts[0].PageSize;

    public IReadOnlyList<ElfNote> Notes => _parts[0].Notes;

    public VmcoreInfo.VmcoreInfo? VmcoreInfo => _parts[0].VmcoreInfo;

    public ulong MaxPfn => _parts[0].MaxPfn;

    public int? DumpLevel => _parts[0].DumpLevel;

    /// <summary>Pages the set holds: each file's pages of its own range, summed (every file's bitmap counts them all).</summary>
    public ulong DumpedPageCount => _parts.Aggregate(0UL, (sum, p) => sum + p.HeldPageCount);

    public bool IsIncomplete => _parts.Any(p => p.IsIncomplete) || MissingPfnRanges.Count > 0;

    public string? IncompleteReason =>
        _parts.FirstOrDefault(p => p.IncompleteReason is not null) is { } part ? $"{part.Path}: {part.IncompleteReason}"
        : MissingPfnRanges.Count > 0 ? "files of the split set are missing"
        : null;

    public KdumpUtsname Utsname => _parts[0].Utsname;

    public IEnumerable<PhysicalRange> MemoryRanges() => _parts[0].MemoryRanges();

    public PageState ReadPage(ulong pfn, Span<byte> page) => PartFor(pfn).ReadPage(pfn, page);

    public int ReadPhysical(ulong address, Span<byte> buffer) => PhysicalReader.Read(this, address, buffer);

    public void Dispose()
    {
        foreach (var p in _parts)
        {
            p.Dispose();
        }
    }

    /// <summary>The file whose range holds pfn; for an uncovered PFN any file, whose bitmaps then answer Lost.</summary>
    private KdumpCompressedDump PartFor(ulong pfn)
    {
        int lo = 0, hi = _parts.Length - 1, found = 0;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_parts[mid].StartPfn <= pfn)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return _parts[found];
    }
}
