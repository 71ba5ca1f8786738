using Fadump.Formats;
using Fadump.Kernel;
using Fadump.Kernel.Platforms;
using Fadump.Tools.Inspect;

namespace Fadump.Interop.Tests;

/// <summary>The simulated x86_64 kdump lifecycle read by our own tools (the real tools' checks are in SimulatedKdumpRealToolTests).</summary>
public sealed class SimulatedKdumpTests
{
    public static TheoryData<KexecLoadMode> Modes => [KexecLoadMode.Legacy, KexecLoadMode.File];

    internal static X86_64Pc Crashed(KexecLoadMode mode, ulong memory = 4UL << 30, int cpus = 4)
    {
        var pc = new X86_64Pc(new PcSpec { MemoryBytes = memory, Cpus = cpus, KexecLoad = mode, CommandLine = "root=/dev/sda2 ro crashkernel=256M" });
        pc.Boot();
        Assert.True(pc.LoadCaptureKernel(), pc.LoadError);
        Assert.True(pc.Crash(CrashKind.Panic, crashingCpu: 1));
        return pc;
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void The_capture_kernel_exports_the_first_kernels_memory(KexecLoadMode mode)
    {
        var pc = Crashed(mode);
        var cap = pc.Kernel!;
        Assert.True(cap.Mechanism.IsCaptureKernel, string.Join("\n", cap.Log.Lines));
        using var dump = DumpFile.Open(cap.Files.OpenRead("/proc/vmcore"));
        Assert.Equal(DumpMachine.X86_64, dump.Machine);
        Assert.Equal("6.1.0-56-amd64", dump.VmcoreInfo!.OsRelease);
        Assert.Equal(4, dump.Notes.Count(n => n.Type == Formats.Elf.ElfNote.NT_PRSTATUS));

        var klog = KernelLog.Read(dump);
        var log = string.Join("\n", klog.Records.Select(r => System.Text.Encoding.UTF8.GetString(r.Text.Span)));
        Assert.Contains("Kernel panic - not syncing: Attempted to kill init!", log);
        Assert.Contains("Reserving 256MB of memory at", log);

        var ks = Assert.IsType<X86_64KernelAddressSpace>(KernelAddressSpace.Create(dump));
        var first = pc.Boots[0];
        Assert.Equal(first.Arch.PageOffset, ks.PageOffsetBase);
        Assert.Equal(PageOffsetSource.PageTables, ks.PageOffsetSource); // through init_top_pgt and mem_section
        ulong uts = first.VmcoreInfo.Symbol("init_uts_ns")!.Value;
        var buf = new byte[65];
        Assert.Equal(65, ks.ReadVirtual(uts + 65, buf));
        Assert.StartsWith("pc1", System.Text.Encoding.ASCII.GetString(buf));
    }
}
