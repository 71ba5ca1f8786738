using Fadump.Formats;

namespace Fadump.Interop.Tests;

/// <summary>
/// Physical ranges to read back from a dump: the first and last bytes of every RAM range, reads crossing page
/// boundaries, and random ones, spread over all ranges (at least a few in each, the rest by size).
/// </summary>
internal static class PhysicalSamples
{
    public static List<(ulong Address, int Length)> Make(IReadOnlyList<PhysicalRange> ranges, int pageSize, int count, int seed)
    {
        var rng = new Random(seed);
        var samples = new List<(ulong, int)>();
        ulong ps = (ulong)pageSize;
        ulong total = 0;
        foreach (var r in ranges)
        {
            total += r.Size;
        }

        void Add(PhysicalRange r, ulong address, int length)
        {
            ulong end = Math.Min(r.End, address + (ulong)length);
            if (end > address)
            {
                samples.Add((address, (int)(end - address)));
            }
        }

        foreach (var r in ranges)
        {
            Add(r, r.Start, 64);
            Add(r, r.End - Math.Min(r.Size, 100), 100);
            Add(r, r.End - Math.Min(r.Size, 3 * ps), 3 * pageSize); // the last whole pages
            for (int i = 0; i < 4; i++)
            {
                Add(r, RandomIn(rng, r), 1 + rng.Next(3 * pageSize));
            }
        }

        while (samples.Count < count)
        {
            // A range chosen by size: big ranges get most samples.
            ulong pick = (ulong)rng.NextInt64((long)total);
            var r = ranges.First(x =>
            {
                if (pick < x.Size)
                {
                    return true;
                }

                pick -= x.Size;
                return false;
            });
            ulong a = RandomIn(rng, r);
            int length;
            if (rng.Next(2) == 0)
            {
                // Across a page boundary: start up to 200 bytes before one.
                ulong boundary = ((a / ps) + 1) * ps;
                if (boundary >= r.End)
                {
                    continue;
                }

                a = boundary - (ulong)(1 + rng.Next(200));
                a = Math.Max(a, r.Start);
                length = (int)(boundary - a) + 1 + rng.Next(pageSize + 300);
            }
            else
            {
                length = 1 + rng.Next(2 * pageSize);
            }

            Add(r, a, length);
        }

        return samples;
    }

    private static ulong RandomIn(Random rng, PhysicalRange r) => r.Start + (ulong)rng.NextInt64((long)r.Size);
}
