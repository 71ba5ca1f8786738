using System.Globalization;
using System.Text.RegularExpressions;

namespace Fadump.Interop.Tests;

/// <summary>makedumpfile's report (print_report, --message-level 16): name → pages.</summary>
internal static partial class MakedumpfileReport
{
    public static Dictionary<string, ulong> Parse(string text)
    {
        var d = new Dictionary<string, ulong>();
        foreach (Match m in ReportLine().Matches(text))
        {
            d[m.Groups[1].Value.Trim()] = ulong.Parse(m.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }

        return d;
    }

    [GeneratedRegex(@"^\s*([A-Za-z][A-Za-z \-]+?)\s*: 0x([0-9a-f]{16})", RegexOptions.Multiline)]
    private static partial Regex ReportLine();
}
