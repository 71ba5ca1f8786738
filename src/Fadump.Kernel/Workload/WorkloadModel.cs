namespace Fadump.Kernel.Workload;

/// <summary>
/// A running system's memory use, as a pure function of (seed, PFN): each aligned block of
/// <see cref="BlockPages"/> pages gets a class drawn with the workload's proportions. Free blocks are
/// whole buddy blocks of order <see cref="FreeOrder"/>.
/// </summary>
public sealed class WorkloadModel
{
    public const int FreeOrder = 4;
    public const int BlockPages = 1 << FreeOrder;

    private readonly uint[] _thresholds;
    private readonly PageClass[] _classes;

    public WorkloadModel(string name, ulong seed, IReadOnlyList<(PageClass Class, double Share)> mix)
    {
        Name = name;
        Seed = seed;
        double total = mix.Sum(m => m.Share);
        _thresholds = new uint[mix.Count];
        _classes = new PageClass[mix.Count];
        double acc = 0;
        for (int i = 0; i < mix.Count; i++)
        {
            acc += mix[i].Share / total;
            _thresholds[i] = i == mix.Count - 1 ? uint.MaxValue : (uint)(acc * uint.MaxValue);
            _classes[i] = mix[i].Class;
        }

        Mix = mix;
    }

    public string Name { get; }

    public ulong Seed { get; }

    public IReadOnlyList<(PageClass Class, double Share)> Mix { get; }

    /// <summary>A database-like server: lots of page cache and anonymous memory, a third free.</summary>
    public static WorkloadModel Default(ulong seed) => new("database", seed,
    [
        (PageClass.Slab, 0.05),
        (PageClass.PageCache, 0.22),
        (PageClass.PageCachePrivate, 0.04),
        (PageClass.Anon, 0.28),
        (PageClass.Free, 0.36),
        (PageClass.Zero, 0.02),
        (PageClass.KernelData, 0.03),
    ]);

    /// <summary>A freshly booted, mostly idle system.</summary>
    public static WorkloadModel Idle(ulong seed) => new("idle", seed,
    [
        (PageClass.Slab, 0.02),
        (PageClass.PageCache, 0.05),
        (PageClass.Anon, 0.03),
        (PageClass.Free, 0.88),
        (PageClass.Zero, 0.01),
        (PageClass.KernelData, 0.01),
    ]);

    public static WorkloadModel ByName(string name, ulong seed) => name switch
    {
        "database" or "default" => Default(seed),
        "idle" => Idle(seed),
        _ => throw new ArgumentException($"unknown workload '{name}' (expected database or idle)", nameof(name)),
    };

    /// <summary>The class of a page that the kernel did not reserve for itself.</summary>
    public PageClass ClassOf(ulong pfn)
    {
        uint h = (uint)(Mix64(Seed ^ (pfn >> FreeOrder)) >> 32);
        for (int i = 0; i < _thresholds.Length; i++)
        {
            if (h <= _thresholds[i])
            {
                return _classes[i];
            }
        }

        return _classes[^1];
    }

    /// <summary>SplitMix64 finaliser: a fast, well-mixed hash.</summary>
    public static ulong Mix64(ulong z)
    {
        z += 0x9e3779b97f4a7c15;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
        z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
        return z ^ (z >> 31);
    }
}
