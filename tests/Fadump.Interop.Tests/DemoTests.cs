using System.Text.Json;
using System.Xml;
using Fadump.Cli;
using Fadump.Formats;

namespace Fadump.Interop.Tests;

/// <summary>`fadump demo`: the whole lifecycle, its report, its pictures and the dump it saved.</summary>
public sealed class DemoTests
{
    [Fact]
    public void Demo_saves_releases_reregisters_and_draws_the_layout()
    {
        using var dir = new RealTool.TempDir();
        var o = new StringWriter();
        var e = new StringWriter();
        int code = FadumpCommand.Run(["demo", "--memory", "2G", "--cpus", "4", "--out", dir.Path, "--json"], o, e);
        Assert.True(code == 0, e.ToString());
        using var doc = JsonDocument.Parse(o.ToString());
        var root = doc.RootElement;
        Assert.True(root.GetProperty("dumped").GetBoolean());
        Assert.True(root.GetProperty("reregistered").GetBoolean());
        // 2 GiB − 320 MiB of boot memory − the 320 MiB (+ CPU/HPTE page, header page) reserved area.
        Assert.Equal((2UL << 30) - (640UL << 20) - 0x20000, root.GetProperty("released_bytes").GetUInt64());
        var phases = root.GetProperty("timeline").EnumerateArray().ToList();
        Assert.Contains(phases, p => p.GetProperty("kind").GetString() == "measured" && p.GetProperty("phase").GetString()!.StartsWith("dump service", StringComparison.Ordinal));
        Assert.All(phases, p => Assert.Contains(p.GetProperty("kind").GetString(), new[] { "modelled", "measured" }));
        Assert.True(root.GetProperty("back_in_production_seconds").GetDouble() < root.GetProperty("kdump_equivalent_seconds").GetDouble());
        Assert.Contains(root.GetProperty("layout_first_kernel").EnumerateArray(), b => b.GetProperty("label").GetString()!.StartsWith("DUMP", StringComparison.Ordinal));

        var files = root.GetProperty("files").EnumerateArray().Select(f => f.GetString()!).ToList();
        foreach (var svg in files.Where(f => f.EndsWith(".svg", StringComparison.Ordinal)))
        {
            var xml = new XmlDocument();
            xml.Load(svg);
            Assert.Equal("svg", xml.DocumentElement!.Name);
        }

        string vmcore = Assert.Single(files, f => Path.GetFileName(f) == "vmcore");
        using var dump = DumpFile.Open(vmcore);
        Assert.Equal(DumpFormat.KdumpCompressed, dump.Format);
        Assert.Equal(31, dump.DumpLevel);
        Assert.Equal("6.1.0-50-powerpc64le", dump.VmcoreInfo!.OsRelease);
        Assert.Contains("Kernel panic - not syncing", File.ReadAllText(Assert.Single(files, f => f.EndsWith("vmcore-dmesg.txt", StringComparison.Ordinal))));
    }
}
