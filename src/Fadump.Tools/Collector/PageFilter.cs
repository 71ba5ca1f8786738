using System.Buffers;
using Fadump.Formats;
using Fadump.Formats.Kdump;

namespace Fadump.Tools.Collector;

/// <summary>
/// The dump bitmap (makedumpfile's 2nd bitmap) computed on demand, cyclically: PFNs are taken in chunks of
/// <see cref="ChunkPfns"/> (2^18, aligned, so no compound page or buddy block of a real kernel crosses a
/// chunk start), each chunk computed independently (RAM, minus pages the input excluded, minus what the
/// <see cref="PageClassifier"/> excludes, minus zero pages when asked) and kept in a small cache. Memory is
/// bounded by the cache whatever the dump size; chunks are computed in parallel when a window needs several.
/// Deterministic: the same chunk always gives the same bits. Thread-safe.
/// </summary>
internal sealed class PageFilter : IPfnBitmap
{
    public const int ChunkShift = 18;
    public const ulong ChunkPfns = 1UL << ChunkShift;
    private const int ChunkBytes = (int)(ChunkPfns / 8);
    private const int CacheCapacity = 64;

    private readonly IDump _dump;
    private readonly IPfnBitmap _ram;
    private readonly IPfnBitmap? _inputDumped;
    private readonly PageClassifier? _classifier;
    private readonly bool _excludeZero;
    private readonly int _threads;
    private readonly ulong _maxPfn;
    private readonly Lock _lock = new();
    private readonly LinkedList<Chunk> _cache = new();
    private readonly ClassCounts _counts = new();
    private readonly HashSet<ulong> _counted = [];
    private Task? _prefetch;
    private ulong _ramPages;
    private ulong _dumpedPages;

    /// <param name="excludeZero">Read every remaining page and exclude those filled with zeros (ELF output at dump level 1: the bitmap must be final before the headers).</param>
    /// <param name="cyclicRam">The 1st bitmap as makedumpfile's cyclic path makes it (a --split save): see <see cref="InputBitmaps.Ram"/>.</param>
    public PageFilter(IDump dump, ulong maxPfn, PageClassifier? classifier, bool excludeZero, int threads, bool cyclicRam = false)
    {
        _dump = dump;
        _ram = InputBitmaps.Ram(dump, maxPfn, cyclicRam);
        _inputDumped = InputBitmaps.Dumped(dump);
        _classifier = classifier is { IsNeeded: true } ? classifier : null;
        _excludeZero = excludeZero;
        _threads = Math.Max(1, threads);
        _maxPfn = maxPfn;
    }

    public IPfnBitmap RamBitmap => _ram;

    /// <summary>Excluded pages per class over the chunks computed so far (each chunk counted once).</summary>
    public ClassCounts Counts
    {
        get
        {
            lock (_lock)
            {
                var c = new ClassCounts();
                c.Add(_counts);
                return c;
            }
        }
    }

    /// <summary>RAM pages of the chunks computed so far.</summary>
    public ulong RamPages
    {
        get
        {
            lock (_lock)
            {
                return _ramPages;
            }
        }
    }

    /// <summary>Pages left in the bitmap over the chunks computed so far.</summary>
    public ulong DumpedPages
    {
        get
        {
            lock (_lock)
            {
                return _dumpedPages;
            }
        }
    }

    /// <summary>Optional cancellation for long computations.</summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>Optional: told the bits of every chunk computed, to report what happened to a few PFNs.</summary>
    public PfnWatch? Watch { get; init; }

    public void Fill(ulong firstPfn, Span<byte> bits)
    {
        ulong end = firstPfn + ((ulong)bits.Length * 8);
        ulong c0 = firstPfn >> ChunkShift, c1 = (end - 1) >> ChunkShift;
        var chunks = GetChunks(c0, c1);
        foreach (var ch in chunks)
        {
            ulong s = Math.Max(firstPfn, ch.Index << ChunkShift);
            ulong e = Math.Min(end, (ch.Index + 1) << ChunkShift);
            if (s >= e)
            {
                continue;
            }

            int srcByte = (int)((s - (ch.Index << ChunkShift)) / 8);
            int dstByte = (int)((s - firstPfn) / 8);
            int n = (int)((e - s + 7) / 8);
            ch.Bits.AsSpan(srcByte, n).CopyTo(bits[dstByte..]);
        }
    }

    /// <summary>
    /// Starts computing the chunks from firstPfn on (count of them) in the background unless a prefetch is still
    /// running: a sequential reader (the pass-2 dispatcher) then finds them in the cache.
    /// </summary>
    public void Prefetch(ulong firstPfn, int count)
    {
        if (firstPfn >= _maxPfn || (_prefetch is { IsCompleted: false }))
        {
            return;
        }

        ulong c0 = firstPfn >> ChunkShift;
        ulong c1 = Math.Min((_maxPfn - 1) >> ChunkShift, c0 + (ulong)Math.Max(1, count) - 1);
        lock (_lock)
        {
            if (Find(c1) is not null)
            {
                return;
            }
        }

        _prefetch = Task.Run(() => GetChunks(c0, c1), CancellationToken);
    }

