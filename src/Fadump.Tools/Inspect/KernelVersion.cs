using System.Globalization;

namespace Fadump.Tools.Inspect;

/// <summary>The major.minor.patch prefix of OSRELEASE ("6.1.0-56-amd64" → 6.1.0).</summary>
internal static class KernelVersion
{
    public static Version? Parse(string? osRelease)
    {
        if (string.IsNullOrEmpty(osRelease))
        {
            return null;
        }

        var parts = new int[3];
        int part = 0, i = 0;
        while (part < 3)
        {
            int start = i;
            while (i < osRelease.Length && char.IsAsciiDigit(osRelease[i]))
            {
                i++;
            }

            if (i == start || !int.TryParse(osRelease.AsSpan(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture, out parts[part]))
            {
                break;
            }

            part++;
            if (i >= osRelease.Length || osRelease[i] != '.')
            {
                break;
            }

            i++;
        }

        return part >= 2 ? new Version(parts[0], parts[1], parts[2]) : null;
    }
}
