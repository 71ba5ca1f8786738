using System.Globalization;
using System.Xml;
using Fadump.Cli.Simulation;

namespace Fadump.Interop.Tests;

/// <summary>
/// The layout pictures' scale (broken axis, minimum heights, no overlap), their ticks, boot_mem_top and the copy
/// arrow; binary units; the terminal picture's exact text; the timeline picture.
/// </summary>
public sealed class PictureTests
{
    private const ulong K = 1UL << 10, M = 1UL << 20, G = 1UL << 30;

    /// <summary>The 64 GiB pseries LPAR of the demo: 3 GiB of boot memory, 64 KiB of CPU+HPTE, 58 GiB in use.</summary>
    private static List<LayoutBand> Pseries64G(bool done)
    {
        var copy = new LayoutCopy(0, 3 * G, done ? "the firmware copied boot memory here at the crash" : "the firmware copies boot memory here at a crash", done, "boot_mem_top");
        return
        [
            new(0, 3 * G, done ? "capture kernel" : "boot memory", "boot"),
            new(3 * G, (3 * G) + (64 * K), "CPU+HPTE", "meta"),
            new((3 * G) + (64 * K), (6 * G) + (64 * K), "DUMP (CMA: user pages)", "dump") { CopyOf = copy },
            new((6 * G) + (64 * K), (6 * G) + (64 * K) + 680, "HDR", "meta"),
            new((6 * G) + (64 * K) + 680, 64 * G, done ? "preserved: /proc/vmcore" : "in use by the kernel", "rest"),
        ];
    }

    [Theory]
    [InlineData(0UL, "0 B")]
    [InlineData(680UL, "680 B")]
    [InlineData(1023UL, "1023 B")]
    [InlineData(1024UL, "1 KiB")]
    [InlineData(65536UL, "64 KiB")]
    [InlineData(0x4f20UL, "19.8 KiB")]          // 19.78 KiB: one decimal, rounded
    [InlineData(1048575UL, "1 MiB")]            // 1023.999 KiB rounds to 1024 KiB: 1 MiB, not "1024 KiB"
    [InlineData(3UL << 30, "3 GiB")]
    [InlineData(1610612736UL, "1.5 GiB")]
    [InlineData(62277025792UL, "58 GiB")]       // exactly 58 GiB
    [InlineData(62276959576UL, "58 GiB")]       // 57.99994 GiB (the demo's "in use" band): rounded to one decimal, 58.0
    [InlineData(62169651200UL, "57.9 GiB")]
    [InlineData(2530213888UL, "2.4 GiB")]       // 2413 MiB
    [InlineData(1UL << 40, "1 TiB")]
    [InlineData(ulong.MaxValue, "16 EiB")]
    public void Human_prints_the_largest_binary_unit_integers_plainly_and_one_decimal_otherwise(ulong bytes, string expected)
    {
        Assert.Equal(expected, MemoryLayoutPicture.Human(bytes));
    }

    [Fact]
    public void A_band_that_dwarfs_the_rest_breaks_the_axis_and_small_bands_get_the_minimum()
    {
        var sizes = Pseries64G(done: false).Select(b => b.End - b.Start).ToList();
        var scale = BrokenScale.Compute(sizes, 480, 20);
        Assert.Equal([false, false, false, false, true], scale.Broken);
        Assert.Equal([false, true, false, true, false], scale.Enlarged);
        Assert.All(scale.Lengths, l => Assert.True(l >= 20, $"a band {l} long"));
        // The broken band stays the longest, and the two 3 GiB bands are drawn alike, to scale.
        Assert.True(scale.Lengths[4] > scale.Lengths.Take(4).Max());
        Assert.Equal(scale.Lengths[0], scale.Lengths[2], 6);
        Assert.Equal(scale.PerByte * 3 * G, scale.Lengths[0], 6);
    }

    [Fact]
    public void No_band_breaks_the_axis_when_none_dwarfs_the_rest()
    {
        // 2 GiB: 320 MiB of boot memory, 320 MiB reserved, about 1.4 GiB in use (less than 4 times the rest).
        ulong[] sizes = [320 * M, 64 * K, 320 * M, 680, (2 * G) - (640 * M) - (64 * K) - 680];
        var scale = BrokenScale.Compute(sizes, 480, 20);
        Assert.False(scale.AnyBroken);
        Assert.Equal(480, scale.Lengths.Sum(), 6); // to scale, the minimum bands included, the column is its total
        Assert.Equal(scale.Lengths[0] / scale.Lengths[4], 320.0 * M / sizes[4], 6);
    }

