using System.Globalization;
using Fadump.Formats;
using Fadump.Formats.VmcoreInfo;
using Fadump.Kernel.CommandLine;
using Fadump.Kernel.Mm;
using Fadump.Machine;

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
        Vmemmap = new X86_64Vmemmap(this);
    }

    /// <summary>The same kernel loaded elsewhere without KASLR (a kdump capture kernel: nokaslr, run where kexec put it).</summary>
    public static X86_64Arch NoKaslrAt(ulong textPhysical) => new(0, textPhysical, DefaultPageOffset, DefaultVmemmapBase);

    // Kernel text addresses the simulated CPUs are found at, as offsets from _text.
    public const ulong PanicOffset = 0xb2a6e0;          // panic
    public const ulong SysrqCrashOffset = 0x73c4b6;     // sysrq_handle_crash+0x16
    public const ulong OopsOffset = 0x65d2a3;           // the faulting instruction of the oops
    public const ulong IdleOffset = 0xcb1f4e;           // default_idle+0xe (after hlt)
    public const ulong CrashNmiOffset = 0x9f3b10;       // crash_nmi_callback

    public ulong PanicRip => Sym(PanicOffset);

    public ulong IdleRip => Sym(IdleOffset);

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
        MemSectionRoots = null,
        CrashNotes = 0x2fd0000,
    };

    public override int SectionSizeBits => 27;

    public override int MaxPhysmemBits => 46;

    public override int PgHwpoison => 23;

    public override int MaxOrder => 11;

    public override int MaxNumNodes => 1024;

    public override int MigrateTypes => 5;

    public override string BootImageName => "vmlinuz";

    /// <summary>Not used on x86_64: crashkernel= placement is <see cref="ReserveCrashKernel"/>'s.</summary>
    public override ulong KdumpKernelBase => 0;

    public override IVmemmapModel Vmemmap { get; }

    public override CrashReservation ReserveCrashKernel(KernelCommandLine cmdline, Memblock memblock) =>
        X86_64CrashReserve.Reserve(cmdline, memblock);

    /// <summary>Every CPU in the idle loop on its own kernel stack (8 KiB pages below the direct map's top), kernel segments.</summary>
    public override void SetRunningRegisters(IReadOnlyList<Cpu> cpus, int crashingCpu)
    {
        foreach (var c in cpus)
        {
            var r = c.X86.Regs;
            ulong stack = PageOffset + 0x100000000UL + ((ulong)c.Id * 0x4000);
            for (int i = 0; i < X86_64RegisterFile.Count; i++)
            {
                r[i] = Workload.WorkloadModel.Mix64(((ulong)c.Id << 8) + (ulong)i) & 0xffffffff;
            }

            r[X86_64RegisterFile.Rsp] = stack + 0x3e58;
            r[X86_64RegisterFile.Rbp] = stack + 0x3e80;
            r[X86_64RegisterFile.Rip] = IdleRip;
            r[X86_64RegisterFile.OrigRax] = ulong.MaxValue;
            r[X86_64RegisterFile.Cs] = 0x10;              // __KERNEL_CS
            r[X86_64RegisterFile.Ss] = 0x18;              // __KERNEL_DS
            r[X86_64RegisterFile.Eflags] = 0x246;         // IF ZF PF
            r[X86_64RegisterFile.GsBase] = PageOffset + 0x3fc00000UL + ((ulong)c.Id * 0x40000); // per-CPU area
            r[23] = r[24] = r[25] = r[26] = 0;           // ds es fs gs
            r[21] = 0;                                   // fs_base
        }
    }

    public override void EnterPanic(Cpu cpu, CrashKind kind) =>
        cpu.X86.Regs[X86_64RegisterFile.Rip] = Sym(kind == CrashKind.Sysrq ? SysrqCrashOffset : PanicOffset);

    /// <summary>A kernel NULL read: page_fault_oops (arch/x86/mm/fault.c) and __die_header.</summary>
    public override IReadOnlyList<(string Line, int Level)> Oops(Cpu cpu, string platformName)
    {
        cpu.X86.Regs[X86_64RegisterFile.Rip] = Sym(OopsOffset);
        cpu.X86.Regs[X86_64RegisterFile.Rax] = 0;
        return
        [
            ("BUG: kernel NULL pointer dereference, address: 0000000000000000", 1),
            ("#PF: supervisor read access in kernel mode", 1),
            ("#PF: error_code(0x0000) - not-present page", 1),
            ("PGD 0 P4D 0 ", 6),
            ("Oops: 0000 [#1] PREEMPT SMP NOPTI", 4),
            ("Hardware name: " + platformName, 4),
        ];
    }

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
