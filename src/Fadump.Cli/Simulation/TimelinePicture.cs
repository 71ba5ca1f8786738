using System.Globalization;
using System.Text;

namespace Fadump.Cli.Simulation;

/// <summary>
/// The lifecycle as a picture beside Fig. 1 and Fig. 2: one bar per phase on the simulated clock, to scale with a
/// seconds axis, modelled and measured phases told apart, the crash and the moment the machine is back in
/// production marked, and for FADump what the same crash would cost with kdump's second reboot.
/// </summary>
public static class TimelinePicture
{
    private const double Margin = 20, TextSize = 12, TitleSize = 16, ChartW = 880, Top = 116, Row = 34, BarH = 12;
    private const string Modelled = "#4e79a7", Measured = "#f28e2b", Back = "#2f8f3a", Crash = "#c00000";

    /// <summary>The run's timeline, with its headline: back in production (when the dump was saved) and the kdump equivalent.</summary>
    public static string ToSvg(DemoResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        string mechanism = r.Options.Platform switch { "x86_64" => "kdump", "power6" => "phyp dump", _ => "FADump" };
        var crash = r.Timeline.CrashAt;
        TimeSpan? back = crash is { } c && r.Collect is not null && r.BackInProduction > TimeSpan.Zero ? c + r.BackInProduction : null;
        TimeSpan? kdump = back is not null && r.Kdump is null && r.KdumpEquivalent > r.BackInProduction ? crash + r.KdumpEquivalent : null;
        return ToSvg($"Timeline: {mechanism} on {r.Options.Platform}, from power-on to back in production", r.Timeline, mechanism, back, kdump);
    }

    /// <summary>
    /// The picture of <paramref name="timeline"/>; <paramref name="back"/>: when the machine is back in production with
    /// all its memory; <paramref name="kdumpBack"/>: when it would be with kdump instead (null: no comparison).
    /// </summary>
    public static string ToSvg(string title, Timeline timeline, string mechanism, TimeSpan? back, TimeSpan? kdumpBack)
    {
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(timeline);
        var crash = timeline.CrashAt;
        var rows = timeline.Phases.Select((p, i) => (p.Phase, Start: p.At - p.Phase.Duration, p.At, i))
            .OrderBy(p => p.Start).ThenBy(p => p.i)
            .Select(p => (Label: FormattableString.Invariant($"{p.Phase.Name} ({Timeline.Seconds(p.Phase.Duration)}, {p.Phase.Kind})"), p.Start, End: p.At, Fill: p.Phase.Measured ? Measured : Modelled, Class: "phase " + p.Phase.Kind))
            .ToList();
        if (crash is { } c && back is { } b)
        {
            rows.Add((FormattableString.Invariant($"{mechanism}: back in production with all memory {Timeline.Seconds(b - c)} after the crash"), c, b, Back, "summary back"));
            if (kdumpBack is { } k)
            {
                rows.Add((FormattableString.Invariant($"kdump instead: the same save, then a second reboot: {Timeline.Seconds(k - c)} after the crash"), c, k, "url(#kdump)", "summary kdump"));
            }
        }

        double max = Math.Max(1e-3, rows.Count == 0 ? 0 : rows.Max(r => r.End.TotalSeconds));
        double x0 = Margin + 10, perSecond = ChartW / max;
        double X(TimeSpan t) => x0 + (perSecond * Math.Max(0, t.TotalSeconds));
        double axisY = Top + (rows.Count * Row) + 8;

        string legend = "modelled (cost model)     measured (wall clock)     back in production     kdump's second reboot";
        double width = Math.Max(x0 + ChartW + 60, Margin + Svg.TextWidth(title, TitleSize) + Margin);
        width = Math.Max(width, rows.Count == 0 ? 0 : rows.Max(r => Margin + Svg.TextWidth(r.Label, TextSize) + Margin));
        width = Math.Max(width, Margin + 30 + Svg.TextWidth(legend, TextSize) + 60);
        int w = (int)Math.Ceiling(width), h = (int)Math.Ceiling(axisY + 50);

        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" {Svg.Font} font-size=\"{TextSize}\">\n");
        sb.Append("  <defs><pattern id=\"kdump\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"8\" height=\"8\" fill=\"#d8d8d8\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" stroke=\"#888\" stroke-width=\"3\"/></pattern></defs>\n");
        sb.Append(CultureInfo.InvariantCulture, $"  <rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"  <text x=\"{Margin}\" y=\"30\" font-size=\"{TitleSize}\">{Svg.Escape(title)}</text>\n");
        AppendLegend(sb, Margin, 54, back is not null, kdumpBack is not null);

        // Seconds ticks, with a light grid behind the bars.
        foreach (double s in AxisTicks.Seconds(max))
        {
            double x = x0 + (perSecond * s);
            sb.Append(CultureInfo.InvariantCulture, $"  <line x1=\"{Svg.F(x)}\" y1=\"{Top - 4}\" x2=\"{Svg.F(x)}\" y2=\"{Svg.F(axisY)}\" stroke=\"#e4e4e4\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<line class=\"tick\" x1=\"{Svg.F(x)}\" y1=\"{Svg.F(axisY)}\" x2=\"{Svg.F(x)}\" y2=\"{Svg.F(axisY + 5)}\" stroke=\"#333\"/><text x=\"{Svg.F(x)}\" y=\"{Svg.F(axisY + 18)}\" text-anchor=\"middle\">{AxisTicks.SecondsLabel(s)}</text>\n");
        }