    [Fact]
    public void Only_the_largest_band_breaks_the_axis()
    {
        // power6's Fig. 1: 60.7 GiB in use and a 2.8 GiB unused scratch end beside two 256 MiB bands.
        ulong[] sizes = [256 * M, (62208 * M) - (68 * K), 68 * K, 256 * M, 2816 * M];
        var scale = BrokenScale.Compute(sizes, 480, 20);
        Assert.Equal([false, true, false, false, false], scale.Broken);
    }

    [Fact]
    public void The_svg_stacks_every_band_without_overlap_and_marks_the_break_the_ticks_and_boot_mem_top()
    {
        var bands = Pseries64G(done: false);
        var svg = Load(MemoryLayoutPicture.ToSvg("Fig. 1: memory reservation in the first kernel", bands));
        var rects = Elements(svg, "rect").Where(r => r.GetAttribute("class").StartsWith("band", StringComparison.Ordinal)).ToList();
        Assert.Equal(bands.Count, rects.Count);
        for (int i = 0; i < rects.Count; i++)
        {
            Assert.True(D(rects[i], "height") >= MemoryLayoutPicture.MinBand);
            if (i > 0)
            {
                Near(D(rects[i - 1], "y") + D(rects[i - 1], "height"), D(rects[i], "y")); // each band starts where the last ended
            }
        }

        Assert.Equal("band broken", rects[4].GetAttribute("class"));
        Assert.Equal("band enlarged", rects[1].GetAttribute("class"));
        Assert.Single(Elements(svg, "g"), g => g.GetAttribute("class") == "axis-break");

        // A tick at every band's edge, each address written out beside it.
        var texts = Elements(svg, "text").Select(t => t.InnerText).ToList();
        Assert.Equal(bands.Count + 1, Elements(svg, "line").Count(l => l.GetAttribute("class") == "tick"));
        foreach (ulong a in bands.Select(b => b.Start).Append(64 * G))
        {
            Assert.Contains(texts, t => t.EndsWith(string.Create(CultureInfo.InvariantCulture, $"0x{a:x12}"), StringComparison.Ordinal));
        }

        // boot_mem_top: named at its tick and drawn across the bar where boot memory ends.
        Assert.Contains("boot_mem_top 0x0000c0000000", texts);
        var top = Assert.Single(Elements(svg, "line"), l => l.GetAttribute("class") == "boot-mem-top");
        Near(D(rects[1], "y"), D(top, "y1"));

        // Fig. 1: the copy is to come, the arrow is dashed; sizes in binary units, labels in full.
        var arrow = Assert.Single(Elements(svg, "path"), p => p.GetAttribute("class") == "copy-arrow");
        Assert.NotEmpty(arrow.GetAttribute("stroke-dasharray"));
        Assert.Contains("64 KiB", texts);
        Assert.Contains("680 B", texts);
        Assert.Contains("58 GiB", texts);
        Assert.Contains("DUMP (CMA: user pages) ← the firmware copies boot memory here at a crash", texts);
    }

    [Fact]
    public void Fig_2_has_a_solid_arrow_from_boot_memory_to_its_copy()
    {
        var bands = Pseries64G(done: true);
        var svg = Load(MemoryLayoutPicture.ToSvg("Fig. 2", bands));
        var arrow = Assert.Single(Elements(svg, "path"), p => p.GetAttribute("class") == "copy-arrow");
        Assert.Empty(arrow.GetAttribute("stroke-dasharray"));
        Assert.Equal("url(#arrow)", arrow.GetAttribute("marker-end"));
        var rects = Elements(svg, "rect").Where(r => r.GetAttribute("class").StartsWith("band", StringComparison.Ordinal)).ToList();
        // From the middle of boot memory ...
        string d = arrow.GetAttribute("d");
        string[] moves = d.Split('M', StringSplitOptions.RemoveEmptyEntries);
        double fromY = double.Parse(moves[1].Split(' ')[0].Split(',')[1], CultureInfo.InvariantCulture);
        Near(D(rects[0], "y") + (D(rects[0], "height") / 2), fromY);
        // ... to the middle of the copy.
        double toY = double.Parse(d.Split(' ')[^1].Split(',')[1], CultureInfo.InvariantCulture);
        Near(D(rects[2], "y") + (D(rects[2], "height") / 2), toY);
    }

