namespace Fadump.Cli.Simulation;

/// <summary>
/// One scale for a column of bands whose sizes differ by orders of magnitude (64 KiB of CPU state beside 58 GiB of
/// kernel memory): every band is drawn in proportion to its size, except that a band too small to see is drawn at
/// the minimum length (marked enlarged) and a band that dwarfs all the others together is drawn shorter than
/// its size with a broken axis (marked broken), yet still the longest of the column. At most one band is broken.
/// </summary>
public sealed class BrokenScale
{
    /// <summary>The largest band breaks the axis when it is more than this many times all the others together.</summary>
    public const double DwarfRatio = 4;

    /// <summary>The share of the total length the broken bands get between them (at least).</summary>
    public const double BrokenShare = 0.4;

    /// <summary>A broken band is drawn at least this many times the longest band drawn to scale.</summary>
    public const double BrokenOverLongest = 1.25;

    private BrokenScale(double[] lengths, bool[] broken, bool[] enlarged, double perByte)
    {
        Lengths = lengths;
        Broken = broken;
        Enlarged = enlarged;
        PerByte = perByte;
    }

    /// <summary>The drawn length of each band, in the caller's unit (pixels, characters).</summary>
    public IReadOnlyList<double> Lengths { get; }

    /// <summary>The bands drawn shorter than their size, across a break of the axis.</summary>
    public IReadOnlyList<bool> Broken { get; }

    /// <summary>The bands drawn longer than their size, at the minimum length.</summary>
    public IReadOnlyList<bool> Enlarged { get; }

    /// <summary>Length per byte of the bands drawn to scale (0 when none is).</summary>
    public double PerByte { get; }

    public bool AnyBroken => Broken.Contains(true);

    /// <summary>
    /// Lengths for bands of <paramref name="sizes"/> bytes in about <paramref name="total"/> units, none shorter than
    /// <paramref name="minimum"/>. The total grows when the minimum lengths alone exceed it, or when the broken
    /// bands must be lengthened to stay the longest.
    /// </summary>
    public static BrokenScale Compute(IReadOnlyList<ulong> sizes, double total, double minimum)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        int n = sizes.Count;
        var broken = new bool[n];
        var enlarged = new bool[n];
        var lengths = new double[n];

        // Only the largest band breaks the axis, when it dwarfs all the others together: a second break would
        // make a band merely large beside the small ones look as far off the scale as the first.
        if (n > 1)
        {
            int largest = Enumerable.Range(0, n).MaxBy(i => sizes[i]);
            double rest = Enumerable.Range(0, n).Where(j => j != largest).Sum(j => (double)sizes[j]);
            broken[largest] = rest > 0 && sizes[largest] > DwarfRatio * rest;
        }

        int brokenCount = broken.Count(b => b);
        double available = brokenCount > 0 ? total * (1 - BrokenShare) : total;

        // Bands below the minimum take the minimum; the others share what is left linearly. Each band moved to
        // the minimum shrinks what the others share, so repeat until no band falls below it.
        double perByte = 0;
        while (true)
        {
            var linear = Enumerable.Range(0, n).Where(i => !broken[i] && !enlarged[i]).ToList();
            double bytes = linear.Sum(i => (double)sizes[i]);
            double left = available - (minimum * enlarged.Count(e => e));
            perByte = bytes > 0 && left > 0 ? left / bytes : 0;
            var tooSmall = linear.Where(i => perByte * sizes[i] < minimum).ToList();
            if (tooSmall.Count == 0)
            {
                break;
            }

            foreach (int i in tooSmall)
            {
                enlarged[i] = true;
            }
        }

        double longest = 0;
        for (int i = 0; i < n; i++)
        {
            if (!broken[i])
            {
                lengths[i] = enlarged[i] ? minimum : perByte * sizes[i];
                longest = Math.Max(longest, lengths[i]);
            }
        }

        double brokenLength = brokenCount == 0 ? 0 : Math.Max(Math.Max(total * BrokenShare / brokenCount, BrokenOverLongest * longest), 3 * minimum);
        for (int i = 0; i < n; i++)
        {
            if (broken[i])
            {
                lengths[i] = brokenLength;
            }
        }

        return new BrokenScale(lengths, broken, enlarged, perByte);
    }
}
