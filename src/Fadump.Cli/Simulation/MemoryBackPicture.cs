using System.Globalization;
using System.Text;

namespace Fadump.Cli.Simulation;

/// <summary>
/// Seed 000's promise as a picture: memory back in production against time into the save. phyp dump gives each
/// range back through release_region as soon as it is on disk; FADump (release_mem) gives everything back at
/// once when the save is done, drawn on the same time axis for comparison.
/// </summary>
public static class MemoryBackPicture
{
    private static readonly double[] Quarters = [0, 0.25, 0.5, 0.75, 1.0]; // the text's rows

    public static string ToText(PhypRunDetails d)
    {
        ArgumentNullException.ThrowIfNull(d);
        const int Bar = 30;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Memory back in production while the save runs ({MemoryLayoutPicture.Human(d.HeldBytes)} held by the second kernel):\n");
        sb.Append("  into the save       phyp dump: release_region per range     FADump: release_mem at the end\n");
        foreach (double q in Quarters)
        {
            double phyp = d.FractionBackAt(q);
            double fadump = q >= 1.0 ? 1.0 : 0.0;
            sb.Append(CultureInfo.InvariantCulture, $"  {q,5:P0} {Timeline.Seconds(d.SaveTime * q),9}  |{Fill(phyp, Bar)}| {phyp,4:P0}  |{Fill(fadump, Bar)}| {fadump,4:P0}\n");
        }

        return sb.ToString();
    }

    private static string Fill(double fraction, int width) => new string('#', (int)Math.Round(fraction * width)).PadRight(width);

    public static string ToSvg(PhypRunDetails d)
    {
        ArgumentNullException.ThrowIfNull(d);
        const double X0 = 80, Y0 = 350, W = 640, H = 250;
        double t = Math.Max(d.SaveTime.TotalSeconds, 1e-6);
        double held = Math.Max(d.HeldBytes, 1);
        string P(double sec, double bytes) => string.Create(CultureInfo.InvariantCulture, $"{X0 + (W * Math.Min(sec, t) / t):F1},{Y0 - (H * Math.Min(bytes, held) / held):F1}");

        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\" height=\"440\" {Svg.Font} font-size=\"12\">\n");
        sb.Append("  <rect width=\"800\" height=\"440\" fill=\"#ffffff\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"  <text x=\"{X0}\" y=\"28\" font-size=\"15\">Memory back in production while the dump is saved ({Svg.Escape(MemoryLayoutPicture.Human(d.HeldBytes))} held)</text>\n");
        sb.Append(CultureInfo.InvariantCulture, $"  <line x1=\"{X0}\" y1=\"{Y0}\" x2=\"{X0 + W}\" y2=\"{Y0}\" stroke=\"#333\"/><line x1=\"{X0}\" y1=\"{Y0}\" x2=\"{X0}\" y2=\"{Y0 - H}\" stroke=\"#333\"/>\n");

        // The pictures' conventions: round seconds on the time axis, round binary sizes on the memory axis, and the
        // whole held size at the top.
        foreach (double s in AxisTicks.Seconds(t, 8))
        {
            double x = X0 + (W * s / t);
            sb.Append(CultureInfo.InvariantCulture, $"  <line class=\"tick\" x1=\"{x:F1}\" y1=\"{Y0}\" x2=\"{x:F1}\" y2=\"{Y0 + 5}\" stroke=\"#333\"/><text x=\"{x:F1}\" y=\"{Y0 + 20}\" text-anchor=\"middle\">{AxisTicks.SecondsLabel(s)}</text>\n");
        }

        var sizes = AxisTicks.Bytes(d.HeldBytes, 6).Where(b => b == 0 || (d.HeldBytes - b) / held > 0.08).Append(d.HeldBytes).Distinct();
        foreach (ulong b in sizes)
        {
            double y = Y0 - (H * b / held);
            sb.Append(CultureInfo.InvariantCulture, $"  <line class=\"tick\" x1=\"{X0 - 5}\" y1=\"{y:F1}\" x2=\"{X0 + W}\" y2=\"{y:F1}\" stroke=\"#ddd\"/><text x=\"{X0 - 8}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{Svg.Escape(MemoryLayoutPicture.Human(b))}</text>\n");
        }

        sb.Append(CultureInfo.InvariantCulture, $"  <text x=\"{X0 + (W / 2)}\" y=\"{Y0 + 40}\" text-anchor=\"middle\">time into the save (wall clock)</text>\n");
        sb.Append(CultureInfo.InvariantCulture, $"  <text x=\"20\" y=\"{Y0 - (H / 2)}\" transform=\"rotate(-90 20 {Y0 - (H / 2)})\" text-anchor=\"middle\">held memory back</text>\n");

        // FADump: nothing back until the save ends, then everything.
        sb.Append(CultureInfo.InvariantCulture, $"  <polyline points=\"{P(0, 0)} {P(t, 0)} {P(t, held)}\" fill=\"none\" stroke=\"#f28e2b\" stroke-width=\"3\" stroke-dasharray=\"8 4\"/>\n");

        // phyp dump: a step at each release_region write.
        var pts = new StringBuilder(P(0, 0));
        ulong back = 0;
        foreach (var r in d.Releases.OrderBy(r => r.SinceSaveStart))
        {
            double s = r.SinceSaveStart.TotalSeconds;
            pts.Append(' ').Append(P(s, back));
            back += r.FreedBytes;
            pts.Append(' ').Append(P(s, back));
        }

        pts.Append(' ').Append(P(t, back));
        sb.Append(CultureInfo.InvariantCulture, $"  <polyline points=\"{pts}\" fill=\"none\" stroke=\"#4e79a7\" stroke-width=\"3\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"  <rect x=\"{X0 + 10}\" y=\"52\" width=\"14\" height=\"4\" fill=\"#4e79a7\"/><text x=\"{X0 + 30}\" y=\"58\">phyp dump: release_region as each range reaches the disk ({d.Releases.Count} writes)</text>\n");
        sb.Append(CultureInfo.InvariantCulture, $"  <rect x=\"{X0 + 10}\" y=\"70\" width=\"14\" height=\"4\" fill=\"#f28e2b\"/><text x=\"{X0 + 30}\" y=\"76\">FADump: release_mem once the whole dump is saved</text>\n");
        sb.Append("</svg>\n");
        return sb.ToString();
    }
}
