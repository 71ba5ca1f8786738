using System.Globalization;
using System.Text;
using Fadump.Kernel;
using Fadump.Machine;

namespace Fadump.Cli.Simulation;

/// <summary>A band of physical memory in a layout picture.</summary>
public sealed record LayoutBand(ulong Start, ulong End, string Label, string Kind)
{
    /// <summary>This band holds (or will hold, at a crash) a copy of other memory: the arrow of the pictures.</summary>
    public LayoutCopy? CopyOf { get; init; }
}

/// <summary>
/// What a band is a copy of: [<paramref name="SourceStart"/>, <paramref name="SourceEnd"/>), said by
/// <paramref name="Caption"/>; <paramref name="Done"/> when the copy has been made (Fig. 2), not only planned
/// (Fig. 1); <paramref name="TopName"/> names the source's end as the kernel does ("boot_mem_top"), if it does.
/// </summary>
/// <paramref name="TopAt"/> is where that end is when it is not the source's end (FADump's boot_mem_top counts the
/// holes below it, and with the kernel's double counting can lie above the last boot region).
public sealed record LayoutCopy(ulong SourceStart, ulong SourceEnd, string Caption, bool Done, string? TopName = null, ulong? TopAt = null)
{
    public ulong Top => TopAt ?? SourceEnd;
}

/// <summary>
/// The memory-layout pictures of the FADump documentation (Fig. 1: reservation in the first kernel;
/// Fig. 2: the capture kernel's view), drawn from the simulated kernel's real addresses, in the
/// terminal and as SVG, to one scale (<see cref="BrokenScale"/>) with its exceptions marked.
/// </summary>
public static class MemoryLayoutPicture
{
    public static List<LayoutBand> FirstKernel(LinuxKernel k, ulong top)
    {
        ArgumentNullException.ThrowIfNull(k);
        var bands = k.Mechanism.Status.FirstKernelRegions.Select(Band).ToList();
        // kdump names its own crashkernel= region among its regions; FADump's fallback does not.
        if (k.CrashKernelReservation is { } ck && !bands.Any(b => b.Start < ck.End && ck.Start < b.End))
        {
            bands.Add(new LayoutBand(ck.Start, ck.End, "crashkernel (kdump)", "dump"));
        }

        MarkCopy(bands, k, done: false);
        foreach (var r in k.ReservedRanges)
        {
            bands.Add(new LayoutBand(r.Start, r.End, "reserved-range", "fw"));
        }

        return Fill(bands, k.Memory, top, "in use by the kernel");
    }

    /// <summary>The capture kernel's view; empty when the kernel that booted after the crash is not a capture kernel.</summary>
    public static List<LayoutBand> CaptureKernel(LinuxKernel k, ulong top) => CaptureKernel(k, top, k.Memory, []);

    /// <summary>
    /// The capture kernel's view over the machine's <paramref name="ram"/> (a kdump capture kernel knows only
    /// its own memory), with <paramref name="extra"/> bands it does not run in (the elfcorehdr, a backup).
    /// </summary>
    public static List<LayoutBand> CaptureKernel(LinuxKernel k, ulong top, IReadOnlyList<MemoryRange> ram, IEnumerable<LayoutBand> extra, string? rest = null)
    {
        ArgumentNullException.ThrowIfNull(k);
        var status = k.Mechanism.Status;
        if (status.CaptureKernelRegions.Count == 0)
        {
            return [];
        }

        var bands = status.CaptureKernelRegions.Select(Band).ToList();
        MarkCopy(bands, k, done: true);
        bands.AddRange(extra);
        foreach (var r in k.ReservedRanges)
        {
            bands.Add(new LayoutBand(r.Start, r.End, "reserved-range", "fw"));
        }

        return Fill(bands, ram, top, rest ?? (status.Released ? "released to the kernel" : "preserved: /proc/vmcore"));
    }

    /// <summary>
    /// Paints <paramref name="over"/> onto a filled picture: each band replaces what lies under it, splitting the
    /// band it falls inside (firmware regions inside boot memory stay visible).
    /// </summary>
    public static List<LayoutBand> Paint(List<LayoutBand> bands, IEnumerable<LayoutBand> over)
    {
        ArgumentNullException.ThrowIfNull(over);
        var result = bands;
        foreach (var o in over.Where(o => o.End > o.Start))
        {
            var next = new List<LayoutBand>();
            foreach (var b in result)
            {
                if (b.End <= o.Start || b.Start >= o.End)
                {
                    next.Add(b);
                    continue;
                }

                if (b.Start < o.Start)
                {
                    next.Add(b with { End = o.Start });
                }

                if (b.End > o.End)
                {
                    next.Add(b with { Start = o.End });
                }
            }

            next.Add(o);
            next.Sort((a, b) => a.Start.CompareTo(b.Start));
            result = next;
        }

        return result;
    }

