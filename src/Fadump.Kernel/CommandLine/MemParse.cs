using System.Globalization;

namespace Fadump.Kernel.CommandLine;

/// <summary>lib/cmdline.c memparse: a base-0 integer (decimal, 0x hex, 0 octal) then an optional K/M/G/T/P/E suffix.</summary>
public static class MemParse
{
    /// <summary>Parses a prefix of s; returns the value and how many characters were used (0 = no number).</summary>
    public static (ulong Value, int Used) Parse(string s, int start = 0)
    {
        int i = start;
        int numBase = 10;
        if (i + 1 < s.Length && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') && i + 2 < s.Length && Uri.IsHexDigit(s[i + 2]))
        {
            numBase = 16;
            i += 2;
        }
        else if (i < s.Length && s[i] == '0')
        {
            numBase = 8;
        }

        int digitsStart = i;
        ulong v = 0;
        while (i < s.Length)
        {
            int d = DigitValue(s[i]);
            if (d < 0 || d >= numBase)
            {
                break;
            }

            v = unchecked((v * (ulong)numBase) + (ulong)d);
            i++;
        }

        if (i == digitsStart)
        {
            return (0, 0);
        }

        if (i < s.Length)
        {
            int shift = char.ToUpperInvariant(s[i]) switch
            {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                'P' => 50,
                'E' => 60,
                _ => 0,
            };
            if (shift != 0)
            {
                v = unchecked(v << shift);
                i++;
            }
        }

        return (v, i - start);
    }

    private static int DigitValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    public static string Format(ulong bytes) => bytes % (1UL << 30) == 0 && bytes > 0
        ? (bytes >> 30).ToString(CultureInfo.InvariantCulture) + "G"
        : bytes % (1UL << 20) == 0 && bytes > 0 ? (bytes >> 20).ToString(CultureInfo.InvariantCulture) + "M" : bytes.ToString(CultureInfo.InvariantCulture);
}
