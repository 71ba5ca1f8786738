using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Tests.Service;

/// <summary>Detection on synthetic roots: temporary directories with proc/ and sys/ as a capture kernel has them.</summary>
public sealed class DumpDetectorTests
{
    [Fact]
    public void Plain_proc_vmcore_is_kdump()
    {
        using var root = SyntheticRoot.Kdump();

        var d = DumpDetector.Detect(new DirectorySysroot(root.Dir));

        Assert.Equal(DumpMechanism.Kdump, d.Mechanism);
        Assert.Equal("/proc/vmcore", d.VmcorePath);
        Assert.Null(d.Fadump);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Vmcore_with_release_mem_is_fadump_under_new_or_old_names(bool oldNames)
    {
        using var root = SyntheticRoot.Fadump(oldNames);

        var d = DumpDetector.Detect(new DirectorySysroot(root.Dir));

        Assert.Equal(DumpMechanism.Fadump, d.Mechanism);
        Assert.Equal(oldNames ? FadumpSysfs.Old : FadumpSysfs.Current, d.Fadump);
        Assert.Equal(oldNames, d.Fadump!.IsOld);
        Assert.Equal(oldNames ? "/sys/kernel/fadump_release_mem" : "/sys/kernel/fadump/release_mem", d.Fadump.ReleaseMem);
    }

    [Fact]
    public void Fadump_enabled_without_an_active_dump_but_with_vmcore_is_kdump()
    {
        // FADump could not reserve its memory and the kernel fell back to kdump: no release_mem.
        using var root = SyntheticRoot.Kdump();
        root.WriteFile("sys/kernel/fadump/enabled", "1\n");
        root.WriteFile("sys/kernel/fadump/registered", "0\n");

        Assert.Equal(DumpMechanism.Kdump, DumpDetector.Detect(new DirectorySysroot(root.Dir)).Mechanism);
    }

    [Fact]
    public void Release_region_is_phyp_dump()
    {
        using var root = SyntheticRoot.Empty();
        root.WriteFile("sys/kernel/release_region", "CPU:0x2bef000-0x10000: HPTE:0x2bff000-0x1000: DUMP:0x2c00000-0x400000, 0x400000-0x27ef000:\n");

        var d = DumpDetector.Detect(new DirectorySysroot(root.Dir));

        Assert.Equal(DumpMechanism.PhypDump, d.Mechanism);
        Assert.Equal("/sys/kernel/release_region", d.ReleaseRegionPath);
    }

    [Fact]
    public void Fadump_sysfs_without_vmcore_is_nothing_to_collect()
    {
        using var root = SyntheticRoot.Empty();
        root.WriteFile("sys/kernel/fadump/enabled", "1\n");
        root.WriteFile("sys/kernel/fadump/registered", "1\n");

        var d = DumpDetector.Detect(new DirectorySysroot(root.Dir));

        Assert.Equal(DumpMechanism.None, d.Mechanism);
    }
}
