using System.Globalization;
using Fadump.Formats;
using Fadump.Formats.VmcoreInfo;

namespace Fadump.Kernel.Arch.X86_64;

/// <summary>
/// x86_64 as Debian's 6.1 kernel has it (4 KiB pages, 4-level paging, KASLR): the kernel image
/// mapped at __START_KERNEL_map + phys_base, the direct map at page_offset_base, struct pages at
/// vmemmap_base, all three randomised by KASLR (arch/x86/mm/kaslr.c). Symbol offsets from _stext,
/// sizes and offsets are those of the real note (shared/spec/vmcoreinfo-samples/linux-6.1-x86_64.txt,
/// where _stext is ffffffff97e00000 and KERNELOFFSET 16e00000).
/// </summary>
public sealed class X86_64Arch : KernelArch
{
    /// <summary>__START_KERNEL_map.</summary>
    public const ulong StartKernelMap = 0xffffffff80000000;

    /// <summary>__START_KERNEL: _text without KASLR (CONFIG_PHYSICAL_START 16 MiB above __START_KERNEL_map).</summary>
    public const ulong StartKernel = 0xffffffff81000000;

    /// <summary>CONFIG_PHYSICAL_ALIGN and CONFIG_PHYSICAL_START.</summary>
    public const ulong PhysicalAlign = 2UL << 20;

    public const ulong PhysicalStart = 16UL << 20;

    /// <summary>__PAGE_OFFSET_BASE_L4 and the default vmemmap_base (no KASLR).</summary>
    public const ulong DefaultPageOffset = 0xffff888000000000;

    public const ulong DefaultVmemmapBase = 0xffffea0000000000;

    /// <summary>KERNEL_IMAGE_SIZE with CONFIG_RANDOMIZE_BASE: 1 GiB of kernel text mapping.</summary>
    public const ulong KernelImageSizeKaslr = 1UL << 30;

    /// <param name="kernelOffset">KERNELOFFSET: how far KASLR moved _text virtually from __START_KERNEL.</param>
    /// <param name="textPhysical">Where the boot loader and the decompressor put _text (2 MiB aligned, at or above 16 MiB).</param>
    /// <param name="pageOffsetBase">page_offset_base (1 GiB aligned in the kernel's randomised region).</param>
    /// <param name="vmemmapBase">vmemmap_base (1 GiB aligned).</param>
    public X86_64Arch(ulong kernelOffset, ulong textPhysical, ulong pageOffsetBase, ulong vmemmapBase)
    {
        if (kernelOffset % PhysicalAlign != 0 || kernelOffset + Image.ImageSize > KernelImageSizeKaslr - (StartKernel - StartKernelMap))
        {
            throw new ArgumentOutOfRangeException(nameof(kernelOffset), "KERNELOFFSET must be 2 MiB aligned and keep the image inside KERNEL_IMAGE_SIZE");
        }

        if (textPhysical % PhysicalAlign != 0 || textPhysical < PhysicalStart)
        {
            throw new ArgumentOutOfRangeException(nameof(textPhysical), "_text must be 2 MiB aligned at or above 16 MiB");
        }

        KernelOffset = kernelOffset;
        KernelPhysicalBase = textPhysical;
        KernelVirtualBase = StartKernel + kernelOffset;
        PageOffset = pageOffsetBase;
        VmemmapBase = vmemmapBase;
    }

    /// <summary>The values of the Debian sample: KASLR on, _text at physical 0x10c00000.</summary>
    public static X86_64Arch Debian61() => new(0x16e00000, 0x10c00000, 0xffff8dc000000000, 0xffffd1d340000000);

    public override DumpMachine Machine => DumpMachine.X86_64;

    public override int PageShift => 12;

    public override ulong PageOffset { get; }

    public override ulong VmemmapBase { get; }

    public override ulong KernelPhysicalBase { get; }

    public override ulong KernelVirtualBase { get; }

    public ulong KernelOffset { get; }

    /// <summary>phys_base: physical − virtual distance of the kernel text mapping (negative when KASLR moved it further virtually).</summary>
    public long PhysBase => (long)KernelPhysicalBase - (long)(KernelVirtualBase - StartKernelMap);

    public override KernelImageLayout Image { get; } = new()
    {
        ImageSize = 0x3200000,          // 50 MiB: _stext .. _end with bss
        TextEnd = 0x1200000,
        Prb = 0x1a643e0,
        PrintkRbStatic = 0x1a64400,
        PrintkDescs = 0x2c00000,
        PrintkInfos = 0x2d00000,
        LogBuf = 0x2e00000,
        ClearSeq = 0x2faad20,
        InitUtsNs = 0x1bfb000,
        NodeOnlineMap = 0x1c3df40,
        SwapperPgDir = 0x1a10000,       // init_top_pgt
        VmapAreaList = 0x1b5c430,
        NodeData = 0x1c393a0,
        VmcoreInfoNote = 0x2fb0000,
        MemSectionRoots = 0x2fc0000,
        CrashNotes = 0x2fd0000,
    };

    public override int SectionSizeBits => 27;

    public override int MaxPhysmemBits => 46;

    public override int PgHwpoison => 23;

    public override int MaxOrder => 11;

    public override int MigrateTypes => 5;

    public override NodeLayout Node { get; } = new(174208, 1536, 88, 128, 171552, 171560, 171576, 171584, 1344, 144);

    public override void AddArchNumbers(VmcoreInfo v)
    {
        v.AddNumber("phys_base", PhysBase);
        v.AddSymbol("init_top_pgt", Sym(Image.SwapperPgDir));
        v.AddNumber("pgtable_l5_enabled", 0);
    }

    public override void AddKernelOffset(VmcoreInfo v)
    {
        v.Add("KERNELOFFSET", KernelOffset.ToString("x", CultureInfo.InvariantCulture));
        v.AddNumber("KERNEL_IMAGE_SIZE", (long)KernelImageSizeKaslr);
        v.AddNumber("sme_mask", 0);
    }
}
