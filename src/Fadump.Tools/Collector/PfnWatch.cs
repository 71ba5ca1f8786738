namespace Fadump.Tools.Collector;

/// <summary>
/// Records which of a few watched PFNs a <see cref="PageFilter"/> left out of its dump bitmap, as each chunk is
/// computed (a chunk computed twice gives the same bits). Thread-safe.
/// </summary>
internal sealed class PfnWatch
{
    private readonly ulong[] _pfns;
    private readonly HashSet<ulong> _excluded = [];
    private readonly Lock _lock = new();

    public PfnWatch(IEnumerable<ulong> pfns)
    {
        _pfns = [.. pfns.Distinct().Order()];
    }

    /// <summary>Records the watched PFNs in [first, first + bits × 8) whose bit is clear.</summary>
    public void Record(ulong first, ReadOnlySpan<byte> bits)
    {
        ulong end = first + ((ulong)bits.Length * 8);
        int i = Array.BinarySearch(_pfns, first);
        for (i = i < 0 ? ~i : i; i < _pfns.Length && _pfns[i] < end; i++)
        {
            ulong bit = _pfns[i] - first;
            if ((bits[(int)(bit >> 3)] & (1 << (int)(bit & 7))) == 0)
            {
                lock (_lock)
                {
                    _excluded.Add(_pfns[i]);
                }
            }
        }
    }

    /// <summary>The watched PFNs left out: those recorded, and those at or beyond maxPfn (never in a chunk).</summary>
    public IReadOnlySet<ulong> Excluded(ulong maxPfn)
    {
        lock (_lock)
        {
            var set = new HashSet<ulong>(_excluded);
            set.UnionWith(_pfns.Where(p => p >= maxPfn));
            return set;
        }
    }
}
