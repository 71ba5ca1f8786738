using System.Text;
using Fadump.Kernel.Arch;
using Fadump.Kernel.Mm;
using Fadump.Kernel.Structures;
using Fadump.Kernel.Workload;
using Fadump.Machine;

namespace Fadump.Kernel;

public sealed partial class LinuxKernel
{
    /// <summary>Where vmcoreinfo_note is in physical memory.</summary>
    public ulong VmcoreInfoNotePhys => Arch.ToPhys(Arch.Sym(Arch.Image.VmcoreInfoNote));

    public Formats.VmcoreInfo.VmcoreInfo VmcoreInfo { get; private set; } = null!;

    /// <summary>The mem_section pointer: the root array's address (the image's, or memblock's on an arch that allocates it).</summary>
    public ulong MemSectionRoots { get; private set; }

    /// <summary>
    /// The first kernel's memory image: procedural page contents and struct pages (vmemmap), the
    /// mem_section roots and the arch's vmemmap, at boot-time allocations made top-down like memblock's.
    /// The capture kernel lays out only what it writes (its log and notes): the rest of RAM is the
    /// crashed kernel's.
    /// </summary>
    private void LayoutKernelStructures(bool first)
    {
        if (!first)
        {
            return;
        }

        var workload = Options.Workload ?? WorkloadModel.Default(42);
        _image = new KernelMemoryImage(workload, _machine.Memory, Arch);
        ulong text = Arch.KernelPhysicalBase;
        _image.Reserve(new MemoryRange(text, Arch.Image.TextEnd), PageClass.KernelText);
        _image.Reserve(MemoryRange.FromBounds(text + Arch.Image.TextEnd, text + Arch.Image.ImageSize), PageClass.KernelData);
        foreach (var r in _platform.EarlyReservations)
        {
            _image.Reserve(r, PageClass.KernelData);
        }

        foreach (var r in ReservedRanges)
        {
            _image.Reserve(r, PageClass.Zero);
        }

        foreach (var r in Mechanism.ReservedAreas)
        {
            _image.Reserve(r, PageClass.Zero);
        }

        if (CrashKernelReservation is { } ck)
        {
            _image.Reserve(ck, PageClass.Zero);
        }

        var before = _machine.Memory.Content;
        _machine.Memory.Content = _image;
        BuildVmemmapAndSections();
        Mechanism.ClearStaticData();
        if (Options.WorkingSet is { } ws)
        {
            // A short-lived kernel: its image, boot allocations and working set below them; the rest is the previous kernel's.
            var written = new List<MemoryRange>(_memblock.Allocations) { KernelImage };
            ulong low = _memblock.Allocations.Count > 0 ? _memblock.Allocations.Min(a => a.Start) : _machine.Memory.Top;
            ulong start = low > ws ? (low - ws) & ~(ulong)(PhysicalMemory.FrameSize - 1) : 0;
            written.Add(MemoryRange.FromBounds(start, low));
            _machine.Memory.Content = new LayeredContent(before, _image, written);
        }
    }

    /// <summary>Present sections in ascending order (a section shared by two ranges counts once).</summary>
    private List<ulong> PresentSections(IEnumerable<MemoryRange> ranges)
    {
        var present = new List<ulong>();
        foreach (var r in ranges)
        {
            for (ulong s = r.Start >> Arch.SectionSizeBits; s <= (r.End - 1) >> Arch.SectionSizeBits; s++)
            {
                if (present.Count == 0 || present[^1] < s)
                {
                    present.Add(s);
                }
            }
        }

        return present;
    }

    /// <summary>sparse_init: the arch's vmemmap for the present sections, then the mem_section roots and pages.</summary>
    private void BuildVmemmapAndSections()
    {
        var presentSections = PresentSections(Memory);
        ulong rootsSize = (ulong)Arch.NrSectionRoots * 8UL;
        MemSectionRoots = Arch.Image.MemSectionRoots is { } staticRoots
            ? Arch.Sym(staticRoots)
            : Arch.Virt(BootAlloc(rootsSize, 64, "memblocks_present"));
        Arch.Vmemmap.Populate(this, presentSections);

        // SPARSEMEM_EXTREME: the root array of pointers (zeroed when allocated: an absent root is NULL), one
        // page of mem_section per present root (the sections come sorted, so each root's sections are one run).
        ulong rootsPhys = Arch.ToPhys(MemSectionRoots);
        ulong perRoot = (ulong)Arch.SectionsPerRoot;
        _machine.Memory.Clear(rootsPhys, rootsSize);
        // Each root's page is built whole and written once.
        var sectionPage = new byte[Page];
        ulong currentRoot = ulong.MaxValue, page = 0;
        void Flush()
        {
            if (currentRoot != ulong.MaxValue)
            {
                _w.Bytes(Arch.Virt(page), sectionPage);
            }
        }

        foreach (var s in presentSections)
        {
            ulong root = s / perRoot;
            if (root != currentRoot)
            {
                Flush();
                Array.Clear(sectionPage);
                currentRoot = root;
                page = BootAlloc(Page, Page, "sparse_index_alloc");
                _w.U64(MemSectionRoots + (root * 8), Arch.Virt(page));
            }

            Formats.Endian.Write(sectionPage.AsSpan((int)((s % perRoot) * KernelArch.MemSectionSize)), EncodedMemMap, _w.BigEndian);
        }

        Flush();
        _memblock.Reserve(new MemoryRange(rootsPhys, rootsSize));
    }