    [Fact]
    public void Labels_never_collide_and_fit_in_the_picture()
    {
        // powernv's Fig. 1: eleven bands, long firmware labels, sizes from 680 B to 58 GiB.
        List<LayoutBand> bands =
        [
            new(0, 0x20000000, "boot memory", "boot"),
            new(0x20000000, 0x28000000, "fw-load-area (in boot memory): petitboot loaded here at each IPL", "fw"),
            new(0x28000000, 0x30000000, "fw-load-area (in boot memory): petitboot loaded here at each IPL", "fw"),
            new(0x30000000, 0x32450000, "skiboot (ibm,firmware-code): tables, console, stacks", "fw"),
            new(0x32450000, 0x348a0000, "ibm,firmware-dump: OPAL's copy of itself", "fw"),
            new(0x348a0000, 0x349a0000, "ibm,firmware-arch-registers", "fw"),
            new(0x349a0000, 0xc0000000, "boot memory", "boot"),
            new(0xc0000000, 0x180000000, "DUMP (CMA: user pages)", "dump"),
            new(0x180000000, 0x1800002a8, "HDR", "meta"),
            new(0x1800002a8, 0x1800102a8, "kernel metadata (TAG_KERNEL)", "meta"),
            new(0x1800102a8, 64 * G, "in use by the kernel", "rest"),
        ];
        var svg = Load(MemoryLayoutPicture.ToSvg("Fig. 1: boot memory, the FADump reservation and OPAL's regions in the production kernel", bands));
        double width = D(svg.DocumentElement!, "width");
        var labels = Elements(svg, "text").Where(t => t.GetAttribute("class") == "label").ToList();
        Assert.Equal(bands.Count, labels.Count);
        for (int i = 1; i < labels.Count; i++)
        {
            Assert.True(D(labels[i], "y") - D(labels[i - 1], "y") >= MemoryLayoutPicture.MinBand, "two labels closer than a line");
        }

        // DejaVu Sans Mono: 0.602 em a character; every label ends inside the picture.
        Assert.All(labels, l => Assert.True(D(l, "x") + (l.InnerText.Length * 0.602 * 12) <= width, l.InnerText + " is cut off"));
    }

    [Fact]
    public void Holes_are_drawn_as_holes()
    {
        List<LayoutBand> bands =
        [
            new(0, G, "boot memory", "boot"),
            new(G, G + (512 * M), "hole", "hole"),
            new(G + (512 * M), 4 * G, "in use by the kernel", "rest"),
        ];
        var svg = Load(MemoryLayoutPicture.ToSvg("holes", bands));
        var hole = Elements(svg, "rect").Where(r => r.GetAttribute("class").StartsWith("band", StringComparison.Ordinal)).ElementAt(1);
        Assert.Equal("url(#hole)", hole.GetAttribute("fill"));
        Assert.Contains(Elements(svg, "text"), t => t.InnerText == "hole: no RAM here");
    }

    [Fact]
    public void The_terminal_picture_is_aligned_to_the_same_broken_scale()
    {
        var copy = new LayoutCopy(0, 0x40000, "the firmware copies boot memory here at a crash", false, "boot_mem_top");
        List<LayoutBand> bands =
        [
            new(0, 0x40000, "boot memory", "boot"),
            new(0x40000, 0x41000, "CPU+HPTE", "meta"),
            new(0x41000, 0x81000, "DUMP", "dump") { CopyOf = copy },
            new(0x81000, 0x812a8, "HDR", "meta"),
            new(0x812a8, 0x1000_0000, "in use by the kernel", "rest"),
        ];
        Assert.Equal(
            "Fig. 1: small\n" +
            "  0x000000000000-0x00000003ffff    256 KiB |###########                             | boot memory; boot_mem_top = 0x40000\n" +
            "  0x000000040000-0x000000040fff      4 KiB |*                                       | CPU+HPTE\n" +
            "  0x000000041000-0x000000080fff    256 KiB |===========                             | DUMP <- the firmware copies boot memory here at a crash\n" +
            "  0x000000081000-0x0000000812a7      680 B |*                                       | HDR\n" +
            "  0x0000000812a8-0x00000fffffff  255.5 MiB |.......//.......                        | in use by the kernel\n",
            MemoryLayoutPicture.ToText("Fig. 1: small", bands));
    }

