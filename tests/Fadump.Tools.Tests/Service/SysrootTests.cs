using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Tests.Service;

public sealed class SysrootTests
{
    [Fact]
    public void A_device_under_dev_reads_at_any_offset()
    {
        // /dev/zero stands for /dev/mem: stat says size 0, pread works anywhere.
        using var src = new DirectorySysroot("/").OpenRead("/dev/zero");
        var b = new byte[4096];
        b[0] = 1;

        Assert.Equal(long.MaxValue, src.Length);
        Assert.Equal(b.Length, src.Read(1L << 40, b));
        Assert.Equal(0, b[0]);
    }
}