    private static LayoutBand Band(DumpRegion r) => new(r.Start, r.End, r.Label, r.Kind switch
    {
        DumpRegionKind.BootMemory => "boot",
        DumpRegionKind.DumpData => "dump",
        _ => "meta",
    });

    /// <summary>
    /// Marks the band that holds the firmware's copy: the dump band as large as what the firmware copies, the copy of
    /// the boot memory bands up to that many bytes (FADump: boot memory, [0, boot_mem_top); phyp dump: the RMO).
    /// </summary>
    private static void MarkCopy(List<LayoutBand> bands, LinuxKernel k, bool done)
    {
        ulong bytes = k.Mechanism.Status.FirmwareCopyBytes;
        int copy = bands.FindIndex(b => b.Kind == "dump" && b.End - b.Start == bytes);
        if (copy < 0 && k.Mechanism is not Kernel.Kexec.KdumpMechanism)
        {
            // FADump with a hole below boot_mem_top: the reservation is sized by boot_memory_size, the firmware
            // copies the boot regions' sum into its start.
            copy = bands.FindIndex(b => b.Kind == "dump" && b.End - b.Start >= bytes);
        }

        var boot = bands.Where(b => b.Kind == "boot").OrderBy(b => b.Start).ToList();
        if (bytes == 0 || copy < 0 || boot.Count == 0)
        {
            return;
        }

        ulong covered = 0, end = boot[^1].End;
        foreach (var b in boot)
        {
            covered += b.End - b.Start;
            if (covered >= bytes)
            {
                end = b.End;
                break;
            }
        }

        var (caption, topName) = k.Mechanism switch
        {
            Kernel.Phyp.PhypDump => (done ? "PHYP copied the RMO here at the crash" : "PHYP copies the RMO (the low 256 MiB) here at a crash", "RMR_END"),
            _ => (done ? "the firmware copied boot memory here at the crash" : "the firmware copies boot memory here at a crash", "boot_mem_top"),
        };
        ulong? topAt = k.Mechanism is Kernel.Fadump.FadumpCore { Dump.BootMemTop: > 0 } f && f.Dump.BootMemTop != end ? f.Dump.BootMemTop : null;
        bands[copy] = bands[copy] with { CopyOf = new LayoutCopy(boot[0].Start, end, caption, done, topName, topAt) };
    }

    /// <summary>
    /// Orders the bands, trims them to [0, top) and to each other, labels the gaps between them, and shows what lies
    /// outside <paramref name="ram"/> as holes, whatever band claims it (boot memory spans holes up to boot_mem_top).
    /// </summary>
    private static List<LayoutBand> Fill(List<LayoutBand> bands, IReadOnlyList<MemoryRange> ram, ulong top, string rest)
    {
        bands.Sort((a, b) => a.Start.CompareTo(b.Start));
        var all = new List<LayoutBand>();
        ulong cursor = 0;
        foreach (var band in bands)
        {
            var b = band with { Start = Math.Max(band.Start, cursor), End = Math.Min(band.End, top) };
            if (b.End <= b.Start)
            {
                continue;
            }

            if (b.Start > cursor)
            {
                AddInRam(all, ram, new LayoutBand(cursor, b.Start, rest, "rest"));
            }

            if (b.Kind == "fw")
            {
                all.Add(b); // firmware's own ranges are drawn where the firmware says, RAM or not
            }
            else
            {
                AddInRam(all, ram, b);
            }

            cursor = b.End;
        }

        if (cursor < top)
        {
            AddInRam(all, ram, new LayoutBand(cursor, top, rest, "rest"));
        }

        return all;
    }

    /// <summary>The parts of <paramref name="band"/> in <paramref name="ram"/>, and holes for the rest.</summary>
    private static void AddInRam(List<LayoutBand> all, IReadOnlyList<MemoryRange> ram, LayoutBand band)
    {
        ulong c = band.Start;
        foreach (var r in ram)
        {
            ulong a = Math.Max(r.Start, band.Start), b = Math.Min(r.End, band.End);
            if (a >= b)
            {
                continue;
            }

            if (a > c)
            {
                all.Add(new LayoutBand(c, a, "hole", "hole"));
            }

            all.Add(band with { Start = a, End = b });
            c = b;
        }

        if (c < band.End)
        {
            all.Add(new LayoutBand(c, band.End, "hole", "hole"));
        }
    }

