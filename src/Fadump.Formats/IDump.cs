using Fadump.Formats.Elf;

namespace Fadump.Formats;

public enum DumpFormat
{
    /// <summary>ELF64 core: /proc/vmcore, makedumpfile -E, QEMU "elf".</summary>
    Elf,

    /// <summary>kdump-compressed ("KDUMP   " / "DISKDUMP"): makedumpfile -c/-l/-p/-z.</summary>
    KdumpCompressed,
}

/// <summary>What a dump holds for one page frame.</summary>
public enum PageState
{
    /// <summary>The page's bytes are in the dump (possibly all zeros).</summary>
    Dumped,

    /// <summary>RAM at the crash, but filtered out by the dump level.</summary>
    Excluded,

    /// <summary>Not RAM (a hole), or outside the dumped ranges.</summary>
    NotPresent,

    /// <summary>Meant to be dumped, but the dump is incomplete and the page was never written.</summary>
    Lost,
}

/// <summary>A range of physical addresses [Start, End).</summary>
public readonly record struct PhysicalRange(ulong Start, ulong End)
{
    public ulong Size => End - Start;

    /// <summary>Merges ranges that overlap or touch; the input must be sorted by start.</summary>
    public static IEnumerable<PhysicalRange> Coalesce(IEnumerable<PhysicalRange> sorted)
    {
        PhysicalRange? cur = null;
        foreach (var r in sorted)
        {
            if (cur is { } c && r.Start <= c.End)
            {
                cur = new PhysicalRange(c.Start, Math.Max(c.End, r.End));
                continue;
            }

            if (cur is { } done)
            {
                yield return done;
            }

            cur = r;
        }

        if (cur is { } last)
        {
            yield return last;
        }
    }
}

/// <summary>
/// A vmcore in any supported container format: the common view the tools use. Reads are
/// thread-safe. Open one with <see cref="DumpFile.Open(string)"/>.
/// </summary>
public interface IDump : IDisposable
{
    string Path { get; }

    DumpFormat Format { get; }

    /// <summary>True when the file is in makedumpfile's flattened format (read through an index).</summary>
    bool IsFlattened { get; }

    DumpMachine Machine { get; }

    int PageSize { get; }

    /// <summary>All ELF notes: NT_PRSTATUS per CPU, VMCOREINFO, others preserved.</summary>
    IReadOnlyList<ElfNote> Notes { get; }

    /// <summary>The parsed VMCOREINFO note, when the dump has one.</summary>
    VmcoreInfo.VmcoreInfo? VmcoreInfo { get; }

    /// <summary>One past the highest page frame number the dump describes.</summary>
    ulong MaxPfn { get; }

    /// <summary>The dump level makedumpfile recorded (kdump-compressed), or null.</summary>
    int? DumpLevel { get; }

    /// <summary>True when the writer flagged the dump incomplete (status 0x8 / e_flags bit 0).</summary>
    bool IsIncomplete { get; }

    /// <summary>
    /// Why the dump is incomplete: "flagged incomplete by its writer (...)", or "truncated: ..." for a file shorter
    /// than its own tables say that no writer flagged (a copy cut short, a killed writer, a power loss); null
    /// when complete. May scan the file's tables (kdump: the bitmaps' rank index).
    /// </summary>
    string? IncompleteReason => IsIncomplete ? "flagged incomplete by its writer" : null;

    /// <summary>Physical memory ranges the dump describes as RAM, ascending.</summary>
    IEnumerable<PhysicalRange> MemoryRanges();

    /// <summary>Reads one page; page.Length must be <see cref="PageSize"/>. Non-dumped pages read as zeros.</summary>
    PageState ReadPage(ulong pfn, Span<byte> page);

    /// <summary>
    /// Reads physical memory. Returns the count of bytes read before the first byte that is not
    /// dumped (0 when the address itself is not in the dump).
    /// </summary>
    int ReadPhysical(ulong address, Span<byte> buffer);
}

public static class DumpExtensions
{
    /// <summary>CPU register sets from the NT_PRSTATUS notes, in note order.</summary>
    public static IReadOnlyList<PrStatus> CpuStates(this IDump dump) =>
        [.. dump.Notes.Where(n => n.Type == ElfNote.NT_PRSTATUS && n.Name == "CORE")
            .Select(n => PrStatus.Parse(n.Desc, dump.Machine, dump.Path, -1))];

    /// <summary>The NT_PRPSINFO note, when the dump has one.</summary>
    public static PrPsInfo? ProcessInfo(this IDump dump) =>
        dump.Notes.FirstOrDefault(n => n.Type == ElfNote.NT_PRPSINFO && n.Name == "CORE") is { } note
            ? PrPsInfo.Parse(note.Desc, dump.Machine.BigEndian, dump.Path, -1)
            : null;
}

/// <summary>Implemented by formats that know their dumped-page count without a scan (kdump: popcount of bitmap 2).</summary>
public interface IPageCounts
{
    ulong DumpedPageCount { get; }
}

/// <summary>Implemented by formats whose header carries the utsname and a timestamp (kdump-compressed).</summary>
public interface IUtsInfo
{
    string? Release { get; }

    string? NodeName { get; }

    /// <summary>Seconds since the epoch, or null.</summary>
    long? Timestamp { get; }
}
