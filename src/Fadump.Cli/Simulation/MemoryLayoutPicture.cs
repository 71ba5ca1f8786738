using System.Globalization;
using System.Text;
using Fadump.Kernel;
using Fadump.Machine;

namespace Fadump.Cli.Simulation;

/// <summary>A band of physical memory in a layout picture.</summary>
public sealed record LayoutBand(ulong Start, ulong End, string Label, string Kind);

/// <summary>
/// The memory-layout pictures of the FADump documentation (Fig. 1: reservation in the first kernel;
/// Fig. 2: the capture kernel's view), drawn from the simulated kernel's real addresses, in the
/// terminal and as SVG.
/// </summary>
public static class MemoryLayoutPicture
{
    public static List<LayoutBand> FirstKernel(LinuxKernel k, ulong top)
    {
        var bands = k.Mechanism.Status.FirstKernelRegions.Select(Band).ToList();
        // kdump names its own crashkernel= region among its regions; FADump's fallback does not.
        if (k.CrashKernelReservation is { } ck && !bands.Any(b => b.Start < ck.End && ck.Start < b.End))
        {
            bands.Add(new LayoutBand(ck.Start, ck.End, "crashkernel (kdump)", "dump"));
        }

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
        var status = k.Mechanism.Status;
        if (status.CaptureKernelRegions.Count == 0)
        {
            return [];
        }

        var bands = status.CaptureKernelRegions.Select(Band).ToList();
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

    /// <summary>Orders the bands, trims them to [0, top) and to each other, and labels the gaps between them.</summary>
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
                AddGap(all, ram, cursor, b.Start, rest);
            }

            all.Add(b);
            cursor = b.End;
        }

        if (cursor < top)
        {
            AddGap(all, ram, cursor, top, rest);
        }

        return all;
    }

    private static void AddGap(List<LayoutBand> all, IReadOnlyList<MemoryRange> ram, ulong start, ulong end, string label)
    {
        ulong c = start;
        foreach (var r in ram)
        {
            ulong a = Math.Max(r.Start, start), b = Math.Min(r.End, end);
            if (a >= b)
            {
                continue;
            }

            if (a > c)
            {
                all.Add(new LayoutBand(c, a, "hole", "hole"));
            }

            all.Add(new LayoutBand(a, b, label, "rest"));
            c = b;
        }

        if (c < end)
        {
            all.Add(new LayoutBand(c, end, "hole", "hole"));
        }
    }

    /// <summary>A text picture: one line per band with its addresses and size, and a proportional bar.</summary>
    public static string ToText(string title, List<LayoutBand> bands)
    {
        var sb = new StringBuilder();
        sb.Append(title).Append('\n');
        ulong top = bands.Count == 0 ? 1 : bands[^1].End;
        foreach (var b in bands)
        {
            int width = (int)Math.Clamp(Math.Round(40.0 * (b.End - b.Start) / top), 1, 40);
            char fill = b.Kind switch { "boot" => '#', "dump" => '=', "meta" => '*', "fw" => 'x', "hole" => ' ', _ => '.' };
            sb.Append(CultureInfo.InvariantCulture, $"  0x{b.Start:x12}-0x{b.End - 1:x12} {Human(b.End - b.Start),9} |{new string(fill, width).PadRight(40)}| {b.Label}\n");
        }

        return sb.ToString();
    }

    public static string ToSvg(string title, List<LayoutBand> bands)
    {
        const int W = 1000, BarY = 60, BarH = 60;
        ulong top = bands.Count == 0 ? 1 : bands[^1].End;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W + 40}\" height=\"{BarY + BarH + 40 + (bands.Count * 18)}\" font-family=\"monospace\" font-size=\"12\">\n");
        sb.Append(CultureInfo.InvariantCulture, $"  <text x=\"20\" y=\"30\" font-size=\"16\">{Escape(title)}</text>\n");
        // Small bands get a minimum width so they stay visible; the others share what is left of the bar
        // linearly, so that the bar ends at its right edge however many small bands there are.
        const double MinWidth = 4;
        var small = bands.Where(b => W * (double)(b.End - b.Start) / top < MinWidth).ToHashSet();
        double largeBytes = bands.Where(b => !small.Contains(b)).Sum(b => (double)(b.End - b.Start));
        double scale = largeBytes > 0 ? Math.Max(0, W - (MinWidth * small.Count)) / largeBytes : 0;
        double x = 20;
        int i = 0;
        foreach (var b in bands)
        {
            double w = small.Contains(b) ? MinWidth : scale * (b.End - b.Start);
            string color = b.Kind switch { "boot" => "#4e79a7", "dump" => "#f28e2b", "meta" => "#e15759", "fw" => "#76b7b2", "hole" => "#ffffff", _ => "#bab0ac" };
            sb.Append(CultureInfo.InvariantCulture, $"  <rect x=\"{x:F1}\" y=\"{BarY}\" width=\"{w:F1}\" height=\"{BarH}\" fill=\"{color}\" stroke=\"#333\"><title>{Escape(b.Label)} 0x{b.Start:x}-0x{b.End - 1:x}</title></rect>\n");
            sb.Append(CultureInfo.InvariantCulture, $"  <rect x=\"20\" y=\"{BarY + BarH + 22 + (i * 18) - 10}\" width=\"10\" height=\"10\" fill=\"{color}\" stroke=\"#333\"/>\n");
            sb.Append(CultureInfo.InvariantCulture, $"  <text x=\"36\" y=\"{BarY + BarH + 22 + (i * 18)}\">0x{b.Start:x12}-0x{b.End - 1:x12} {Escape(Human(b.End - b.Start))} {Escape(b.Label)}</text>\n");
            x += w;
            i++;
        }

        sb.Append(CultureInfo.InvariantCulture, $"  <text x=\"20\" y=\"{BarY - 6}\">0</text><text x=\"{W - 60}\" y=\"{BarY - 6}\">0x{top:x}</text>\n");
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    public static string Human(ulong bytes) => bytes >= 1UL << 30 && bytes % (1UL << 30) == 0
        ? (bytes >> 30).ToString(CultureInfo.InvariantCulture) + " GiB"
        : bytes >= 1UL << 20 ? (bytes / (double)(1UL << 20)).ToString("0.#", CultureInfo.InvariantCulture) + " MiB"
        : bytes.ToString(CultureInfo.InvariantCulture) + " B";

    private static string Escape(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
}
