using Fadump.Formats;
using Fadump.Formats.VmcoreInfo;

namespace Fadump.Kernel.Arch.Ppc64;

/// <summary>
/// ppc64 as Debian's 6.1 kernel has it (64 KiB pages, radix MMU): the kernel image at physical 0,
/// mapped at PAGE_OFFSET with the rest of the linear map; struct pages in 2 MiB vmemmap blocks found
/// through vmemmap_list. Offsets and sizes are those of the real VMCOREINFO
/// (shared/spec/vmcoreinfo-samples/linux-6.1-ppc64le.txt); the layout is the same for both byte orders.
/// </summary>
public sealed class Ppc64Arch : KernelArch
{
    public static readonly Ppc64Arch LittleEndian = new(bigEndian: false);
    public static readonly Ppc64Arch BigEndianArch = new(bigEndian: true);

    private Ppc64Arch(bool bigEndian) => Machine = bigEndian ? DumpMachine.Ppc64 : DumpMachine.Ppc64le;

    public override DumpMachine Machine { get; }

    public override int PageShift => 16;

    public const ulong KernelBase = 0xc000000000000000;

    public override ulong PageOffset => KernelBase;

    public override ulong VmemmapBase => 0xc00c000000000000;

    public override ulong KernelPhysicalBase => 0;

    public override ulong KernelVirtualBase => KernelBase;

    public override KernelImageLayout Image { get; } = new()
    {
        ImageSize = 0x2800000,          // 40 MiB
        TextEnd = 0x1a00000,
        Prb = 0x2536920,
        PrintkRbStatic = 0x25369e8,
        PrintkDescs = 0x1c00000,
        PrintkInfos = 0x1d00000,
        LogBuf = 0x2000000,
        ClearSeq = 0x279ecf8,
        InitUtsNs = 0x26ab1c0,
        NodeOnlineMap = 0x26e84f0,
        SwapperPgDir = 0x2740000,
        VmapAreaList = 0x25e8388,
        NodeData = 0x276dc18,
        VmcoreInfoNote = 0x27a0000,
        MemSectionRoots = 0x2600000,
        CrashNotes = 0x27b0000,
    };

    // ppc64-only variables
    public const ulong VmemmapListOffset = 0x27591c0;        // struct vmemmap_backing *vmemmap_list
    public const ulong MmuVmemmapPsizeOffset = 0x27593c0;
    public const ulong MmuPsizeDefsOffset = 0x27593c8;
    public const ulong FadumpParamAreaOffset = 0x27c0000;    // param area for bootargs_append (2 KiB)
    public const ulong FadumpRegistrationOffset = 0x27c1000; // struct rtas_fadump_mem_struct fdm
    public const int VmemmapBackingSize = 24;                // vmemmap_backing {list, phys, virt_addr}
    public const int VmemmapBlockShift = 21;                 // radix maps vmemmap with 2 MiB pages

    public override int SectionSizeBits => 24;

    public override int MaxPhysmemBits => 51;

    public override int PgHwpoison => 22;

    public override int MaxOrder => 9;

    public override int MigrateTypes => 6;

    public override NodeLayout Node { get; } = new(21760, 1664, 104, 32, 19744, 19752, 19768, 19776, 1408, 120);

    public override void AddArchMemoryModel(VmcoreInfo v)
    {
        v.AddSymbol("vmemmap_list", Sym(VmemmapListOffset));
        v.AddSymbol("mmu_vmemmap_psize", Sym(MmuVmemmapPsizeOffset));
        v.AddSymbol("mmu_psize_defs", Sym(MmuPsizeDefsOffset));
        v.AddSize("vmemmap_backing", VmemmapBackingSize);
        v.AddOffset("vmemmap_backing.list", 0);
        v.AddOffset("vmemmap_backing.phys", 8);
        v.AddOffset("vmemmap_backing.virt_addr", 16);
        v.AddSize("mmu_psize_def", 96);
        v.AddOffset("mmu_psize_def.shift", 0);
    }

    /// <summary>prom.c early_parse_mem, early_init_devtree: the limit is aligned down to 16 MiB (the hash MMU's large page).</summary>
    protected override ulong AlignMemoryLimit(ulong limit) => limit & ~((16UL << 20) - 1);

    public override void AddKernelOffset(VmcoreInfo v) => v.Add("KERNELOFFSET", "0");
}
