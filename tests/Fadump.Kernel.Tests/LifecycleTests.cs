using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Kernel.Sysfs;
using Fadump.Kernel.Platforms;
using Fadump.Kernel.Fadump;

namespace Fadump.Kernel.Tests;

public sealed class LifecycleTests
{
    [Fact]
    public void Smoke_64G_boot_register_crash_capture_release()
    {
        var lpar = new PseriesLpar(new LparSpec());
        var k = lpar.Boot();
        Assert.True(k.Fadump.Dump.Registered);
        Assert.Equal("1\n", k.Files.ReadText("/sys/kernel/fadump/registered"));
        Assert.True(lpar.Crash(CrashKind.Panic));
        var cap = lpar.Kernel!;
        Assert.NotSame(k, cap);
        Assert.True(cap.Fadump.Dump.DumpActive, string.Join("\n", cap.Fadump.VmcoreLog));
        using var vmcore = cap.Files.OpenRead("/proc/vmcore");
        using var dump = ElfDump.Open(vmcore);
        Assert.Equal(DumpMachine.Ppc64le, dump.Machine);
        Assert.Equal(16, dump.CpuStates().Count);
        Assert.Equal("6.1.0-50-powerpc64le", dump.VmcoreInfo!.OsRelease);
        cap.Files.WriteText("/sys/kernel/fadump/release_mem", "1\n");
        Assert.False(cap.Files.Exists("/proc/vmcore"));
        cap.Files.WriteText("/sys/kernel/fadump/registered", "1\n");
        Assert.True(cap.Fadump.Dump.Registered);
    }
}