    /// <summary>
    /// Bytes in the largest binary unit in which they are at least 1: integers without decimals ("64 KiB",
    /// "3 GiB", "680 B"), others rounded to one decimal ("1.5 GiB", "57.9 GiB").
    /// </summary>
    public static string Human(ulong bytes) => Formats.BinarySize.Format(bytes);

    private static string BarChar(string kind) => kind switch
    {
        "boot" => "#",
        "dump" => "=",
        "meta" => "*",
        "fw" => "x",
        "hole" => " ",
        _ => ".",
    };

    private static string Color(string kind) => kind switch
    {
        "boot" => "#4e79a7",
        "dump" => "#f28e2b",
        "meta" => "#e15759",
        "fw" => "#76b7b2",
        "hole" => "url(#hole)",
        _ => "#bab0ac",
    };

    private static IEnumerable<ulong> Sizes(List<LayoutBand> bands) => bands.Select(b => b.End - b.Start);

    /// <summary>What a band's label says beyond its name: where the copy comes from, where boot memory ends.</summary>
    private static string Notes(List<LayoutBand> bands, LayoutBand b)
    {
        var sb = new StringBuilder();
        foreach (var c in bands.Select(x => x.CopyOf).OfType<LayoutCopy>().Distinct())
        {
            if (c.TopName is not null && b.End == c.Top)
            {
                sb.Append(CultureInfo.InvariantCulture, $"; {c.TopName} = 0x{c.Top:x}");
            }
        }

        if (b.CopyOf is { } copy && bands.First(x => x.CopyOf == copy) == b)
        {
            sb.Append(" <- ").Append(copy.Caption);
        }

        return sb.ToString();
    }

    /// <summary>
    /// The text picture: one line per band with its addresses, its size and a bar to the same scale as the SVG's
    /// (a bar with // in it is cut short: its band dwarfs the others); columns line up whatever the sizes.
    /// </summary>
    public static string ToText(string title, List<LayoutBand> bands)
    {
        ArgumentNullException.ThrowIfNull(bands);
        const int Bar = 40;
        var scale = BrokenScale.Compute([.. Sizes(bands)], Bar, 1);
        int digits = Math.Max(12, bands.Count == 0 ? 0 : (bands[^1].End - 1).ToString("x", CultureInfo.InvariantCulture).Length);
        string hex = "x" + digits.ToString(CultureInfo.InvariantCulture);
        var sb = new StringBuilder();
        sb.Append(title).Append('\n');
        for (int i = 0; i < bands.Count; i++)
        {
            var b = bands[i];
            int width = Math.Clamp((int)Math.Round(scale.Lengths[i], MidpointRounding.AwayFromZero), 1, Bar);
            string fill = BarChar(b.Kind);
            string bar = scale.Broken[i]
                ? string.Concat(Enumerable.Repeat(fill, (width - 2) / 2)) + "//" + string.Concat(Enumerable.Repeat(fill, width - 2 - ((width - 2) / 2)))
                : string.Concat(Enumerable.Repeat(fill, width));
            sb.Append("  0x").Append(b.Start.ToString(hex, CultureInfo.InvariantCulture)).Append("-0x").Append((b.End - 1).ToString(hex, CultureInfo.InvariantCulture));
            sb.Append(CultureInfo.InvariantCulture, $" {Human(b.End - b.Start),10} |{bar.PadRight(Bar)}| {b.Label}{Notes(bands, b)}\n");
        }

        return sb.ToString();
    }

