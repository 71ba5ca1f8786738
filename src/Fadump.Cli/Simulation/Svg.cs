using System.Globalization;

namespace Fadump.Cli.Simulation;

/// <summary>What the SVG pictures share: escaping, and the width of monospace text, to size a picture to its labels.</summary>
internal static class Svg
{
    /// <summary>The pictures' one font: DejaVu Sans Mono's advance is 0.602 em; a little more keeps a margin.</summary>
    public const string Font = "font-family=\"DejaVu Sans Mono, monospace\"";

    private const double AdvancePerEm = 0.61;

    public static double TextWidth(string text, double fontSize) => text.Length * AdvancePerEm * fontSize;

    public static string Escape(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);

    public static string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);
}
