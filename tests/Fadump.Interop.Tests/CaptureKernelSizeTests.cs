using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Fadump.Cli.Simulation;

namespace Fadump.Interop.Tests;

/// <summary>One truth per number: the capture kernel's memory is the same in the timeline, fadump_region and Fig. 2.</summary>
public sealed class CaptureKernelSizeTests
{
    [Theory]
    [InlineData("8G")]
    [InlineData("64G", "0x10000000:0x10000000")] // a hole inside boot memory: the kernel's regions skip it, boot_mem_top does not
    [InlineData("16G", "0x8000000:0x4000000")]
    [InlineData("8G", "0x80000000:0x10000000")] // above boot memory
    public void Timeline_fadump_region_and_fig2_agree(string memory, params string[] holes)
    {
        var args = new List<string> { "sim", "run", "--memory", memory, "--cpus", "2", "--json" };
        foreach (var h in holes)
        {
            args.AddRange(["--hole", h]);
        }

        var (code, o, e) = InProcessCli.Run([.. args]);
        Assert.True(code == 0, e + o);
        using var doc = JsonDocument.Parse(o);
        var root = doc.RootElement;

        // fadump_region after the crash: one DUMP line per boot memory region, each "Size: 0x...".
        string region = root.GetProperty("fadump_region_after").GetString()!;
        ulong boot = Regex.Matches(region, @"DUMP: Src: 0x[0-9a-f]+, Dest: 0x[0-9a-f]+, Size: 0x([0-9a-f]+)")
            .Aggregate(0UL, (s, m) => s + ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        Assert.True(boot > 0, region);

        var phases = root.GetProperty("timeline").EnumerateArray().Select(p => p.GetProperty("phase").GetString()!).ToList();
        Assert.Contains($"capture kernel boots in {MemoryLayoutPicture.Human(boot)}", phases);
        Assert.Contains(phases, p => p.EndsWith($"firmware copies {MemoryLayoutPicture.Human(boot)} of boot memory", StringComparison.Ordinal));

        var capture = root.GetProperty("layout_capture_kernel").EnumerateArray().ToList();
        var kernelBands = capture.Where(b => b.GetProperty("label").GetString() == "capture kernel").ToList();
        Assert.Equal(boot, kernelBands.Aggregate(0UL, (s, b) => s + (b.GetProperty("end").GetUInt64() - b.GetProperty("start").GetUInt64())));
        var copy = Assert.Single(capture, b => b.GetProperty("label").GetString() == "boot memory copy");
        Assert.Equal(boot, copy.GetProperty("end").GetUInt64() - copy.GetProperty("start").GetUInt64());
        foreach (var hole in capture.Where(b => b.GetProperty("kind").GetString() == "hole"))
        {
            Assert.DoesNotContain(kernelBands, b => b.GetProperty("start").GetUInt64() < hole.GetProperty("end").GetUInt64() && hole.GetProperty("start").GetUInt64() < b.GetProperty("end").GetUInt64());
        }
    }

    [Fact]
    public void With_a_hole_in_boot_memory_fig1_marks_the_first_kernels_boot_mem_top_and_the_copy()
    {
        // boot_mem_top = boot_memory_size + the holes below it (0xd0000000); the regions end at 0xc0000000 (the
        // kernel's double counting), and the capture kernel computes its boot_mem_top from them.
        var (code, o, e) = InProcessCli.Run("sim", "run", "--memory", "64G", "--cpus", "2", "--hole", "0x10000000:0x10000000");
        Assert.True(code == 0, e + o);
        string fig1 = o[o.IndexOf("Fig. 1:", StringComparison.Ordinal)..o.IndexOf("Fig. 2:", StringComparison.Ordinal)];
        string fig2 = o[o.IndexOf("Fig. 2:", StringComparison.Ordinal)..];
        Assert.Contains("| in use by the kernel; boot_mem_top = 0xd0000000\n", fig1, StringComparison.Ordinal);
        Assert.Contains("| DUMP (CMA: user pages) <- the firmware copies boot memory here at a crash\n", fig1, StringComparison.Ordinal);
        Assert.Contains("| capture kernel; boot_mem_top = 0xc0000000\n", fig2, StringComparison.Ordinal);
        Assert.Contains("| boot memory copy <- the firmware copied boot memory here at the crash\n", fig2, StringComparison.Ordinal);
    }
}
