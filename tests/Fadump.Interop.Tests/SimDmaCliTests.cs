using System.Text.Json;
using Fadump.Cli;

namespace Fadump.Interop.Tests;

/// <summary>`fadump sim dma`: seed 004's placements on the same PC, in-flight DMA reported page by page.</summary>
public sealed class SimDmaCliTests
{
    private static (int Code, string Out, string Err) Fadump(params string[] args) => InProcessCli.Run(args);

    [Fact]
    public void The_default_devices_corrupt_dumped_pages_relocated_and_kill_the_swapped_capture_kernel()
    {
        var (code, text, err) = Fadump("sim", "dma");
        Assert.True(code == 0, err);
        Assert.Contains("relocatable (2005, merged)", text);
        Assert.Contains("corrupted: 1536 dumped pages, 0 capture-kernel pages; capture survived", text);
        Assert.Contains("swap to zero (2004)", text);
        Assert.Contains("capture lost: DMA from eth0 overwrote the capture kernel's image", text);

        var (jcode, json, _) = Fadump("sim", "dma", "--json");
        Assert.Equal(0, jcode);
        using var doc = JsonDocument.Parse(json);
        var p = doc.RootElement.GetProperty("placements").EnumerateArray().ToList();
        Assert.True(p[0].GetProperty("capture_survived").GetBoolean());
        Assert.False(p[1].GetProperty("capture_survived").GetBoolean());
        Assert.Equal(512, p[1].GetProperty("corrupted_capture_pages").GetInt32());
    }

    [Fact]
    public void A_device_high_above_the_swap_area_harms_neither_capture()
    {
        var (code, text, err) = Fadump("sim", "dma", "--device", "nvme0:1G:4M:3000000000");
        Assert.True(code == 0, err);
        Assert.DoesNotContain("capture lost", text);
        Assert.Contains("1024 dumped pages, 0 capture-kernel pages; capture survived", text);
    }

    [Theory]
    [InlineData("--device", "eth0:0x1000")]
    [InlineData("--device", "eth0:0x1000:0:5")]
    [InlineData("--device", "eth0:0x1000:4K:fast")]
    [InlineData("--memory", "64T")]
    public void Bad_devices_and_machines_are_usage_errors(string option, string value)
    {
        var (code, _, err) = Fadump("sim", "dma", option, value);
        Assert.Equal(2, code);
        Assert.NotEmpty(err);
    }
}
