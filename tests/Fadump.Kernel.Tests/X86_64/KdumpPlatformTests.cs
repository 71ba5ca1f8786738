using Fadump.Kernel.Kexec;
using Fadump.Kernel.Platforms;
using Fadump.Kernel.Sysfs;
using Fadump.Machine;

namespace Fadump.Kernel.Tests.X86_64;

/// <summary>The x86_64 PC with kdump: the first kernel's files, kexec, the crash paths, the second reboot, and seed 004's DMA.</summary>
public sealed class KdumpPlatformTests
{
    private const ulong M = 1UL << 20, G = 1UL << 30;

    private static X86_64Pc Booted(string cmdline = "root=/dev/sda2 ro crashkernel=256M", ulong memory = 4 * G, PcSpec? spec = null)
    {
        var pc = new X86_64Pc((spec ?? new PcSpec()) with { MemoryBytes = memory, Cpus = 4, CommandLine = cmdline });
        pc.Boot();
        return pc;
    }

    [Fact]
    public void The_first_kernel_shows_the_reservation_in_iomem_and_the_kexec_files()
    {
        var pc = Booted();
        var f = pc.Kernel!.Files;
        string iomem = f.ReadText("/proc/iomem");
        Assert.Contains("00000000-00000fff : Reserved\n00001000-0009fbff : System RAM\n", iomem);
        Assert.Contains("00100000-bffdffff : System RAM\n  10c00000-11dfffff : Kernel code\n", iomem);
        Assert.Contains("  af000000-beffffff : Crash kernel\n", iomem);
        Assert.Contains("100000000-13fffffff : System RAM\n", iomem);
        Assert.Equal("0\n", f.ReadText("/sys/kernel/kexec_crash_loaded"));
        Assert.Equal("268435456\n", f.ReadText("/sys/kernel/kexec_crash_size"));
        Assert.Matches("^0x[0-9a-f]{16} 1024\n$", f.ReadText("/sys/kernel/vmcoreinfo"));
        Assert.Equal("368\n", f.ReadText("/sys/devices/system/cpu/cpu3/crash_notes_size"));
        Assert.Matches("^[0-9a-f]+\n$", f.ReadText("/sys/devices/system/cpu/cpu0/crash_notes"));
        Assert.Contains(pc.Kernel.Log.Lines, l => l.EndsWith("Reserving 256MB of memory at 2800MB for crashkernel (System RAM: 4095MB)", StringComparison.Ordinal));
    }

    [Fact]
    public void Kexec_crash_size_shrinks_only_while_nothing_is_loaded()
    {
        var pc = Booted();
        var f = pc.Kernel!.Files;
        Assert.True(pc.LoadCaptureKernel(), pc.LoadError);
        Assert.Equal("1\n", f.ReadText("/sys/kernel/kexec_crash_loaded"));
        Assert.Equal(Errno.ENOENT, Assert.Throws<KernelFileException>(() => f.WriteText("/sys/kernel/kexec_crash_size", "134217728\n")).Errno);

        Assert.Equal(Errno.None, pc.Kdump.Core!.KexecLoad(0, [], KexecFlags.OnCrash | KexecFlags.ArchX86_64)); // kexec -p -u
        Assert.Equal("0\n", f.ReadText("/sys/kernel/kexec_crash_loaded"));
        Assert.Equal(Errno.EINVAL, Assert.Throws<KernelFileException>(() => f.WriteText("/sys/kernel/kexec_crash_size", "536870912\n")).Errno);
        Assert.Equal(Errno.EINVAL, Assert.Throws<KernelFileException>(() => f.WriteText("/sys/kernel/kexec_crash_size", "lots\n")).Errno);
        f.WriteText("/sys/kernel/kexec_crash_size", "268435456\n"); // the same size: nothing changes
        f.WriteText("/sys/kernel/kexec_crash_size", "0x8000000\n");
        Assert.Equal("134217728\n", f.ReadText("/sys/kernel/kexec_crash_size"));
        Assert.Contains("  af000000-b6ffffff : Crash kernel\n  b7000000-beffffff : System RAM\n", f.ReadText("/proc/iomem"));
        Assert.True(pc.LoadCaptureKernel(), pc.LoadError); // a smaller region still takes the capture kernel
        Assert.Equal(Errno.None, pc.Kdump.Core!.KexecLoad(0, [], KexecFlags.OnCrash | KexecFlags.ArchX86_64));
        f.WriteText("/sys/kernel/kexec_crash_size", "0\n");
        Assert.Equal("0\n", f.ReadText("/sys/kernel/kexec_crash_size"));
        Assert.DoesNotContain("Crash kernel", f.ReadText("/proc/iomem"));
        Assert.False(pc.LoadCaptureKernel());
        Assert.Contains("Memory for crashkernel is not reserved", pc.LoadError);
    }

