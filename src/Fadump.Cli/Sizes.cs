using System.Globalization;

namespace Fadump.Cli;

/// <summary>Sizes with K/M/G/T suffixes (binary multiples), as the kernel command line writes them.</summary>
public static class Sizes
{
    public static long Parse(string s)
    {
        if (string.IsNullOrEmpty(s))
        {
            throw new UsageException("empty size");
        }

        int shift = char.ToUpperInvariant(s[^1]) switch
        {
            'K' => 10,
            'M' => 20,
            'G' => 30,
            'T' => 40,
            _ => 0,
        };
        var digits = shift == 0 ? s : s[..^1];
        bool hex = digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        if (!long.TryParse(hex ? digits[2..] : digits, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out long v)
            || v > (long.MaxValue >> shift))
        {
            throw new UsageException($"'{s}' is not a size (expected a number with an optional K, M, G or T suffix)");
        }

        return v << shift;
    }
}
