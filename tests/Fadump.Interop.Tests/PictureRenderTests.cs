using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using System.Xml;

namespace Fadump.Interop.Tests;

/// <summary>
/// Every SVG `fadump demo` writes, on every platform, rendered by a real renderer (rsvg-convert, librsvg2-bin): it
/// must accept the file and draw a PNG of the size the SVG declares. A missing rsvg-convert fails the test.
/// </summary>
public sealed class PictureRenderTests
{
    [Theory]
    [InlineData("pseries", new[] { "fig1-first-kernel.svg", "fig2-capture-kernel.svg", "timeline.svg" })]
    [InlineData("powernv", new[] { "fig1-first-kernel.svg", "fig2-capture-kernel.svg", "timeline.svg" })]
    [InlineData("power6", new[] { "fig1-first-kernel.svg", "fig2-capture-kernel.svg", "memory-back.svg", "timeline.svg" })]
    [InlineData("x86_64", new[] { "fig1-first-kernel.svg", "fig2-capture-kernel.svg", "timeline.svg" })]
    public void Every_picture_the_demo_writes_renders_with_rsvg_convert(string platform, string[] expected)
    {
        RealTool.Require("rsvg-convert");
        using var dir = new RealTool.TempDir();
        var (code, o, e) = InProcessCli.Run("demo", "--platform", platform, "--memory", "4G", "--cpus", "2", "--out", dir.Path, "--json");
        Assert.True(code == 0, e);
        using var doc = JsonDocument.Parse(o);
        var svgs = doc.RootElement.GetProperty("files").EnumerateArray().Select(f => f.GetString()!).Where(f => f.EndsWith(".svg", StringComparison.Ordinal)).ToList();
        Assert.Equal(expected.Order(StringComparer.Ordinal), svgs.Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (string svg in svgs)
        {
            var xml = new XmlDocument();
            xml.Load(svg);
            int width = int.Parse(xml.DocumentElement!.GetAttribute("width"), CultureInfo.InvariantCulture);
            int height = int.Parse(xml.DocumentElement.GetAttribute("height"), CultureInfo.InvariantCulture);
            string png = Path.ChangeExtension(svg, ".png");
            var r = RealTool.Run("rsvg-convert", ["-o", png, svg]);
            Assert.True(r.ExitCode == 0, svg + ": " + r.All);
            Assert.True(r.Stderr.Length == 0, svg + ": " + r.Stderr);
            var header = File.ReadAllBytes(png).AsSpan(0, 24);
            Assert.True(header[..8].SequenceEqual((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a]), svg + ": not a PNG");
            Assert.Equal(width, BinaryPrimitives.ReadInt32BigEndian(header[16..])); // IHDR width
            Assert.Equal(height, BinaryPrimitives.ReadInt32BigEndian(header[20..]));
            Assert.InRange(width, 400, 2400);
            Assert.InRange(height, 300, 1600);
        }
    }
}