    [Fact]
    public void After_a_load_the_first_kernel_faults_on_a_write_into_the_crash_region()
    {
        var pc = Booted();
        var k = pc.Kernel!;
        ulong inside = k.Arch.Virt(k.CrashKernelReservation!.Value.Start + (64 * M));
        k.Writer.U64(inside, 1); // before the load the region is ordinary reserved memory
        Assert.True(pc.LoadCaptureKernel(), pc.LoadError);
        var e = Assert.Throws<CrashRegionProtectionException>(() => k.Writer.U64(inside, 2));
        Assert.StartsWith("BUG: unable to handle page fault", e.Message);
        k.Writer.U64(k.Arch.Virt(16 * M), 3); // elsewhere writes go on
        Assert.Equal(Errno.None, pc.Kdump.Core!.KexecLoad(0, [], KexecFlags.OnCrash | KexecFlags.ArchX86_64));
        k.Writer.U64(inside, 4); // unloaded: writable again
    }

    [Fact]
    public void Without_crashkernel_kexec_tools_refuses_and_a_panic_has_no_dump()
    {
        var pc = Booted("root=/dev/sda2 ro");
        Assert.False(pc.LoadCaptureKernel());
        Assert.Equal(KexecTools.NotReservedMessage, pc.LoadError);
        Assert.False(pc.Crash(CrashKind.Panic));
        Assert.Contains(pc.Kernel!.Log.Lines, l => l.Contains("---[ end Kernel panic - not syncing:", StringComparison.Ordinal));
        Assert.Single(pc.Boots);
    }

    [Theory]
    [InlineData(KexecLoadMode.Legacy)]
    [InlineData(KexecLoadMode.File)]
    public void A_corrupted_segment_hangs_purgatory_and_only_a_reboot_helps(KexecLoadMode mode)
    {
        var pc = Booted();
        Assert.True(pc.LoadCaptureKernel(mode), pc.LoadError);
        var region = pc.Kernel!.CrashKernelReservation!.Value;
        // A stray write the first kernel's protection cannot stop (a device, a firmware bug): one byte of the kernel segment.
        ulong target = mode == KexecLoadMode.Legacy ? pc.Plan!.KernelAddress + 0x100 : pc.Kdump.Core!.CrashImage!.Segments.Single(s => s.MemorySize > (16 * M)).Memory + 0x100;
        Assert.True(region.Contains(target));
        var b = new byte[1];
        pc.Machine.Memory.Read(target, b);
        b[0] ^= 0xff;
        pc.Machine.Memory.Write(target, b);

        Assert.False(pc.Crash(CrashKind.Panic));
        Assert.True(pc.Purgatory!.Hung);
        Assert.StartsWith("purgatory hung", pc.CaptureFailure);
        Assert.Single(pc.Boots);
        var before = pc.Machine.Clock.Now;
        var k = pc.Reboot();
        Assert.False(k.Mechanism.IsCaptureKernel);
        Assert.True(pc.Machine.Clock.Now - before >= TimeSpan.FromSeconds(pc.Machine.Cost.ResetAndIplSeconds + pc.Machine.Cost.KernelBootSeconds));
    }

    [Fact]
    public void The_capture_kernel_runs_inside_the_reservation_and_every_cpu_left_a_note()
    {
        var pc = Booted();
        Assert.True(pc.LoadCaptureKernel(), pc.LoadError);
        var region = pc.Kernel!.CrashKernelReservation!.Value;
        Assert.True(pc.Crash(CrashKind.Oops, crashingCpu: 2));
        var cap = pc.Kernel!;
        Assert.True(cap.Mechanism.IsCaptureKernel);
        Assert.All(cap.Memory, r => Assert.True(region.Contains(r.Start) || r.End <= 1 * M, $"capture RAM {r}"));
        Assert.True(region.Contains(cap.KernelImage.Start));
        Assert.Contains("reset_devices", cap.CommandLine.Text);
        Assert.DoesNotContain("crashkernel=", cap.CommandLine.Text);
        Assert.True(cap.Files.Exists("/dev/oldmem"));
        Assert.True(cap.Files.Exists("/proc/vmcore"));
        Assert.True(pc.Purgatory!.BackupCopied); // kexec-tools' 640 KiB backup (legacy mode)
    }

