using System.Globalization;

namespace Fadump.Cli.Simulation;

/// <summary>Round tick steps for the pictures' axes: seconds in 1-2-5 steps, bytes in binary powers.</summary>
internal static class AxisTicks
{
    /// <summary>A step of 1, 2 or 5 times a power of ten giving at most <paramref name="most"/> intervals up to <paramref name="max"/> seconds.</summary>
    public static double SecondsStep(double max, int most = 10)
    {
        if (max <= 0)
        {
            return 1;
        }

        double step = Math.Pow(10, Math.Floor(Math.Log10(max / most)));
        foreach (double m in (ReadOnlySpan<double>)[1, 2, 5, 10])
        {
            if (max / (step * m) <= most)
            {
                return step * m;
            }
        }

        return step * 10;
    }

    /// <summary>The ticks 0, step, 2 step, ... up to <paramref name="max"/>.</summary>
    public static IEnumerable<double> Seconds(double max, int most = 10)
    {
        double step = SecondsStep(max, most);
        for (int i = 0; i * step <= max * (1 + 1e-9); i++)
        {
            yield return i * step;
        }
    }

    public static string SecondsLabel(double s) => s.ToString("0.###", CultureInfo.InvariantCulture) + " s";

    /// <summary>A power of two giving at most <paramref name="most"/> intervals up to <paramref name="max"/> bytes.</summary>
    public static ulong BytesStep(ulong max, int most = 8)
    {
        ulong step = 1;
        while (step < (1UL << 63) && max / step > (ulong)most)
        {
            step <<= 1;
        }

        return step;
    }

    public static IEnumerable<ulong> Bytes(ulong max, int most = 8)
    {
        ulong step = BytesStep(max, most);
        for (ulong v = 0; v <= max; v += step)
        {
            yield return v;
            if (v > ulong.MaxValue - step)
            {
                yield break;
            }
        }
    }
}
