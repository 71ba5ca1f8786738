using Fadump.Formats.Compression;
using Fadump.Formats.Elf;

namespace Fadump.Formats.Kdump;

/// <summary>What a <see cref="KdumpCompressedWriter"/> puts in the headers and which pages it expects.</summary>
public sealed record KdumpWriterOptions
{
    public required DumpMachine Machine { get; init; }

    /// <summary>Page size (= block_size); 0 takes the machine's default.</summary>
    public int PageSize { get; init; }

    /// <summary>One past the highest PFN (max_mapnr).</summary>
    public required ulong MaxPfn { get; init; }

    /// <summary>utsname; null makes one from the machine and the VMCOREINFO note's OSRELEASE.</summary>
    public KdumpUtsname? Utsname { get; init; }

    /// <summary>The crash time (makedumpfile uses VMCOREINFO CRASHTIME).</summary>
    public DateTimeOffset Timestamp { get; init; } = DateTimeOffset.UnixEpoch;

    /// <summary>makedumpfile -d: bit 1 makes all-zero pages share one descriptor and one zero page.</summary>
    public int DumpLevel { get; init; }

    public PageCompression Compression { get; init; } = PageCompression.Zlib;

    /// <summary>Status bits to add besides the compression bit (e.g. <see cref="KdumpStatus.ExcludedVmemmap"/>).</summary>
    public KdumpStatus ExtraStatus { get; init; }

    /// <summary>ELF notes (NT_PRSTATUS per CPU, VMCOREINFO, ...), written after the sub-header.</summary>
    public IReadOnlyList<ElfNote> Notes { get; init; } = [];

    public ulong PhysBase { get; init; }

    /// <summary>The 1st bitmap: PFNs that are RAM.</summary>
    public required IPfnBitmap RamBitmap { get; init; }

    /// <summary>The 2nd bitmap: PFNs that are dumped; must be a subset of <see cref="RamBitmap"/>.</summary>
    public required IPfnBitmap DumpBitmap { get; init; }

    /// <summary>disk_dump_header.current_cpu: the CPU that handled the crash.</summary>
    public uint CurrentCpu { get; init; }

    /// <summary>
    /// For one file of a --split set: the PFNs [Start, End) whose pages this file holds. The bitmaps stay
    /// complete, as makedumpfile writes them.
    /// </summary>
    public (ulong Start, ulong End)? SplitRange { get; init; }
}