    private static PcSpec WithNics => new()
    {
        Dma =
        [
            new DmaDeviceSpec("eth0", new MemoryRange(0x0e000000, 2 * M), 1_250_000_000),   // in the low 256 MiB, where the capture kernel lands after a swap
            new DmaDeviceSpec("nvme0", new MemoryRange(0x40000000, 4 * M), 3_000_000_000),  // above it
        ],
    };

    [Fact]
    public void Seed_004_relocatable_capture_survives_dma_and_only_dumped_pages_change()
    {
        var (reloc, swap) = X86_64Pc.ComparePlacements(WithNics with { MemoryBytes = 4 * G, Cpus = 4, CommandLine = "root=/dev/sda2 ro crashkernel=256M" });

        Assert.True(reloc.CaptureSurvived, reloc.Failure);
        Assert.Equal(0UL, reloc.CorruptedCapturePages);
        Assert.Equal((2 * M / 4096) + (4 * M / 4096), reloc.CorruptedDumpPages); // both rings, rewritten after the crash
        Assert.All(reloc.Impacts, i => Assert.Equal(DmaTarget.DumpedPage, i.Target));

        // The swap (2004): eth0's ring is now inside the capture kernel, which it overwrites.
        Assert.False(swap.CaptureSurvived);
        Assert.Contains("DMA from eth0 overwrote the capture kernel's image", swap.Failure);
        Assert.True(swap.CorruptedCapturePages > 0);
        Assert.All(swap.Impacts.Where(i => i.Device == "nvme0"), i => Assert.Equal(DmaTarget.DumpedPage, i.Target));
    }

    [Fact]
    public void Seed_004_swap_with_dma_outside_the_capture_kernel_still_dumps_from_the_reservation()
    {
        var spec = new PcSpec
        {
            MemoryBytes = 4 * G, Cpus = 2, CommandLine = "root=/dev/sda2 ro crashkernel=256M", Placement = CapturePlacement.SwapToZero,
            Dma = [new DmaDeviceSpec("nvme0", new MemoryRange(0x40000000, 4 * M), 3_000_000_000)],
        };
        var pc = new X86_64Pc(spec);
        var first = pc.Boot();
        Assert.True(pc.LoadCaptureKernel(), pc.LoadError);
        Assert.True(pc.Crash(CrashKind.Panic), pc.CaptureFailure);
        var cap = pc.Kernel!;
        Assert.All(cap.Memory, r => Assert.True(r.End <= 256 * M, $"capture RAM {r} (the swap runs it low)"));
        Assert.True(pc.Dma!.CaptureSurvived);

        // /proc/vmcore gives the crashed kernel's low memory from where the swap put it: the first kernel's printk ring
        // lies above 256 MiB, its zeroed bss page below is read back through the moved PT_LOAD.
        using var dump = Formats.DumpFile.Open(cap.Files.OpenRead("/proc/vmcore"));
        // The capture kernel's printk ring now occupies this low page; the dump must show what the crashed kernel had there.
        ulong page = (cap.KernelImage.Start + cap.Arch.Image.LogBuf) & ~4095UL;
        Assert.True(page < 256 * M);
        var inDump = new byte[4096];
        var nowInRam = new byte[4096];
        var atCrash = new byte[4096];
        Assert.Equal(4096, dump.ReadPhysical(page, inDump));
        pc.Machine.Memory.Read(page, nowInRam);
        first.Image!.Fill(page, atCrash);
        Assert.Equal(atCrash, inDump);
        Assert.NotEqual(nowInRam, inDump);
    }

    [Fact]
    public void A_pc_holds_at_most_64T_less_the_pci_hole()
    {
        Assert.Contains("64 TiB", new PcSpec { MemoryBytes = 64UL << 40 }.Validate());
        Assert.Null(new PcSpec { MemoryBytes = PcSpec.MaxMemory }.Validate());
    }

    [Fact]
    public void Swap_placement_needs_the_legacy_load()
    {
        Assert.Contains("legacy", new PcSpec { Placement = CapturePlacement.SwapToZero, KexecLoad = KexecLoadMode.File }.Validate());
    }
}

