using Fadump.Formats;
using VmcoreInfoNote = Fadump.Formats.VmcoreInfo.VmcoreInfo;

namespace Fadump.Tools.Inspect;

/// <summary>One vmemmap_backing: a block of the virtual memmap and the physical memory behind it.</summary>
public readonly record struct VmemmapBacking(ulong VirtualAddress, ulong PhysicalAddress);

/// <summary>
/// Book3S-64 kernel addresses: the linear map (PAGE_OFFSET 0xc000000000000000, kernel __pa) and the
/// vmemmap region through the kernel's vmemmap_list (arch/powerpc/mm/init_64.c), as makedumpfile's
/// ppc64_vmemmap_init reads it. vmalloc and I/O addresses are not translated. Both byte orders.
/// </summary>
public sealed class Ppc64KernelAddressSpace : KernelAddressSpace
{
    /// <summary>PAGE_OFFSET: __pa(x) = x &amp; 0x0fffffffffffffff for linear-map addresses.</summary>
    public const ulong PageOffset = 0xc000000000000000;

    /// <summary>Bound on the vmemmap list: far beyond any machine (64 TiB of 64K pages in 2 MiB blocks is 32768).</summary>
    internal const int MaxVmemmapBackings = 1 << 20;

    private const int MaxStructSize = 4096;

    private readonly ulong _linearSize;
    private readonly Lazy<VmemmapTable> _vmemmap;

    /// <summary>The thread reading vmemmap_list, or 0: its reads translate linear-map addresses only.</summary>
    private int _loadingThread;