    /// <summary>Waits for a running prefetch (before the input is closed); its errors were the reader's to see.</summary>
    public void WaitForPrefetch()
    {
        try
        {
            _prefetch?.Wait();
        }
        catch (AggregateException)
        {
            // The dispatcher computes the same chunk itself and reports the error from there.
        }
    }

    private List<Chunk> GetChunks(ulong c0, ulong c1)
    {
        var result = new Chunk?[c1 - c0 + 1];
        var missing = new List<ulong>();
        lock (_lock)
        {
            for (ulong c = c0; c <= c1; c++)
            {
                var node = Find(c);
                if (node is not null)
                {
                    result[c - c0] = node;
                }
                else
                {
                    missing.Add(c);
                }
            }
        }

        if (missing.Count == 1 || _threads == 1)
        {
            foreach (ulong c in missing)
            {
                result[c - c0] = Compute(c);
            }
        }
        else if (missing.Count > 1)
        {
            var computed = new Chunk[missing.Count];
            Parallel.For(0, missing.Count, new ParallelOptions { MaxDegreeOfParallelism = _threads, CancellationToken = CancellationToken },
                i => computed[i] = Compute(missing[i]));
            for (int i = 0; i < missing.Count; i++)
            {
                result[missing[i] - c0] = computed[i];
            }
        }

        lock (_lock)
        {
            foreach (ulong c in missing)
            {
                var ch = result[c - c0]!;
                if (_counted.Add(c))
                {
                    _counts.Add(ch.Counts);
                    _ramPages += ch.RamPages;
                    _dumpedPages += ch.DumpedPages;
                }

                if (Find(c) is null)
                {
                    _cache.AddFirst(ch);
                    if (_cache.Count > CacheCapacity)
                    {
                        _cache.RemoveLast();
                    }
                }
            }
        }

        return [.. result.Select(r => r!)];
    }

    private Chunk? Find(ulong index)
    {
        for (var n = _cache.First; n is not null; n = n.Next)
        {
            if (n.Value.Index == index)
            {
                if (n != _cache.First)
                {
                    _cache.Remove(n);
                    _cache.AddFirst(n);
                }

                return n.Value;
            }
        }

        return null;
    }

    private Chunk Compute(ulong index)
    {
        CancellationToken.ThrowIfCancellationRequested();
        ulong first = index << ChunkShift;
        var ram = new byte[ChunkBytes];
        var bits = new byte[ChunkBytes];
        var counts = new ClassCounts();
        if (first < _maxPfn)
        {
            _ram.Fill(first, ram);
            ClearFrom(ram, _maxPfn - first);
            ram.CopyTo(bits, 0);
            if (_inputDumped is not null)
            {
                var d = ArrayPool<byte>.Shared.Rent(ChunkBytes);
                _inputDumped.Fill(first, d.AsSpan(0, ChunkBytes));
                for (int i = 0; i < ChunkBytes; i++)
                {
                    bits[i] &= d[i];
                }

                ArrayPool<byte>.Shared.Return(d);
            }

            _classifier?.Classify(first, Math.Min(first + ChunkPfns, _maxPfn), ram, bits, counts);
            if (_excludeZero)
            {
                counts[ExcludedClass.Zero] += ZeroPages.Exclude(_dump, first, bits);
            }
        }

        Watch?.Record(first, bits);
        return new Chunk(index, bits, counts, PopCount(ram), PopCount(bits));
    }

    private static void ClearFrom(Span<byte> bits, ulong keep)
    {
        if (keep >= (ulong)bits.Length * 8)
        {
            return;
        }

        int b = (int)(keep >> 3);
        if ((keep & 7) != 0)
        {
            bits[b] &= (byte)((1 << (int)(keep & 7)) - 1);
            b++;
        }

        bits[b..].Clear();
    }

    internal static ulong PopCount(ReadOnlySpan<byte> bits)
    {
        ulong n = 0;
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(bits[..(bits.Length & ~7)]);
        foreach (ulong w in words)
        {
            n += (ulong)System.Numerics.BitOperations.PopCount(w);
        }

        for (int i = bits.Length & ~7; i < bits.Length; i++)
        {
            n += (ulong)System.Numerics.BitOperations.PopCount(bits[i]);
        }

        return n;
    }

    private sealed record Chunk(ulong Index, byte[] Bits, ClassCounts Counts, ulong RamPages, ulong DumpedPages);
}
