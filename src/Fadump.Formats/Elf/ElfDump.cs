using Fadump.Formats.IO;

namespace Fadump.Formats.Elf;

/// <summary>The <see cref="IDump"/> view of an ELF core.</summary>
public sealed class ElfDump : IDump
{
    private readonly ElfCoreFile _elf;

    public ElfDump(ElfCoreFile elf, bool flattened = false)
    {
        _elf = elf;
        IsFlattened = flattened;
        Path = elf.Source.Name;
        var vmcoreinfoNote = elf.Notes.FirstOrDefault(n => n.Name == "VMCOREINFO");
        if (vmcoreinfoNote is not null)
        {
            VmcoreInfo = Formats.VmcoreInfo.VmcoreInfo.Parse(vmcoreinfoNote.Desc, Path, -1);
        }

        PageSize = PageSizes.FromVmcoreInfo(VmcoreInfo, elf.Machine, Path);
        ulong top = elf.Loads.Count == 0 ? 0 : elf.Loads.Max(l => l.PhysicalEnd);
        MaxPfn = (top + (ulong)PageSize - 1) / (ulong)PageSize;
    }

    public static ElfDump Open(IRandomAccessSource source, bool flattened = false) => new(ElfCoreFile.Open(source), flattened);

    public ElfCoreFile Elf => _elf;

    public string Path { get; }

    public DumpFormat Format => DumpFormat.Elf;

    public bool IsFlattened { get; }

    public DumpMachine Machine => _elf.Machine;

    public int PageSize { get; }

    public IReadOnlyList<ElfNote> Notes => _elf.Notes;

    public VmcoreInfo.VmcoreInfo? VmcoreInfo { get; }

    public ulong MaxPfn { get; }

    public int? DumpLevel => null;

    /// <summary>e_flags bit 0 (makedumpfile DUMP_ELF_INCOMPLETE). Not meaningful on big-endian ppc64, where e_flags is 1 (ELFv1).</summary>
    /// <remarks>A truncated ELF file that is not flagged does not open (<see cref="ElfCoreFile.Open(IRandomAccessSource)"/> names the PT_LOAD).</remarks>
    public bool IsIncomplete => !_elf.Machine.BigEndian && (_elf.Flags & ElfLayout.DumpElfIncomplete) != 0;

    public string? IncompleteReason => IsIncomplete ? "flagged incomplete by its writer (e_flags bit 0)" : null;

    public IEnumerable<PhysicalRange> MemoryRanges() =>
        PhysicalRange.Coalesce(_elf.Loads.OrderBy(l => l.PhysicalAddress).Select(l => new PhysicalRange(l.PhysicalAddress, l.PhysicalEnd)));

    public PageState ReadPage(ulong pfn, Span<byte> page)
    {
        if (page.Length != PageSize)
        {
            throw new ArgumentException("buffer must be one page", nameof(page));
        }

        if (pfn >= MaxPfn)
        {
            page.Clear();
            return PageState.NotPresent;
        }

        return _elf.ReadPhysicalSparse(pfn * (ulong)PageSize, page) > 0 ? PageState.Dumped : PageState.NotPresent;
    }

    public int ReadPhysical(ulong address, Span<byte> buffer) => _elf.ReadPhysical(address, buffer);

    public void Dispose() => _elf.Dispose();
}
