using Fadump.Formats;
using Fadump.Formats.VmcoreInfo;
using Fadump.Kernel.Mm;
using Fadump.Machine;

namespace Fadump.Kernel.Arch.Ppc64;

/// <summary>
/// ppc64 as Debian's 6.1 kernel has it (64 KiB pages, radix MMU): the kernel image at physical 0,
/// mapped at PAGE_OFFSET with the rest of the linear map; struct pages in 2 MiB vmemmap blocks found
/// through vmemmap_list. Offsets and sizes are those of the real VMCOREINFO
/// (shared/spec/vmcoreinfo-samples/linux-6.1-ppc64le.txt); the layout is the same for both byte orders.
/// </summary>
public sealed class Ppc64Arch : KernelArch
{
    public static readonly Ppc64Arch LittleEndian = new(DumpMachine.Ppc64le);
    public static readonly Ppc64Arch BigEndianArch = new(DumpMachine.Ppc64);

    private Ppc64Arch(DumpMachine machine)
    {
        Machine = machine;
        Vmemmap = new Ppc64Vmemmap(this);
    }

    /// <summary>Kernel text addresses the simulated CPUs are found at (for registers and notes).</summary>
    public const ulong PanicNip = 0xc000000000152b40;      // panic()
    public const ulong OopsNip = 0xc000000000a1b2c4;       // the faulting instruction of the oops
    public const ulong SysrqCrashNip = 0xc0000000009bd1a0; // sysrq_handle_crash
    public const ulong IdleNip = 0xc0000000000231a0;       // power10_idle / plpar_hcall_norets

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

    public override int MaxNumNodes => 256;

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

    /// <summary>KDUMP_KERNELBASE: the capture kernel runs at 32 MiB unless crashkernel= gives an offset.</summary>
    public override ulong KdumpKernelBase => 32UL << 20;

    public override IVmemmapModel Vmemmap { get; }

    public override void SetRunningRegisters(IReadOnlyList<Cpu> cpus, int crashingCpu)
    {
        foreach (var c in cpus)
        {
            ulong stack = KernelBase + 0x3c000000UL + ((ulong)c.Id * 0x4000);
            c.Gpr[1] = stack + 0x3e00;                 // r1: stack pointer
            c.Gpr[2] = KernelBase + 0x2a1a800;         // r2: TOC
            c.Gpr[13] = KernelBase + 0x3fe00000 + ((ulong)c.Id * 0x400); // r13: paca
            for (int i = 3; i < 32; i++)
            {
                if (i != 13)
                {
                    c.Gpr[i] = Workload.WorkloadModel.Mix64(((ulong)c.Id << 8) + (ulong)i) & 0x00000000ffffffff;
                }
            }

            c.Nip = IdleNip + ((ulong)c.Id * 4 % 64);
            c.Msr = BigEndian ? 0x8000000000009032UL : 0x8000000000009033UL; // SF | EE | ME | IR | DR | RI (| LE)
            c.Lr = IdleNip - 0x40;
            c.Ctr = IdleNip;
            c.Cr = 0x24002822;
            c.Xer = 0x20000000;
            c.Trap = c.Id == crashingCpu ? 0x700UL : 0x500UL;
        }
    }

    public override void EnterPanic(Cpu cpu, CrashKind kind) => cpu.Nip = kind == CrashKind.Sysrq ? SysrqCrashNip : PanicNip;

    /// <summary>A kernel NULL read: bad_kernel_fault's message, then die() with the config line (arch/powerpc/kernel/traps.c __die).</summary>
    public override IReadOnlyList<(string Line, int Level)> Oops(Cpu cpu, string platformName)
    {
        cpu.Nip = OopsNip;
        cpu.Dar = 0;
        cpu.Dsisr = 0x40000000;
        cpu.Trap = 0x300;
        return
        [
            ("BUG: Kernel NULL pointer dereference on read at 0x00000000", 1),
            (FormattableString.Invariant($"Faulting instruction address: {CFormat.Hex016(OopsNip)}"), 1),
            ("Oops: Kernel access of bad area, sig: 11 [#1]", 4),
            (FormattableString.Invariant($"{(BigEndian ? "BE" : "LE")} PAGE_SIZE={PageSize >> 10}K MMU=Radix SMP NR_CPUS=2048 NUMA {platformName}"), 4),
        ];
    }

    public override void AddKernelOffset(VmcoreInfo v) => v.Add("KERNELOFFSET", "0");
}
