using Fadump.Kernel.CommandLine;
using Fadump.Kernel.Fadump;
using Fadump.Machine;

namespace Fadump.Kernel.Tests;

public sealed class BootMemoryTests
{
    private const ulong G = 1UL << 30;
    private const ulong M = 1UL << 20;
    private static readonly FadumpPlatform P = FadumpPlatform.Pseries;

    private static BootMemorySize Size(string cmdline, ulong ram, ulong? memLimit = null) =>
        BootMemory.CalculateSize(new KernelCommandLine(cmdline), ram, memLimit, P);

    [Fact]
    public void Sixty_four_gigabytes_give_three_gigabytes_of_boot_memory() =>
        Assert.Equal(3 * G, Size("fadump=on", 64 * G).Size);   // 5 % = 3.2 GiB, rounded down to 256 MiB

    [Theory]
    [InlineData(1UL << 30)]
    [InlineData(4UL << 30)]
    [InlineData(6UL << 30)]                                      // 5 % = 307 MiB → 256 MiB → raised to 320 MiB
    public void Small_machines_get_the_320M_minimum(ulong ram) => Assert.Equal(320 * M, Size("fadump=on", ram).Size);

    [Fact]
    public void One_terabyte() => Assert.Equal(51 * G, Size("fadump=on", 1UL << 40).Size);

    [Fact]
    public void Crashkernel_overrides_and_is_capped_at_a_quarter_of_ram()
    {
        Assert.Equal(2 * G, Size("fadump=on crashkernel=2G", 64 * G).Size);
        var capped = Size("fadump=on crashkernel=40G", 64 * G);
        Assert.Equal(16 * G, capped.Size);
        Assert.Contains("fadump: Adjusted boot memory size to 16384MB", capped.Log);
        Assert.Equal(1 * G, Size("fadump=on crashkernel=1G@128M", 64 * G).Size);   // @offset ignored
    }

    [Fact]
    public void Too_small_a_user_value_is_rejected_not_raised()
    {
        var r = Size("fadump=on crashkernel=100M", 64 * G);
        Assert.Equal(0UL, r.Size);
        Assert.Equal("fadump: Can't enable fadump with boot memory size (0x6400000) less than 0x14000000", r.Error);
    }

    [Fact]
    public void Deprecated_fadump_reserve_mem_warns()
    {
        var r = Size("fadump=on fadump_reserve_mem=1G", 64 * G);
        Assert.Equal(1 * G, r.Size);
        Assert.Contains("fadump: fadump_reserve_mem=<size> is deprecated. Use crashkernel=<size> instead.", r.Log);
    }

    [Fact]
    public void Mem_limit_bounds_the_default()
    {
        // 5 % of 1 TiB is 51 GiB; mem=40G caps it at 40 GiB.
        Assert.Equal(40 * G, Size("fadump=on", 1UL << 40, 40 * G).Size);
    }

    [Fact]
    public void Regions_follow_holes_with_the_kernels_double_counting_quirk()
    {
        // First range 1 GiB, boot memory 3 GiB: mem_size drops to 2 GiB AND cur_size rises to 1 GiB,
        // so the second region is only 1 GiB (regions sum to 2 GiB, not 3).
        var mem = new List<MemoryRange> { new(0, 1 * G), new(2 * G, 62 * G) };
        var (regions, top) = BootMemory.Regions(mem, 3 * G, P)!.Value;
        Assert.Equal([new MemoryRange(0, 1 * G), new MemoryRange(2 * G, 1 * G)], regions);
        Assert.Equal(4 * G, top);                                // size + holes
    }

    [Fact]
    public void Seven_regions_at_most_on_pseries()
    {
        var mem = Enumerable.Range(0, 8).Select(i => new MemoryRange((ulong)i * 2 * 64 * M, 64 * M)).ToList();
        mem.Add(new MemoryRange(32 * G, 32 * G));
        Assert.Null(BootMemory.Regions(mem, 1 * G, P));
        Assert.NotNull(BootMemory.Regions(mem, 1 * G, FadumpPlatform.Opal));
    }
}
