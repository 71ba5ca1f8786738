using Fadump.Firmware.Rtas;
using Fadump.Kernel.CommandLine;
using Fadump.Machine;
using Fadump.Kernel.Platforms;
using Fadump.Kernel.Fadump;

namespace Fadump.Kernel.Tests;

/// <summary>Issue 7 item 8: the simulated kernel outside the demo's defaults boots and says why FADump is off, as Linux does.</summary>
public sealed class OutsideDefaultsTests
{
    private const ulong M = 1UL << 20;
    private const ulong G = 1UL << 30;

    private static string Log(LinuxKernel k) => string.Join("\n", k.Log.Lines);

    private static PseriesLpar Lpar(ulong mem, string cmdline, int cpus = 2) =>
        new(new LparSpec { MemoryBytes = mem, Cpus = cpus, CommandLine = cmdline });

    [Theory]
    [InlineData(256 * M)]
    [InlineData(300 * M)]
    [InlineData(512 * M)]
    public void Too_little_memory_for_fadump_boots_and_logs_the_reason(ulong mem)
    {
        var lpar = Lpar(mem, "root=/dev/sda2 fadump=on");
        var k = lpar.Boot();
        Assert.False(k.Fadump.Dump.Registered);
        Assert.False(k.Fadump.Dump.Enabled);
        Assert.Contains("fadump: Failed to find memory chunk for reservation!", Log(k));
        Assert.Equal(0UL, k.Fadump.Dump.ReserveSize);
        Assert.Equal("0\n", k.Files.ReadText("/sys/kernel/fadump/enabled"));
        Assert.Equal(string.Empty, k.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region"));
        Assert.False(lpar.Crash(CrashKind.Panic));
        Assert.Same(k, lpar.Kernel);
        Assert.Contains("---[ end Kernel panic - not syncing:", Log(k));
    }

    [Fact]
    public void Fadump_off_is_logged_and_leaves_no_reservation()
    {
        var k = Lpar(4 * G, "fadump=on fadump=off").Boot();
        Assert.Equal(FadumpMode.Off, k.CommandLine.Fadump);
        Assert.False(k.Fadump.Dump.Enabled);
        Assert.Equal(0UL, k.Fadump.Dump.ReserveSize);
        Assert.Equal(string.Empty, k.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region"));
    }

    [Fact]
    public void Crashkernel_below_the_minimum_is_refused_with_the_kernels_message()
    {
        var k = Lpar(4 * G, "fadump=on crashkernel=128M").Boot();
        Assert.False(k.Fadump.Dump.Registered);
        Assert.Contains("fadump: Can't enable fadump with boot memory size (0x8000000) less than 0x14000000", Log(k));
        // The kdump fallback takes the crashkernel= reservation instead.
        Assert.NotNull(k.CrashKernelReservation);
    }

    [Theory]
    [InlineData("fadump=on fadump=off mem=1K", false)]
    [InlineData("fadump=on mem=1K", true)]
    [InlineData("fadump=on mem=0", true)]
    [InlineData("fadump=on mem=junk", true)]
    [InlineData("fadump=on mem=100G", true)]
    public void Mem_below_16M_or_above_ram_is_ignored_as_powerpc_does(string cmdline, bool registered)
    {
        // early_init_devtree: a limit above RAM is dropped; the limit is aligned down to 16 MiB, and 0 means none.
        var k = Lpar(4 * G, cmdline).Boot();
        Assert.Equal(4 * G, k.SystemRam);
        Assert.Null(k.MemLimit);
        Assert.Equal(registered, k.Fadump.Dump.Registered);
    }

    [Fact]
    public void Mem_is_aligned_down_to_16M()
    {
        var k = Lpar(4 * G, "fadump=on mem=3000M").Boot();
        Assert.Equal(2992 * M, k.SystemRam);
        Assert.Equal(2992 * M, k.MemLimit);
        Assert.Contains("Memory: 3063808K/3063808K available", Log(k));
    }

    [Theory]
    [InlineData(0UL, 1UL << 30)]
    [InlineData(16UL << 20, 64UL << 20)]
    public void A_hole_over_the_kernel_is_refused(ulong start, ulong size)
    {
        var spec = new LparSpec { MemoryBytes = 4 * G, Holes = [new MemoryRange(start, size)] };
        Assert.NotNull(spec.Validate());
        Assert.Throws<ArgumentException>(() => new PseriesLpar(spec));
    }

    [Fact]
    public void A_hole_beyond_ram_is_refused()
    {
        var spec = new LparSpec { MemoryBytes = 4 * G, Holes = [new MemoryRange(8 * G, G)] };
        Assert.Contains("beyond", spec.Validate(), StringComparison.Ordinal);
    }

    [Fact]
    public void Overlapping_holes_are_refused()
    {
        var spec = new LparSpec { MemoryBytes = 4 * G, Holes = [new MemoryRange(G, G), new MemoryRange(G + (512 * M), G)] };
        Assert.NotNull(spec.Validate());
    }

    [Fact]
    public void A_hole_inside_ram_is_accepted()
    {
        var spec = new LparSpec { MemoryBytes = 4 * G, Holes = [new MemoryRange(G, G)] };
        Assert.Null(spec.Validate());
        var lpar = new PseriesLpar(spec);
        Assert.True(lpar.Boot().Fadump.Dump.Registered);
        Assert.Equal(5 * G, lpar.Machine.Memory.Top);
    }

    [Fact]
    public void A_reserved_range_over_the_kernel_is_refused()
    {
        var spec = new LparSpec { MemoryBytes = 4 * G, Firmware = new RtasOptions { ReservedRanges = [new MemoryRange(0, 4 * G)] } };
        Assert.Contains("reserved-range 0x0:0x100000000", spec.Validate(), StringComparison.Ordinal);
    }

    [Fact]
    public void Reserved_ranges_over_all_memory_are_a_boot_panic_not_a_crash_of_the_simulator()
    {
        var lpar = new PseriesLpar(new LparSpec { MemoryBytes = 64 * G, Firmware = new RtasOptions { ReservedRanges = [new MemoryRange(64 * M, (64 * G) - (64 * M))] } });
        var e = Assert.Throws<KernelPanicException>(() => lpar.Boot());
        Assert.StartsWith("Kernel panic - not syncing: vmemmap_populate: Failed to allocate", e.Message, StringComparison.Ordinal);
    }
}
