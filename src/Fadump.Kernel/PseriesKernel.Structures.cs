using System.Text;
using Fadump.Kernel.Structures;
using Fadump.Kernel.Workload;
using Fadump.Machine;
using Fadump.Kernel.Arch;
using P = Fadump.Kernel.Arch.Ppc64.Ppc64Arch;

namespace Fadump.Kernel;

public sealed partial class PseriesKernel
{
    /// <summary>Where vmcoreinfo_note is in physical memory.</summary>
    public ulong VmcoreInfoNotePhys => _arch.ToPhys(_arch.Sym(_arch.Image.VmcoreInfoNote));

    public Formats.VmcoreInfo.VmcoreInfo VmcoreInfo { get; private set; } = null!;

    /// <summary>
    /// The first kernel's memory image: procedural page contents and struct pages (vmemmap), the
    /// mem_section roots and the vmemmap_list, at boot-time allocations made top-down like memblock's.
    /// The capture kernel lays out only what it writes (its log and notes): the rest of RAM is the
    /// crashed kernel's.
    /// </summary>
    private void LayoutKernelStructures(bool first)
    {
        ulong memSectionRoots = _arch.Sym(_arch.Image.MemSectionRoots);
        if (first)
        {
            var workload = Options.Workload ?? WorkloadModel.Default(42);
            _image = new KernelMemoryImage(workload, _machine.Memory, _arch);
            _image.Reserve(new MemoryRange(0, _arch.Image.TextEnd), PageClass.KernelText);
            _image.Reserve(MemoryRange.FromBounds(_arch.Image.TextEnd, _arch.Image.ImageSize), PageClass.KernelData);
            foreach (var r in ReservedRanges)
            {
                _image.Reserve(r, PageClass.Zero);
            }

            if (Dump.ReserveSize > 0)
            {
                _image.Reserve(new MemoryRange(Dump.ReserveStart, Align(Dump.ReserveSize, Page)), PageClass.Zero);
            }

            if (CrashKernelReservation is { } ck)
            {
                _image.Reserve(ck, PageClass.Zero);
            }

            _machine.Memory.Content = _image;
            BuildVmemmapAndSections(memSectionRoots);

            // Static data starts zeroed (bss): the param area and the registration structure.
            _machine.Memory.Clear(P.FadumpParamAreaOffset, P.FadumpRegistrationOffset + 0x1000 - P.FadumpParamAreaOffset);
        }
    }