    /// <summary>
    /// sparse_encode_mem_map: mem_map − section_nr_to_pfn(nr), i.e. the vmemmap base, with
    /// SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP (the flags every makedumpfile masks).
    /// </summary>
    private ulong EncodedMemMap => Arch.VmemmapBase | KernelArch.SectionMarkedPresent | KernelArch.SectionHasMemMap;

    /// <summary>
    /// memblock_alloc for a boot structure; a failure is the kernel's boot panic (mm/sparse.c, vmemmap):
    /// "%s: Failed to allocate %lu bytes align=0x%lx nid=%d from=%pa".
    /// </summary>
    internal ulong BootAlloc(ulong size, ulong align, string function) =>
        _memblock.AllocTopDown(size, align) ?? throw new KernelPanicException(FormattableString.Invariant(
            $"Kernel panic - not syncing: {function}: Failed to allocate {size} bytes align=0x{align:x} nid=0 from=0x0000000000000000"));

    /// <summary>
    /// Memory hot-add in the running first kernel (add_memory, memmap_on_memory): the machine gains the range,
    /// the kernel maps struct pages for it from the start of the range itself (the arch's vmemmap) and fills
    /// the mem_section entries. The dump mechanism does nothing: FADump with hotplug_ready builds the ELF core
    /// headers in the capture kernel from the memory it finds at its own boot.
    /// </summary>
    public void HotAddMemory(MemoryRange range)
    {
        if (Crashed || Mechanism.IsCaptureKernel || _image is null)
        {
            throw new InvalidOperationException("memory hot-add is simulated in the running first kernel only");
        }

        ulong blockSize = _platform.MemoryBlockSize;
        if (range.Start % blockSize != 0 || range.Size % blockSize != 0 || range.Size == 0)
        {
            throw new ArgumentException(FormattableString.Invariant($"hot-added memory {range} must be whole {blockSize >> 20}M memory blocks"), nameof(range));
        }

        Printk(_platform.HotAddStarting(range.Size / blockSize));
        _machine.Memory.AddRam(range);
        _memblock.AddMemory(range);
        SystemRam += range.Size;

        // memmap_on_memory: the arch's vmemmap, then new mem_section pages, at the start of the range.
        ulong cursor = range.Start;
        ulong Take(ulong size)
        {
            ulong at = cursor;
            cursor += size;
            return at;
        }

        var mapVmemmap = Arch.Vmemmap.PrepareHotAdd(this, range, Take);
        ulong perRoot = (ulong)Arch.SectionsPerRoot;
        var newRoots = new List<(ulong Root, ulong Page)>();
        for (ulong s = range.Start >> Arch.SectionSizeBits; s <= (range.End - 1) >> Arch.SectionSizeBits; s++)
        {
            ulong root = s / perRoot;
            if (_w.ReadU64(MemSectionRoots + (root * 8)) == 0 && !newRoots.Any(x => x.Root == root))
            {
                newRoots.Add((root, Take(Page)));
            }
        }

        var allocated = MemoryRange.FromBounds(range.Start, cursor);
        _image.Reserve(allocated, PageClass.KernelData);
        _memblock.RecordAllocation(allocated);
        mapVmemmap();

        foreach (var (root, page) in newRoots)
        {
            _machine.Memory.Clear(page, Page);
            _w.U64(MemSectionRoots + (root * 8), Arch.Virt(page));
        }

        for (ulong s = range.Start >> Arch.SectionSizeBits; s <= (range.End - 1) >> Arch.SectionSizeBits; s++)
        {
            ulong rootPage = _w.ReadU64(MemSectionRoots + (s / perRoot * 8));
            _w.U64(rootPage + ((s % perRoot) * KernelArch.MemSectionSize), EncodedMemMap);
        }

        for (ulong block = range.Start; block < range.End; block += blockSize)
        {
            Printk(_platform.HotAdded(block));
        }
    }

    private void WriteUtsname()
    {
        // struct new_utsname: six 65-byte fields.
        var b = new byte[6 * 65];
        void Put(int i, string s) => Encoding.ASCII.GetBytes(s.Length > 64 ? s[..64] : s).CopyTo(b, i * 65);
        Put(0, "Linux");
        Put(1, Options.NodeName);
        Put(2, Options.Release);
        Put(3, Options.Version);
        Put(4, Arch.Name);
        Put(5, "(none)");
        _w.Bytes(Arch.Sym(Arch.Image.InitUtsNs), b);
    }

    private void WriteVmcoreInfo()
    {
        VmcoreInfo = KernelVmcoreInfo.Build(Arch, Options.Profile, Options.Release, Options.BuildId, MemSectionRoots);
        _w.Bytes(Arch.Virt(VmcoreInfoNotePhys), KernelVmcoreInfo.EncodeNote(VmcoreInfo, Arch));
    }

    /// <summary>crash_save_vmcoreinfo: appends CRASHTIME and rewrites the note.</summary>
    internal void SaveCrashTime()
    {
        VmcoreInfo.Add("CRASHTIME", _machine.Clock.WallSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        _w.Bytes(Arch.Virt(VmcoreInfoNotePhys), KernelVmcoreInfo.EncodeNote(VmcoreInfo, Arch));
    }
}