    internal Ppc64KernelAddressSpace(IDump dump, VmcoreInfoNote info)
        : base(dump, info)
    {
        // The linear map spans 2^MAX_PHYSMEM_BITS; vmalloc starts right above (0xc008... on 6.1).
        long? physBits = info.Number("MAX_PHYSMEM_BITS");
        _linearSize = 1UL << (physBits is >= 32 and <= 56 ? (int)physBits.Value : 51);
        _vmemmap = new Lazy<VmemmapTable>(LoadVmemmap, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>Bytes each vmemmap_backing maps: 1 &lt;&lt; mmu_psize_defs[mmu_vmemmap_psize].shift; null without a list.</summary>
    public ulong? VmemmapBlockSize => _vmemmap.Value.BlockSize;

    /// <summary>The vmemmap_list entries, sorted by virtual address.</summary>
    public IReadOnlyList<VmemmapBacking> VmemmapBackings => _vmemmap.Value.Backings;

    /// <summary>Why the vmemmap list could not be (fully) read, or null.</summary>
    public string? VmemmapProblem => _vmemmap.Value.Problem;

    public override string? TranslationProblem => VmemmapProblem is { } p ? "vmemmap_list: " + p : null;

    public override ulong? ToPhysical(ulong vaddr)
    {
        if (vaddr >= PageOffset && vaddr - PageOffset < _linearSize)
        {
            return vaddr - PageOffset;
        }

        // While the list itself is read, a pointer into the vmemmap (a damaged vmemmap_backing.next or
        // symbol) cannot be translated through the table being built: it is simply not in the dump.
        if (Volatile.Read(ref _loadingThread) == Environment.CurrentManagedThreadId)
        {
            return null;
        }

        return _vmemmap.Value.Lookup(vaddr);
    }

    private VmemmapTable LoadVmemmap()
    {
        Volatile.Write(ref _loadingThread, Environment.CurrentManagedThreadId);
        try
        {
            return ReadVmemmapList();
        }
        finally
        {
            Volatile.Write(ref _loadingThread, 0);
        }
    }

    private VmemmapTable ReadVmemmapList()
    {
        var info = VmcoreInfo;
        try
        {
            // every entry is read here, inside the handler: a malformed value is a problem of the table, not an exception
            ulong? listSym = info.Symbol("vmemmap_list");
            if (listSym is null)
            {
                return VmemmapTable.Empty(null);
            }

            ulong? psizeSym = info.Symbol("mmu_vmemmap_psize");
            ulong? defsSym = info.Symbol("mmu_psize_defs");
            long? defSize = info.Size("mmu_psize_def");
            long? shiftOff = info.Offset("mmu_psize_def.shift");
            long? backingSize = info.Size("vmemmap_backing");
            long? listOff = info.Offset("vmemmap_backing.list");
            long? physOff = info.Offset("vmemmap_backing.phys");
            long? virtOff = info.Offset("vmemmap_backing.virt_addr");
            if (psizeSym is null || defsSym is null || defSize is not (> 0 and <= MaxStructSize) || shiftOff is null
                || backingSize is not (> 0 and <= MaxStructSize) || listOff is null || physOff is null || virtOff is null
                || listOff + 8 > backingSize || physOff + 8 > backingSize || virtOff + 8 > backingSize || shiftOff + 4 > defSize)
            {
                return VmemmapTable.Empty("VMCOREINFO lacks or has inconsistent mmu_vmemmap_psize/mmu_psize_defs/vmemmap_backing entries");
            }

            uint psize = ReadU32(psizeSym.Value, "mmu_vmemmap_psize");
            if (psize >= 64)
            {
                return VmemmapTable.Empty(FormattableString.Invariant($"mmu_vmemmap_psize {psize}: expected an index into mmu_psize_defs"));
            }

            uint shift = ReadU32(defsSym.Value + (psize * (ulong)defSize.Value) + (ulong)shiftOff.Value, "mmu_psize_defs[].shift");
            if (shift is < 12 or > 34)
            {
                return VmemmapTable.Empty(FormattableString.Invariant($"vmemmap page shift {shift}: expected 12 to 34"));
            }

            ulong blockSize = 1UL << (int)shift;
            ulong head = ReadU64(listSym.Value, "vmemmap_list");
            var backings = new List<VmemmapBacking>();
            var seen = new HashSet<ulong>();
            string? problem = null;
            ulong cur = head;
            var node = new byte[backingSize.Value];
            while (cur != 0)
            {
                if (!seen.Add(cur))
                {
                    break; // a circular list ends where it started (makedumpfile stops at next == head)
                }

                if (backings.Count >= MaxVmemmapBackings)
                {
                    problem = FormattableString.Invariant($"vmemmap_list has more than {MaxVmemmapBackings} entries: truncated");
                    break;
                }

                if (cur < PageOffset || cur - PageOffset >= _linearSize)
                {
                    problem = FormattableString.Invariant($"vmemmap_backing at 0x{cur:x} is not a linear-map address: list truncated");
                    break;
                }

                if (ReadVirtual(cur, node) < node.Length)
                {
                    problem = FormattableString.Invariant($"vmemmap_backing at 0x{cur:x} is not in the dump: list truncated");
                    break;
                }

                ulong virt = Endian.U64(node.AsSpan((int)virtOff.Value), BigEndian);
                ulong phys = Endian.U64(node.AsSpan((int)physOff.Value), BigEndian);
                backings.Add(new VmemmapBacking(virt, phys));
                cur = Endian.U64(node.AsSpan((int)listOff.Value), BigEndian);
            }

            backings.Sort((a, b) => a.VirtualAddress.CompareTo(b.VirtualAddress));
            return new VmemmapTable(blockSize, [.. backings], problem);
        }
        catch (DumpFormatException e)
        {
            return VmemmapTable.Empty(e.Message);
        }
    }

    private sealed class VmemmapTable(ulong? blockSize, VmemmapBacking[] backings, string? problem)
    {
        public ulong? BlockSize { get; } = blockSize;

        public VmemmapBacking[] Backings { get; } = backings;

        public string? Problem { get; } = problem;

        public static VmemmapTable Empty(string? problem) => new(null, [], problem);

        public ulong? Lookup(ulong vaddr)
        {
            if (BlockSize is not { } size)
            {
                return null;
            }

            int lo = 0, hi = Backings.Length - 1, found = -1;
            while (lo <= hi)
            {
                int mid = (lo + hi) >>> 1;
                if (Backings[mid].VirtualAddress <= vaddr)
                {
                    found = mid;
                    lo = mid + 1;
                }
                else
                {
                    hi = mid - 1;
                }
            }

            if (found < 0)
            {
                return null;
            }

            var b = Backings[found];
            return vaddr - b.VirtualAddress < size ? b.PhysicalAddress + (vaddr - b.VirtualAddress) : null;
        }
    }
}