    private void BuildVmemmapAndSections(ulong memSectionRootsVirt)
    {
        const ulong Block = 1UL << P.VmemmapBlockShift;
        ulong pagesPerSection = 1UL << (_arch.SectionSizeBits - _arch.PageShift);
        // Present sections in ascending order (Memory is sorted; a section shared by two ranges counts once).
        var presentSections = new List<ulong>();
        foreach (var r in Memory)
        {
            for (ulong s = r.Start >> _arch.SectionSizeBits; s <= (r.End - 1) >> _arch.SectionSizeBits; s++)
            {
                if (presentSections.Count == 0 || presentSections[^1] < s)
                {
                    presentSections.Add(s);
                }
            }
        }

        // vmemmap: one 2 MiB block of struct pages per 32768 PFNs with a present section (ascending, once each).
        var blocks = new List<ulong>();
        foreach (var s in presentSections)
        {
            ulong firstPfn = s * pagesPerSection;
            ulong v0 = _arch.VmemmapBase + (firstPfn * KernelArch.PageStructSize);
            ulong v1 = v0 + (pagesPerSection * KernelArch.PageStructSize) - 1;
            for (ulong b = v0 & ~(Block - 1); b <= v1; b += Block)
            {
                if (blocks.Count == 0 || blocks[^1] < b)
                {
                    blocks.Add(b);
                }
            }
        }

        var backings = new List<VmemmapBacking>();
        foreach (var b in blocks)
        {
            ulong phys = BootAlloc(Block, Block, "vmemmap_populate");
            var backing = new VmemmapBacking(b, phys, Block);
            backings.Add(backing);
            _image!.AddVmemmap(backing);
        }

        // vmemmap_list: newest first, nodes carved from pages allocated for them.
        ulong listBytes = Align((ulong)backings.Count * P.VmemmapBackingSize, Page);
        ulong listPhys = BootAlloc(listBytes, Page, "vmemmap_list_populate");
        ulong next = 0;
        var list = new byte[listBytes];
        for (int i = 0; i < backings.Count; i++)
        {
            ulong node = _arch.Virt(listPhys + ((ulong)i * P.VmemmapBackingSize));
            var n = list.AsSpan(i * P.VmemmapBackingSize, P.VmemmapBackingSize);
            Formats.Endian.Write(n, next, _w.BigEndian);
            Formats.Endian.Write(n[8..], backings[i].PhysicalAddress, _w.BigEndian);
            Formats.Endian.Write(n[16..], backings[i].VirtualAddress, _w.BigEndian);
            next = node;
        }

        _w.Bytes(_arch.Virt(listPhys), list); // one write: a 64 TiB machine has 32768 nodes
        _w.U64(_arch.Sym(P.VmemmapListOffset), next);
        // mmu_vmemmap_psize = MMU_PAGE_2M (index 4 here); mmu_psize_defs[4].shift = 21.
        _w.U32(_arch.Sym(P.MmuVmemmapPsizeOffset), 4);
        _w.U32(_arch.Sym(P.MmuPsizeDefsOffset) + (4 * 96), P.VmemmapBlockShift);

        // SPARSEMEM_EXTREME: the root array of pointers (zeroed when allocated: an absent root is NULL), one
        // page of mem_section per present root (the sections come sorted, so each root's sections are one run).
        _machine.Memory.Clear(_arch.ToPhys(_arch.Sym(_arch.Image.MemSectionRoots)), (ulong)_arch.NrSectionRoots * 8UL);
        // Each root's page is built whole and written once.
        var sectionPage = new byte[Page];
        ulong currentRoot = ulong.MaxValue, page = 0;
        void Flush()
        {
            if (currentRoot != ulong.MaxValue)
            {
                _w.Bytes(_arch.Virt(page), sectionPage);
            }
        }

        foreach (var s in presentSections)
        {
            ulong root = s / (ulong)_arch.SectionsPerRoot;
            if (root != currentRoot)
            {
                Flush();
                Array.Clear(sectionPage);
                currentRoot = root;
                page = BootAlloc(Page, Page, "sparse_index_alloc");
                _w.U64(memSectionRootsVirt + (root * 8), _arch.Virt(page));
            }

            // sparse_encode_mem_map: mem_map − section_nr_to_pfn(nr), i.e. the vmemmap base, with
            // SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP (the flags every makedumpfile masks).
            ulong encoded = _arch.VmemmapBase | KernelArch.SectionMarkedPresent | KernelArch.SectionHasMemMap;
            Formats.Endian.Write(sectionPage.AsSpan((int)((s % (ulong)_arch.SectionsPerRoot) * KernelArch.MemSectionSize)), encoded, _w.BigEndian);
        }

        Flush();

        _memblockReserved.Add(new MemoryRange(_arch.ToPhys(_arch.Sym(_arch.Image.MemSectionRoots)), (ulong)_arch.NrSectionRoots * 8UL));
    }

    /// <summary>
    /// memblock_alloc for a boot structure; a failure is the kernel's boot panic (mm/sparse.c, vmemmap):
    /// "%s: Failed to allocate %lu bytes align=0x%lx nid=%d from=%pa".
    /// </summary>
    private ulong BootAlloc(ulong size, ulong align, string function) =>
        TryAllocTopDown(size, align) ?? throw new KernelPanicException(FormattableString.Invariant(
            $"Kernel panic - not syncing: {function}: Failed to allocate {size} bytes align=0x{align:x} nid=0 from=0x0000000000000000"));

    /// <summary>Linux's memory block size on pSeries LPARs: hotplug adds whole blocks.</summary>
    public const ulong MemoryBlockSize = 256UL << 20;