        sb.Append(CultureInfo.InvariantCulture, $"  <line x1=\"{Svg.F(x0)}\" y1=\"{Svg.F(axisY)}\" x2=\"{Svg.F(x0 + ChartW)}\" y2=\"{Svg.F(axisY)}\" stroke=\"#333\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"  <text x=\"{Svg.F(x0 + (ChartW / 2))}\" y=\"{Svg.F(axisY + 36)}\" text-anchor=\"middle\" fill=\"#555\">simulated clock since power-on; measured phases advance it by their wall time</text>\n");

        // The moments first, so the labels are written over their lines.
        if (crash is { } cr)
        {
            AppendMoment(sb, X(cr), axisY, 0, w, "crash", Crash, "crash");
        }

        if (back is { } bk)
        {
            AppendMoment(sb, X(bk), axisY, 1, w, "back in production at " + Timeline.Seconds(bk), Back, "back-in-production");
        }

        if (kdumpBack is { } kb)
        {
            AppendMoment(sb, X(kb), axisY, 2, w, "with kdump at " + Timeline.Seconds(kb), "#777", "kdump-back");
        }

        for (int i = 0; i < rows.Count; i++)
        {
            var (label, start, end, fill, cls) = rows[i];
            double rowY = Top + (i * Row);
            sb.Append(CultureInfo.InvariantCulture, $"  <text x=\"{Margin}\" y=\"{Svg.F(rowY + 12)}\" stroke=\"#ffffff\" stroke-width=\"4\" paint-order=\"stroke\">{Svg.Escape(label)}</text>\n");
            double xs = X(start), xe = X(end), by = rowY + 17;
            if (cls == "summary kdump" && back is { } saved)
            {
                // kdump's row: what FADump also spends (grey), then the second reboot it adds (hatched).
                sb.Append(CultureInfo.InvariantCulture, $"  <rect class=\"summary same\" x=\"{Svg.F(xs)}\" y=\"{Svg.F(by)}\" width=\"{Svg.F(X(saved) - xs)}\" height=\"{BarH}\" fill=\"#c8c8c8\" stroke=\"#333\"/>\n");
                xs = X(saved);
            }

            if (end == start)
            {
                // An instant (a re-registration, a point into the save): a diamond.
                sb.Append(CultureInfo.InvariantCulture, $"  <polygon class=\"{cls} instant\" points=\"{Svg.F(xs)},{Svg.F(by - 1)} {Svg.F(xs + 7)},{Svg.F(by + (BarH / 2))} {Svg.F(xs)},{Svg.F(by + BarH + 1)} {Svg.F(xs - 7)},{Svg.F(by + (BarH / 2))}\" fill=\"{fill}\" stroke=\"#333\"/>\n");
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $"  <rect class=\"{cls}\" x=\"{Svg.F(xs)}\" y=\"{Svg.F(by)}\" width=\"{Svg.F(Math.Max(2, xe - xs))}\" height=\"{BarH}\" fill=\"{fill}\" stroke=\"#333\"/>\n");
            }
        }

        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static void AppendLegend(StringBuilder sb, double x, double y, bool back, bool kdump)
    {
        var items = new List<(string Fill, string Text)> { (Modelled, "modelled (cost model)"), (Measured, "measured (wall clock)") };
        if (back)
        {
            items.Add((Back, "back in production"));
        }

        if (kdump)
        {
            items.Add(("url(#kdump)", "kdump's second reboot"));
        }

        foreach (var (fill, text) in items)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  <rect x=\"{Svg.F(x)}\" y=\"{Svg.F(y - 10)}\" width=\"22\" height=\"11\" fill=\"{fill}\" stroke=\"#333\"/><text x=\"{Svg.F(x + 28)}\" y=\"{Svg.F(y)}\">{Svg.Escape(text)}</text>\n");
            x += 28 + Svg.TextWidth(text, TextSize) + 24;
        }
    }

    /// <summary>
    /// A moment across every row: a vertical line with its name above the bars, on the <paramref name="level"/>th line
    /// up (the crash, back in production and kdump's return never share one), left of the line near the right edge.
    /// </summary>
    private static void AppendMoment(StringBuilder sb, double x, double axisY, int level, int width, string text, string color, string cls)
    {
        double ty = Top - 12 - (level * 14);
        bool left = x + 4 + Svg.TextWidth(text, TextSize) > width - Margin;
        string anchor = left ? " text-anchor=\"end\"" : string.Empty;
        sb.Append(CultureInfo.InvariantCulture, $"  <line class=\"{cls}\" x1=\"{Svg.F(x)}\" y1=\"{Svg.F(ty - 10)}\" x2=\"{Svg.F(x)}\" y2=\"{Svg.F(axisY)}\" stroke=\"{color}\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/><text x=\"{Svg.F(left ? x - 4 : x + 4)}\" y=\"{Svg.F(ty)}\" fill=\"{color}\"{anchor}>{Svg.Escape(text)}</text>\n");
    }
}