/// <summary>The simulated x86_64 kernel's VMCOREINFO against Debian's real 6.1 note (tests/data/vmcoreinfo/linux-6.1-x86_64.txt).</summary>
public sealed class X86_64VmcoreInfoTests
{
    [Fact]
    public void Keys_come_in_the_real_notes_order_with_its_layout_values()
    {
        var real = Formats.VmcoreInfo.VmcoreInfo.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "samples", "linux-6.1-x86_64.txt")));
        var pc = new X86_64Pc(new PcSpec { MemoryBytes = 4UL << 30, Cpus = 2 });
        var ours = pc.Boot().VmcoreInfo;

        // kallsyms_* (6.0+, for tools without vmlinux) are not simulated: the symbol table is issue 14's.
        var realKeys = real.Entries.Select(e => e.Key).Where(k => !k.Contains("kallsyms", StringComparison.Ordinal) && k != "CRASHTIME").ToList();
        Assert.Equal(realKeys, ours.Entries.Select(e => e.Key).ToList());
        foreach (var (key, value) in real.Entries)
        {
            // Addresses move with KASLR and the image; sizes, offsets, lengths and flag numbers are the kernel's layout.
            if (key.StartsWith("SIZE(", StringComparison.Ordinal) || key.StartsWith("OFFSET(", StringComparison.Ordinal)
                || key.StartsWith("LENGTH(", StringComparison.Ordinal) || key is "PAGESIZE" or "OSRELEASE" or "BUILD-ID" or "KERNELOFFSET"
                || (key.StartsWith("NUMBER(", StringComparison.Ordinal) && key != "NUMBER(phys_base)") || key is "SYMBOL(_stext)" or "SYMBOL(init_uts_ns)" or "SYMBOL(prb)")
            {
                Assert.True(value == ours[key], $"{key}: real {value}, ours {ours[key]}");
            }
        }

        Assert.Equal(real.Number("phys_base"), ours.Number("phys_base"));
    }
}

/// <summary>The pseries kernel's note against Debian's real ppc64le 6.1 note, key for key (the same common builder).</summary>
public sealed class Ppc64VmcoreInfoKeyTests
{
    [Fact]
    public void Keys_come_in_the_real_notes_order()
    {
        var real = Formats.VmcoreInfo.VmcoreInfo.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "samples", "linux-6.1-ppc64le.txt")));
        var lpar = new PseriesLpar(new LparSpec { MemoryBytes = 1UL << 30, Cpus = 2 });
        var ours = lpar.Boot().VmcoreInfo;
        var realKeys = real.Entries.Select(e => e.Key).Where(k => !k.Contains("kallsyms", StringComparison.Ordinal) && k != "CRASHTIME").ToList();
        Assert.Equal(realKeys, ours.Entries.Select(e => e.Key).ToList());
        Assert.Equal(real["LENGTH(node_data)"], ours["LENGTH(node_data)"]);
    }
}

/// <summary>Procedural page contents speak the arch: its instructions in text, its linear-map pointers in data, its byte order.</summary>
public sealed class ArchPageContentTests
{
    [Fact]
    public void Kernel_pages_hold_the_archs_code_and_pointers()
    {
        var frame = new byte[4096];
        Structures.KernelMemoryImage.FillPage(Workload.PageClass.KernelText, 7, frame, Arch.X86_64.X86_64Arch.Debian61());
        Assert.Contains((byte)0x48, frame);                    // REX.W prefixes of x86-64 code
        Assert.DoesNotContain(frame.Chunk(4), w => BitConverter.ToUInt32(w) == 0x4e800020); // no ppc blr

        var x86 = Arch.X86_64.X86_64Arch.Debian61();
        Structures.KernelMemoryImage.FillPage(Workload.PageClass.KernelData, 7, frame, x86);
        var words = frame.Chunk(8).Select(w => BitConverter.ToUInt64(w)).ToList();
        Assert.Contains(words, w => (w & 0xffffff0000000000) == (x86.PageOffset & 0xffffff0000000000));
        Assert.DoesNotContain(words, w => w >> 60 == 0xc);

        Structures.KernelMemoryImage.FillPage(Workload.PageClass.KernelData, 7, frame, Arch.Ppc64.Ppc64Arch.BigEndianArch);
        Assert.Contains(frame.Chunk(8), w => w[0] == 0xc0);  // 0xc000… stored big-endian
    }
}