    /// <summary>
    /// Memory hot-add after registration (add_memory, memmap_on_memory): the machine gains the range, the
    /// kernel maps struct pages for it from the start of the range itself, links the new vmemmap blocks into
    /// vmemmap_list and fills the mem_section entries. FADump does nothing: with hotplug_ready the capture
    /// kernel builds the ELF core headers from the memory it finds at its own boot, so the registration
    /// (boot memory and the reserved area, both below) stays valid and no re-registration is needed.
    /// </summary>
    public void HotAddMemory(MemoryRange range)
    {
        if (Crashed || Dump.DumpActive || _image is null)
        {
            throw new InvalidOperationException("memory hot-add is simulated in the running first kernel only");
        }

        if (range.Start % MemoryBlockSize != 0 || range.Size % MemoryBlockSize != 0 || range.Size == 0)
        {
            throw new ArgumentException(FormattableString.Invariant($"hot-added memory {range} must be whole 256M memory blocks"), nameof(range));
        }

        Printk(FormattableString.Invariant($"pseries-hotplug-mem: Attempting to hot-add {range.Size / MemoryBlockSize} LMB(s)"));
        _machine.Memory.AddRam(range);
        Memory = [.. Memory.Append(range).OrderBy(r => r.Start)];
        SystemRam += range.Size;

        const ulong Block = 1UL << P.VmemmapBlockShift;
        ulong pagesPerSection = 1UL << (_arch.SectionSizeBits - _arch.PageShift);
        var mapped = new HashSet<ulong>(_image.Vmemmap.Select(v => v.VirtualAddress));
        var blocks = new List<ulong>();
        for (ulong s = range.Start >> _arch.SectionSizeBits; s <= (range.End - 1) >> _arch.SectionSizeBits; s++)
        {
            ulong v0 = _arch.VmemmapBase + (s * pagesPerSection * KernelArch.PageStructSize);
            for (ulong b = v0 & ~(Block - 1); b < v0 + (pagesPerSection * KernelArch.PageStructSize); b += Block)
            {
                if (mapped.Add(b))
                {
                    blocks.Add(b);
                }
            }
        }

        // memmap_on_memory: the vmemmap blocks, then the vmemmap_list nodes and new mem_section pages, at the start of the range.
        ulong cursor = range.Start;
        ulong Take(ulong size)
        {
            ulong at = cursor;
            cursor += size;
            return at;
        }

        var backings = blocks.Select(b => new VmemmapBacking(b, Take(Block), Block)).ToList();
        ulong listBytes = Align((ulong)Math.Max(1, backings.Count) * P.VmemmapBackingSize, Page);
        ulong listPhys = Take(listBytes);
        ulong memSectionRoots = _arch.Sym(_arch.Image.MemSectionRoots);
        var newRoots = new List<(ulong Root, ulong Page)>();
        for (ulong s = range.Start >> _arch.SectionSizeBits; s <= (range.End - 1) >> _arch.SectionSizeBits; s++)
        {
            ulong root = s / (ulong)_arch.SectionsPerRoot;
            if (_w.ReadU64(memSectionRoots + (root * 8)) == 0 && !newRoots.Any(x => x.Root == root))
            {
                newRoots.Add((root, Take(Page)));
            }
        }

        var allocated = MemoryRange.FromBounds(range.Start, cursor);
        _image.Reserve(allocated, PageClass.KernelData);
        _bootAllocations.Add(allocated);
        foreach (var b in backings)
        {
            _image.AddVmemmap(b);
        }

        // vmemmap_list: the new nodes go in front (newest first).
        ulong next = _w.ReadU64(_arch.Sym(P.VmemmapListOffset));
        var list = new byte[listBytes];
        for (int i = 0; i < backings.Count; i++)
        {
            var n = list.AsSpan(i * P.VmemmapBackingSize, P.VmemmapBackingSize);
            Formats.Endian.Write(n, next, _w.BigEndian);
            Formats.Endian.Write(n[8..], backings[i].PhysicalAddress, _w.BigEndian);
            Formats.Endian.Write(n[16..], backings[i].VirtualAddress, _w.BigEndian);
            next = _arch.Virt(listPhys + ((ulong)i * P.VmemmapBackingSize));
        }

        _w.Bytes(_arch.Virt(listPhys), list);
        _w.U64(_arch.Sym(P.VmemmapListOffset), next);

        foreach (var (root, page) in newRoots)
        {
            _machine.Memory.Clear(page, Page);
            _w.U64(memSectionRoots + (root * 8), _arch.Virt(page));
        }

        for (ulong s = range.Start >> _arch.SectionSizeBits; s <= (range.End - 1) >> _arch.SectionSizeBits; s++)
        {
            ulong rootPage = _w.ReadU64(memSectionRoots + (s / (ulong)_arch.SectionsPerRoot * 8));
            _w.U64(rootPage + ((s % (ulong)_arch.SectionsPerRoot) * KernelArch.MemSectionSize), _arch.VmemmapBase | KernelArch.SectionMarkedPresent | KernelArch.SectionHasMemMap);
        }

        // arch/powerpc/platforms/pseries/hotplug-memory.c, one LMB (memory block) at a time.
        for (ulong lmb = range.Start; lmb < range.End; lmb += MemoryBlockSize)
        {
            Printk(FormattableString.Invariant($"pseries-hotplug-mem: Memory at {lmb:x} (drc index {0x80000000UL + (lmb / MemoryBlockSize):x}) was hot-added"));
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
        Put(4, _arch.Name);
        Put(5, "(none)");
        _w.Bytes(_arch.Sym(_arch.Image.InitUtsNs), b);
    }

    private void WriteVmcoreInfo()
    {
        VmcoreInfo = KernelVmcoreInfo.Build(_arch, Options.Release, Options.BuildId);
        _w.Bytes(_arch.Virt(VmcoreInfoNotePhys), KernelVmcoreInfo.EncodeNote(VmcoreInfo, _arch));
    }

    /// <summary>crash_save_vmcoreinfo: appends CRASHTIME and rewrites the note.</summary>
    private void AppendCrashTime()
    {
        VmcoreInfo.Add("CRASHTIME", _machine.Clock.WallSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        _w.Bytes(_arch.Virt(VmcoreInfoNotePhys), KernelVmcoreInfo.EncodeNote(VmcoreInfo, _arch));
    }
}
