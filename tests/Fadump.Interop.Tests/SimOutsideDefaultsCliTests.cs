using System.Text.Json;
using Fadump.Cli;

namespace Fadump.Interop.Tests;

/// <summary>
/// Issue 7 item 8: `fadump sim run` outside the demo's defaults: no crash of the simulator, usage errors for
/// impossible machines (exit 2), and when FADump is not active a forward-running timeline, sane regions and
/// the kernel's own reason.
/// </summary>
public sealed class SimOutsideDefaultsCliTests
{
    private static (int Code, string Out, string Err) Fadump(params string[] args) => InProcessCli.Run(args);

    /// <summary>The JSON report's timeline runs forward and its layout bands lie inside RAM.</summary>
    private static JsonDocument CheckReport(string json, ulong memoryTop)
    {
        var doc = JsonDocument.Parse(json);
        double at = 0;
        foreach (var p in doc.RootElement.GetProperty("timeline").EnumerateArray())
        {
            double seconds = p.GetProperty("seconds").GetDouble(), end = p.GetProperty("at_seconds").GetDouble();
            Assert.True(seconds >= 0, $"phase '{p.GetProperty("phase").GetString()}' lasts {seconds} s");
            Assert.True(end >= at, $"phase '{p.GetProperty("phase").GetString()}' ends at {end} s, before the previous one ({at} s)");
            at = end;
        }

        foreach (var name in new[] { "layout_first_kernel", "layout_capture_kernel" })
        {
            foreach (var b in doc.RootElement.GetProperty(name).EnumerateArray())
            {
                ulong start = b.GetProperty("start").GetUInt64(), stop = b.GetProperty("end").GetUInt64();
                Assert.True(start < stop && stop <= memoryTop, FormattableString.Invariant($"{name}: band {b.GetProperty("label").GetString()} [0x{start:x}, 0x{stop:x}) is outside [0, 0x{memoryTop:x})"));
            }
        }

        return doc;
    }

    [Theory]
    [InlineData("256M", 256UL << 20)]
    [InlineData("300M", 300UL << 20)]
    public void Too_little_memory_reports_the_kernels_reason(string memory, ulong bytes)
    {
        var (code, stdout, stderr) = Fadump("sim", "run", "--memory", memory, "--cpus", "2", "--json");
        Assert.True(code == 1, stderr);
        Assert.Contains("fadump: Failed to find memory chunk for reservation!", stderr, StringComparison.Ordinal);
        using var doc = CheckReport(stdout, bytes);
        Assert.False(doc.RootElement.GetProperty("dumped").GetBoolean());
        Assert.Contains("fadump: Failed to find memory chunk for reservation!", doc.RootElement.GetProperty("kernel_messages").EnumerateArray().Select(m => m.GetString()));
        Assert.Empty(doc.RootElement.GetProperty("layout_capture_kernel").EnumerateArray());
    }

    [Fact]
    public void Too_little_memory_in_text_has_no_nonsense_regions()
    {
        var (code, stdout, stderr) = Fadump("sim", "run", "--memory", "256M", "--cpus", "2");
        Assert.Equal(1, code);
        Assert.DoesNotContain("ffffffffffff", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("capture kernel boots", stdout, StringComparison.Ordinal);
        Assert.Contains("No dump: FADump could not reserve its memory (the kernel said: fadump: Failed to find memory chunk for reservation!)", stdout, StringComparison.Ordinal);
        Assert.StartsWith("fadump: ", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("fadump=on fadump=off mem=1K", "FADump is off: the command line's last fadump= is fadump=off")]
    [InlineData("fadump=off", "FADump is off")]
    [InlineData("root=/dev/sda2", "FADump is not enabled: the command line has no fadump=on")]
    [InlineData("fadump=on crashkernel=128M", "fadump: Can't enable fadump with boot memory size (0x8000000) less than 0x14000000")]
    public void Fadump_not_active_says_why_and_the_timeline_runs_forward(string cmdline, string reason)
    {
        foreach (var crash in new[] { "panic", "fw-terminate" })
        {
            var (code, stdout, stderr) = Fadump("sim", "run", "--memory", "4G", "--cpus", "2", "--cmdline", cmdline, "--crash", crash, "--json");
            Assert.True(code == 1, stderr);
            Assert.Contains(reason, stderr, StringComparison.Ordinal);
            using var doc = CheckReport(stdout, 4UL << 30);
            Assert.False(doc.RootElement.GetProperty("dumped").GetBoolean());
        }
    }

    [Fact]
    public void Mem_below_16M_is_ignored_and_the_dump_is_taken()
    {
        var (code, stdout, stderr) = Fadump("sim", "run", "--memory", "4G", "--cpus", "2", "--cmdline", "fadump=on mem=1K", "--json");
        Assert.True(code == 0, stderr);
        using var doc = CheckReport(stdout, 4UL << 30);
        Assert.True(doc.RootElement.GetProperty("dumped").GetBoolean());
    }

    [Theory]
    [InlineData("0:1G", "RAM from 0 to 64M holds the kernel")]
    [InlineData("8G:1G", "starts beyond the end of RAM")]
    [InlineData("4G:1G", "starts beyond the end of RAM")]
    [InlineData("1G:4K", "multiples of 64K")]
    public void Impossible_holes_are_usage_errors(string hole, string message)
    {
        var (code, stdout, stderr) = Fadump("sim", "run", "--memory", "4G", "--cpus", "2", "--hole", hole);
        Assert.Equal(2, code);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled", stderr + stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void A_reserved_range_over_the_kernel_is_a_usage_error()
    {
        var (code, _, stderr) = Fadump("sim", "run", "--memory", "4G", "--cpus", "2", "--reserved-range", "0:4G");
        Assert.Equal(2, code);
        Assert.Contains("reserved-range 0x0:0x100000000: RAM from 0 to 64M holds the kernel", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void A_hole_inside_ram_moves_ram_up_and_the_dump_is_taken()
    {
        var (code, stdout, stderr) = Fadump("sim", "run", "--memory", "4G", "--cpus", "2", "--hole", "1G:1G", "--json");
        Assert.True(code == 0, stderr);
        using var doc = CheckReport(stdout, 5UL << 30);
        Assert.True(doc.RootElement.GetProperty("dumped").GetBoolean());
    }
}