    [Fact]
    public void The_terminal_columns_line_up_whatever_the_sizes()
    {
        ulong[] sizes = [680, 64 * K, 1023 * K, 36 * M, 2413 * M, 3 * G, 62276959576, 1UL << 40];
        var bands = new List<LayoutBand>();
        ulong at = 0;
        foreach (ulong s in sizes)
        {
            bands.Add(new LayoutBand(at, at + s, "band", "rest"));
            at += s;
        }

        var lines = MemoryLayoutPicture.ToText("t", bands).TrimEnd('\n').Split('\n').Skip(1).ToList();
        Assert.Single(lines.Select(l => l.IndexOf('|', StringComparison.Ordinal)).Distinct());
        Assert.Single(lines.Select(l => l.LastIndexOf('|')).Distinct());
        Assert.DoesNotContain(lines, l => l.Contains("MiB", StringComparison.Ordinal) && l.Contains("59391", StringComparison.Ordinal));
    }

    [Fact]
    public void The_timeline_draws_each_phase_to_scale_in_time_order_with_back_in_production_and_kdump()
    {
        var t = new Timeline();
        t.Add(new TimelinePhase("boot first kernel", TimeSpan.FromSeconds(15), false, "m"), TimeSpan.FromSeconds(15));
        t.Add(new TimelinePhase("crash (panic); firmware copies 3 GiB of boot memory", TimeSpan.FromSeconds(1), false, "m"), TimeSpan.FromSeconds(16));
        t.Add(new TimelinePhase("reset, IPL", TimeSpan.FromSeconds(45), false, "m"), TimeSpan.FromSeconds(61));
        t.Add(new TimelinePhase("dump service", TimeSpan.FromSeconds(30), true, "wall"), TimeSpan.FromSeconds(91));
        t.Add(new TimelinePhase("re-register", TimeSpan.Zero, false, "m"), TimeSpan.FromSeconds(91));
        Assert.Equal(TimeSpan.FromSeconds(15), t.CrashAt);

        var svg = Load(TimelinePicture.ToSvg("Timeline", t, "FADump", TimeSpan.FromSeconds(91), TimeSpan.FromSeconds(151)));
        var bars = Elements(svg, "rect").Where(r => r.GetAttribute("class").StartsWith("phase", StringComparison.Ordinal)).ToList();
        Assert.Equal(["phase modelled", "phase modelled", "phase modelled", "phase measured"], bars.Select(b => b.GetAttribute("class")));
        Assert.Single(Elements(svg, "polygon"), p => p.GetAttribute("class") == "phase modelled instant");
        double perSecond = D(bars[0], "width") / 15;
        Near(45 * perSecond, D(bars[2], "width"));
        Near(30 * perSecond, D(bars[3], "width"));
        Near(D(bars[2], "x") + D(bars[2], "width"), D(bars[3], "x"));    // one after the other, in time order

        var texts = Elements(svg, "text").Select(x => x.InnerText).ToList();
        foreach (string tick in (string[])["0 s", "20 s", "40 s", "60 s", "80 s", "100 s", "120 s", "140 s"])
        {
            Assert.Contains(tick, texts);
        }

        var back = Assert.Single(Elements(svg, "line"), l => l.GetAttribute("class") == "back-in-production");
        Near(D(bars[3], "x") + D(bars[3], "width"), D(back, "x1"));
        Assert.Contains("FADump: back in production with all memory 76.0 s after the crash", texts);
        Assert.Contains("kdump instead: the same save, then a second reboot: 136.0 s after the crash", texts);
        Assert.Single(Elements(svg, "rect"), r => r.GetAttribute("class") == "summary kdump");
    }

    /// <summary>Drawn coordinates are written with one decimal: equal within the rounding of those they are computed from.</summary>
    private static void Near(double expected, double actual) => Assert.True(Math.Abs(expected - actual) <= 0.25, FormattableString.Invariant($"{actual} is not {expected}"));

    private static XmlDocument Load(string svg)
    {
        var xml = new XmlDocument();
        xml.LoadXml(svg);
        return xml;
    }

    private static List<XmlElement> Elements(XmlDocument svg, string name) => [.. svg.GetElementsByTagName(name).OfType<XmlElement>()];

    private static double D(XmlElement e, string attribute) => double.Parse(e.GetAttribute(attribute), CultureInfo.InvariantCulture);
}
