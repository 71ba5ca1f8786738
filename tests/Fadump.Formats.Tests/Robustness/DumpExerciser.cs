namespace Fadump.Formats.Tests.Robustness;

/// <summary>Touches everything a tool would read from a dump, in bounded work.</summary>
internal static class DumpExerciser
{
    public static void Exercise(IDump dump, Random rng)
    {
        _ = dump.VmcoreInfo?.OsRelease;
        _ = dump.VmcoreInfo?.PageSize;
        _ = dump.VmcoreInfo?.CrashTime;
        _ = dump.CpuStates();
        _ = dump.IsIncomplete;
        _ = dump.DumpLevel;
        int ranges = 0;
        foreach (var r in dump.MemoryRanges())
        {
            if (++ranges > 10_000)
            {
                break;
            }
        }

        var page = new byte[dump.PageSize];
        ulong max = Math.Min(dump.MaxPfn, 1UL << 40);
        for (int i = 0; i < 16; i++)
        {
            ulong pfn = max == 0 ? 0 : (ulong)rng.NextInt64((long)Math.Min(max + 2, long.MaxValue));
            dump.ReadPage(pfn, page);
        }

        for (ulong pfn = 0; pfn < Math.Min(max, 64); pfn++)
        {
            dump.ReadPage(pfn, page);
        }

        var buf = new byte[300];
        dump.ReadPhysical((ulong)rng.NextInt64(1 << 20), buf);
    }
}