    /// <summary>
    /// The SVG picture, the documentation's figures drawn vertically to scale: addresses grow downwards, with a tick
    /// at every band's edge; a band too small to see is drawn <see cref="MinBand"/> px high (dotted outline) so that
    /// its label fits beside it; a band that dwarfs the others is cut by a zig-zag (broken axis); the end of the
    /// copied memory is marked with the kernel's name for it, and an arrow runs from it to its copy.
    /// </summary>
    public static string ToSvg(string title, List<LayoutBand> bands)
    {
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(bands);
        const double Margin = 20, TitleSize = 16, TextSize = 12, TickSize = 11, BarW = 180, LaneW = 56, Top = 96;
        var scale = BrokenScale.Compute([.. Sizes(bands)], Math.Max(480, 3 * MinBand * bands.Count), MinBand);
        var copies = bands.Select(b => b.CopyOf).OfType<LayoutCopy>().Distinct().ToList();
        var y = new double[bands.Count + 1];
        y[0] = Top;
        for (int i = 0; i < bands.Count; i++)
        {
            y[i + 1] = y[i] + scale.Lengths[i];
        }

        // The address of every band's edge, the kernel's name before it where it names it.
        var ticks = new List<(ulong Address, double Y, string? Name)>();
        for (int i = 0; i <= bands.Count && bands.Count > 0; i++)
        {
            ulong a = i < bands.Count ? bands[i].Start : bands[^1].End;
            ticks.Add((a, y[i], copies.FirstOrDefault(c => c.TopName is not null && c.Top == a)?.TopName));
        }

        string Hex(ulong a) => "0x" + a.ToString("x12", CultureInfo.InvariantCulture);
        double tickW = ticks.Count == 0 ? 0 : ticks.Max(t => Svg.TextWidth((t.Name is null ? string.Empty : t.Name + " ") + Hex(t.Address), TickSize));
        double axisX = Margin + tickW + 10, barRight = axisX + BarW, labelX = barRight + LaneW + 8;
        double sizeX = labelX + Svg.TextWidth("1023.9 MiB", TextSize);
        var labels = bands.Select(b => (b.Kind == "hole" ? "hole: no RAM here" : b.Label) + (b.CopyOf is { } c && bands.First(x => x.CopyOf == c) == b ? " ← " + c.Caption : string.Empty)).ToList();

        var captions = new List<string> { "Addresses grow downwards; band heights to scale" + (scale.PerByte > 0 ? " (1 px = " + Human((ulong)Math.Max(1, Math.Round(1 / scale.PerByte))) + ")" : string.Empty) + ", except where marked:" };
        if (scale.Enlarged.Contains(true))
        {
            captions.Add(FormattableString.Invariant($"dotted outline: a band too small to see, drawn {MinBand} px high"));
        }

        if (scale.AnyBroken)
        {
            captions.Add("zig-zag: the axis is broken, the band is far longer than drawn");
        }

        double width = Math.Max(Svg.TextWidth(title, TitleSize), captions.Max(c => Svg.TextWidth(c, TextSize)));
        width = Math.Max(width, labels.Count == 0 ? 0 : labels.Max(l => sizeX + Svg.TextWidth(" " + l, TextSize) - Margin));
        int w = (int)Math.Ceiling(Margin + width + Margin), h = (int)Math.Ceiling(y[^1] + 30);

        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" {Svg.Font} font-size=\"{TextSize}\">\n");
        sb.Append("  <defs>\n");
        sb.Append("    <pattern id=\"hole\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"8\" height=\"8\" fill=\"#ffffff\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" stroke=\"#999\" stroke-width=\"2\"/></pattern>\n");
        sb.Append("    <marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#333\"/></marker>\n");
        sb.Append("  </defs>\n");
        sb.Append(CultureInfo.InvariantCulture, $"  <rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"  <text x=\"{Margin}\" y=\"30\" font-size=\"{TitleSize}\">{Svg.Escape(title)}</text>\n");
        for (int i = 0; i < captions.Count; i++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  <text x=\"{Margin}\" y=\"{50 + (i * 15)}\" fill=\"#555\">{Svg.Escape(captions[i])}</text>\n");
        }

        for (int i = 0; i < bands.Count; i++)
        {
            var b = bands[i];
            string cls = "band" + (scale.Broken[i] ? " broken" : string.Empty) + (scale.Enlarged[i] ? " enlarged" : string.Empty);
            string dash = scale.Enlarged[i] ? " stroke-dasharray=\"2 2\"" : string.Empty;
            sb.Append(CultureInfo.InvariantCulture, $"  <rect class=\"{cls}\" x=\"{Svg.F(axisX)}\" y=\"{Svg.F(y[i])}\" width=\"{BarW}\" height=\"{Svg.F(y[i + 1] - y[i])}\" fill=\"{Color(b.Kind)}\" stroke=\"#333\"{dash}><title>{Svg.Escape(b.Label)} 0x{b.Start:x}-0x{b.End - 1:x}</title></rect>\n");
            double mid = (y[i] + y[i + 1]) / 2;
            sb.Append(CultureInfo.InvariantCulture, $"  <text x=\"{Svg.F(sizeX)}\" y=\"{Svg.F(mid + 4)}\" text-anchor=\"end\">{Svg.Escape(Human(b.End - b.Start))}</text><text class=\"label\" x=\"{Svg.F(sizeX + Svg.TextWidth(" ", TextSize))}\" y=\"{Svg.F(mid + 4)}\">{Svg.Escape(labels[i])}</text>\n");
            if (scale.Broken[i])
            {
                AppendBreak(sb, axisX - 10, barRight + 2, mid);
            }
        }

        foreach (var (a, ty, name) in ticks)
        {
            string prefix = name is null ? string.Empty : $"<tspan fill=\"#c00000\">{Svg.Escape(name)}</tspan> ";
            sb.Append(CultureInfo.InvariantCulture, $"  <line class=\"tick\" x1=\"{Svg.F(axisX - 6)}\" y1=\"{Svg.F(ty)}\" x2=\"{Svg.F(axisX)}\" y2=\"{Svg.F(ty)}\" stroke=\"#333\"/><text x=\"{Svg.F(axisX - 9)}\" y=\"{Svg.F(ty + 4)}\" font-size=\"{TickSize}\" text-anchor=\"end\">{prefix}{Hex(a)}</text>\n");
        }

        foreach (var c in copies)
        {
            if (c.TopName is not null && AddressY(bands, y, c.Top) is { } top)
            {
                sb.Append(CultureInfo.InvariantCulture, $"  <line class=\"boot-mem-top\" x1=\"{Svg.F(axisX - 6)}\" y1=\"{Svg.F(top)}\" x2=\"{Svg.F(barRight + 10)}\" y2=\"{Svg.F(top)}\" stroke=\"#c00000\" stroke-width=\"2\" stroke-dasharray=\"6 3\"><title>{Svg.Escape(c.TopName)} = 0x{c.Top:x}</title></line>\n");
            }

            int dest = bands.FindIndex(b => b.CopyOf == c);
            if (AddressY(bands, y, c.SourceStart) is not { } s0 || AddressY(bands, y, c.SourceEnd) is not { } s1)
            {
                continue;
            }

            double sm = (s0 + s1) / 2, dm = (y[dest] + y[dest + 1]) / 2, bx = barRight + 4, cx = barRight + LaneW - 8;
            string dashed = c.Done ? string.Empty : " stroke-dasharray=\"5 3\"";
            sb.Append(CultureInfo.InvariantCulture, $"  <path class=\"copy-arrow\" d=\"M{Svg.F(barRight + 2)},{Svg.F(s0 + 1)} H{Svg.F(bx + 4)} V{Svg.F(s1 - 1)} H{Svg.F(barRight + 2)} M{Svg.F(bx + 4)},{Svg.F(sm)} C{Svg.F(cx)},{Svg.F(sm)} {Svg.F(cx)},{Svg.F(dm)} {Svg.F(bx)},{Svg.F(dm)}\" fill=\"none\" stroke=\"#333\" stroke-width=\"1.5\"{dashed} marker-end=\"url(#arrow)\"><title>{Svg.Escape(c.Caption)}</title></path>\n");
        }

        sb.Append("</svg>\n");
        return sb.ToString();
    }

    /// <summary>A band too small to see is drawn this high: the height of its label.</summary>
    public const double MinBand = 20;

    /// <summary>The zig-zag of a broken axis across the bar: a white strip between two zig-zag lines.</summary>
    private static void AppendBreak(StringBuilder sb, double x0, double x1, double mid)
    {
        const double Gap = 6, Tooth = 4, Step = 10;
        var upper = new StringBuilder();
        var lower = new StringBuilder();
        int k = 0;
        for (double x = x0; ; x += Step, k++)
        {
            double xx = Math.Min(x, x1), dy = (k % 2 == 0 ? -Tooth : Tooth) / 2;
            upper.Append(CultureInfo.InvariantCulture, $"{Svg.F(xx)},{Svg.F(mid - (Gap / 2) + dy)} ");
            lower.Append(CultureInfo.InvariantCulture, $"{Svg.F(xx)},{Svg.F(mid + (Gap / 2) + dy)} ");
            if (xx >= x1)
            {
                break;
            }
        }

        string lowerBack = string.Join(' ', lower.ToString().Trim().Split(' ').Reverse());
        sb.Append(CultureInfo.InvariantCulture, $"  <g class=\"axis-break\"><polygon points=\"{upper}{lowerBack}\" fill=\"#ffffff\"/><polyline points=\"{upper.ToString().Trim()}\" fill=\"none\" stroke=\"#333\"/><polyline points=\"{lower.ToString().Trim()}\" fill=\"none\" stroke=\"#333\"/></g>\n");
    }

    /// <summary>Where <paramref name="a"/> is drawn: linearly inside the band holding it (or at the end of the last).</summary>
    private static double? AddressY(List<LayoutBand> bands, double[] y, ulong a)
    {
        for (int i = 0; i < bands.Count; i++)
        {
            if (a >= bands[i].Start && a < bands[i].End)
            {
                return y[i] + ((y[i + 1] - y[i]) * (a - bands[i].Start) / (bands[i].End - bands[i].Start));
            }
        }

        return bands.Count > 0 && a == bands[^1].End ? y[^1] : null;
    }
}
