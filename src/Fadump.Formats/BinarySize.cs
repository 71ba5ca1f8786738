using System.Globalization;

namespace Fadump.Formats;

/// <summary>Sizes for people, in binary units: "680 B", "64 KiB", "1.5 GiB", "58 GiB", never "59391.9 MiB" or "65536 B".</summary>
public static class BinarySize
{
    private static readonly string[] Units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

    /// <summary>
    /// The largest unit in which the size is at least 1; a whole number without decimals, otherwise one decimal
    /// (rounded; 1023.96 MiB is "1 GiB", not "1024.0 MiB").
    /// </summary>
    public static string Format(ulong bytes)
    {
        int unit = 0;
        double value = bytes;
        while (unit < Units.Length - 1 && value >= 1024)
        {
            value /= 1024;
            unit++;
        }

        double rounded = Math.Round(value, 1, MidpointRounding.AwayFromZero);
        if (rounded >= 1024 && unit < Units.Length - 1)
        {
            rounded = Math.Round(rounded / 1024, 1, MidpointRounding.AwayFromZero);
            unit++;
        }

        bool whole = unit == 0 || rounded == Math.Floor(rounded);
        return rounded.ToString(whole ? "0" : "0.0", CultureInfo.InvariantCulture) + " " + Units[unit];
    }

    public static string Format(long bytes) => bytes < 0 ? "-" + Format((ulong)(-bytes)) : Format((ulong)bytes);
}
