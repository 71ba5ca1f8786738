using Fadump.Kernel.CommandLine;

namespace Fadump.Kernel.Tests;

public sealed class CommandLineTests
{
    private const ulong G = 1UL << 30;
    private const ulong M = 1UL << 20;

    [Theory]
    [InlineData("fadump=on", FadumpMode.On)]
    [InlineData("fadump=onX", FadumpMode.On)]          // strncmp prefix match
    [InlineData("fadump=off", FadumpMode.Off)]
    [InlineData("fadump=nocma", FadumpMode.NoCma)]
    [InlineData("fadump=maybe", FadumpMode.Default)]    // ignored
    [InlineData("quiet", FadumpMode.Default)]
    [InlineData("fadump=on fadump=off", FadumpMode.Off)]
    public void Fadump_parameter(string cmdline, FadumpMode expected) =>
        Assert.Equal(expected, new KernelCommandLine(cmdline).Fadump);

    [Theory]
    [InlineData("512M", 512UL << 20, 0UL)]
    [InlineData("0x20000000", 512UL << 20, 0UL)]
    [InlineData("1G@32M", 1UL << 30, 32UL << 20)]
    [InlineData("010", 8UL, 0UL)]                        // base 0: octal
    public void Simple_syntax(string value, ulong size, ulong offset)
    {
        var r = CrashKernelParameter.Parse(new KernelCommandLine("crashkernel=" + value), 64 * G)!;
        Assert.True(r.Ok, r.Error);
        Assert.Equal(size, r.Size);
        Assert.Equal(offset, r.Offset);
    }

    [Theory]
    [InlineData("2G-64G:256M,64G-:512M", 32UL << 30, 256UL << 20)]
    [InlineData("2G-64G:256M,64G-:512M", 64UL << 30, 512UL << 20)]
    [InlineData("2G-64G:256M,64G-:512M", (64UL << 30) - (100UL << 20), 512UL << 20)] // total rounded up to 128M: 64G
    [InlineData("1G-2G:128M@16M", (3UL << 29), 128UL << 20)]
    public void Range_syntax(string value, ulong ram, ulong expected)
    {
        var r = CrashKernelParameter.Parse(new KernelCommandLine("crashkernel=" + value), ram)!;
        Assert.True(r.Ok, r.Error);
        Assert.Equal(expected, r.Size);
    }

    [Theory]
    [InlineData("crashkernel=abc", "crashkernel: memory value expected")]
    [InlineData("crashkernel=512Mx", "crashkernel: unrecognized char: x")]
    [InlineData("crashkernel=1G:256M", "crashkernel: '-' expected")]
    [InlineData("crashkernel=1G-2G256M:", "crashkernel: ':' expected")]
    [InlineData("crashkernel=2G-1G:256M", "crashkernel: end <= start")]
    [InlineData("crashkernel=1G-:128G", "crashkernel: invalid size")]
    [InlineData("crashkernel=128G-256G:1G", "crashkernel size resulted in zero bytes")]
    public void Errors_use_the_kernel_messages(string cmdline, string error)
    {
        var r = CrashKernelParameter.Parse(new KernelCommandLine(cmdline), 64 * G)!;
        Assert.False(r.Ok);
        Assert.Equal(error, r.Error);
    }

    [Fact]
    public void Last_occurrence_wins_and_suffixed_ones_are_skipped()
    {
        var cl = new KernelCommandLine("crashkernel=256M crashkernel=1G,high crashkernel=512M crashkernel=64M,low");
        Assert.Equal(512 * M, CrashKernelParameter.Parse(cl, 64 * G)!.Size);
        Assert.Equal(1 * G, CrashKernelParameter.Parse(cl, 64 * G, ",high")!.Size);
        Assert.Equal(64 * M, CrashKernelParameter.Parse(cl, 64 * G, ",low")!.Size);
        Assert.Null(CrashKernelParameter.Parse(new KernelCommandLine("crashkernel=1G,high"), 64 * G));
    }

    [Theory]
    [InlineData("4K", 4096UL, 2)]
    [InlineData("1T", 1UL << 40, 2)]
    [InlineData("0x10M", 16UL << 20, 5)]
    [InlineData("2E", 2UL << 60, 2)]
    public void Memparse(string text, ulong value, int used) => Assert.Equal((value, used), MemParse.Parse(text));
}
