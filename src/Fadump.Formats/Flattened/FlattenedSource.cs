using System.Buffers.Binary;
using Fadump.Formats.IO;
using static System.FormattableString;

namespace Fadump.Formats.Flattened;

/// <summary>
/// The logical file behind a flattened stream, read in place: one pass over the record headers (seeking over
/// the data) builds an index of runs (logical offset, length, file offset); reads then go to the file.
/// Where records overlap the later one wins, as after makedumpfile -R (makedumpfile rewrites headers at the
/// end). Bytes no record covers read as zeros, like the holes of a rearranged file. Offsets in error messages
/// about the inner dump are logical offsets, the ones the rearranged file would have.
/// </summary>
public sealed class FlattenedSource : IRandomAccessSource
{
    private readonly IRandomAccessSource _file;
    private readonly Run[] _runs;

    private FlattenedSource(IRandomAccessSource file, Run[] runs, long length, long records, bool truncated)
    {
        _file = file;
        _runs = runs;
        Length = length;
        StoredLength = runs.Sum(r => r.Length);
        RecordCount = records;
        IsTruncated = truncated;
    }

    /// <summary>One piece of the logical file: [Start, Start + Length) stored at FileOffset.</summary>
    private readonly record struct Run(long Start, long Length, long FileOffset)
    {
        public long End => Start + Length;
    }

    public string Name => _file.Name;

    /// <summary>The logical length: the highest end of any record.</summary>
    public long Length { get; }

    /// <summary>Bytes of the logical file that records cover (holes between them read as zeros).</summary>
    public long StoredLength { get; }

    /// <summary>Data records in the stream.</summary>
    public long RecordCount { get; }

    /// <summary>Count of runs the index keeps after merging and resolving overlaps.</summary>
    public int RunCount => _runs.Length;

    /// <summary>True when the stream had no end marker and was opened with allowTruncated.</summary>
    public bool IsTruncated { get; }

    public static bool HasSignature(ReadOnlySpan<byte> start) => FlattenedLayout.HasSignature(start);

    public static FlattenedSource Open(string path, bool allowTruncated = false) => Open(new FileSource(path), allowTruncated);

    /// <summary>
    /// Indexes a flattened file. A stream without the end marker (an interrupted transfer) is an error naming
    /// the offset where a record header was expected, unless allowTruncated: then the complete records before
    /// it are used and <see cref="IsTruncated"/> is set. Takes ownership of the source.
    /// </summary>
    public static FlattenedSource Open(IRandomAccessSource file, bool allowTruncated = false)
    {
        try
        {
            return Scan(file, allowTruncated);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static FlattenedSource Scan(IRandomAccessSource file, bool allowTruncated)
    {
        string path = file.Name;
        Span<byte> h = stackalloc byte[FlattenedLayout.Version + 8];
        file.ReadExactly(0, h, "flattened header");
        CheckHeader(h, path, 0);
        if (file.Length < FlattenedLayout.HeaderSize)
        {
            throw new DumpFormatException(path, 0,
                Invariant($"flattened header: expected {FlattenedLayout.HeaderSize} bytes, but the file is {file.Length} bytes long"));
        }

        var records = new List<(Run Run, long Seq)>();
        long pos = FlattenedLayout.HeaderSize;
        long seq = 0;
        bool truncated = false;
        Span<byte> rh = stackalloc byte[FlattenedLayout.RecordHeaderSize];
        while (true)
        {
            if (file.Length - pos < FlattenedLayout.RecordHeaderSize)
            {
                if (allowTruncated)
                {
                    truncated = true;
                    break;
                }

                throw new DumpFormatException(path, pos,
                    Invariant($"flattened record header: expected a record or the end marker (-1, -1), but the file ends after {file.Length - pos} bytes: the stream is truncated (incomplete)"));
            }

            file.ReadExactly(pos, rh, "flattened record header");
            long offset = BinaryPrimitives.ReadInt64BigEndian(rh[FlattenedLayout.RecordOffset..]);
            long size = BinaryPrimitives.ReadInt64BigEndian(rh[FlattenedLayout.RecordSize..]);
            if (offset == FlattenedLayout.EndFlag && size == FlattenedLayout.EndFlag)
            {
                break;
            }

            RecordCheck(path, pos, offset, size, file.Length - pos - FlattenedLayout.RecordHeaderSize, allowTruncated, out bool stop);
            if (stop)
            {
                truncated = true;
                break;
            }

            if (size > 0)
            {
                records.Add((new Run(offset, size, pos + FlattenedLayout.RecordHeaderSize), seq++));
            }

            pos += FlattenedLayout.RecordHeaderSize + size;
        }

        var runs = Resolve(records);
        long length = runs.Length == 0 ? 0 : runs.Max(r => r.End);
        return new FlattenedSource(file, runs, length, records.Count, truncated);
    }

    internal static void CheckHeader(ReadOnlySpan<byte> h, string path, long baseOffset)
    {
        if (!FlattenedLayout.HasSignature(h))
        {
            throw new DumpFormatException(path, baseOffset,
                "flattened signature: expected \"makedumpfile\" NUL-padded to 16 bytes");
        }

        long type = BinaryPrimitives.ReadInt64BigEndian(h[FlattenedLayout.Type..]);
        if (type != FlattenedLayout.TypeFlatHeader)
        {
            throw new DumpFormatException(path, baseOffset + FlattenedLayout.Type,
                Invariant($"flattened header type {type}: expected {FlattenedLayout.TypeFlatHeader} (TYPE_FLAT_HEADER, big-endian)"));
        }

        long version = BinaryPrimitives.ReadInt64BigEndian(h[FlattenedLayout.Version..]);
        if (version != FlattenedLayout.VersionFlatHeader)
        {
            throw new DumpFormatException(path, baseOffset + FlattenedLayout.Version,
                Invariant($"flattened header version {version}: expected {FlattenedLayout.VersionFlatHeader}"));
        }
    }

    /// <summary>Validates one record header; remaining is how many data bytes the file still has (-1: unknown, a stream).</summary>
    internal static void RecordCheck(string path, long pos, long offset, long size, long remaining, bool allowTruncated, out bool stop)
    {
        stop = false;
        if (offset < 0 || size < 0)
        {
            throw new DumpFormatException(path, pos,
                Invariant($"flattened record (offset {offset}, size {size}): expected a non-negative offset and size, or the end marker (-1, -1)"));
        }

        if (offset > FlattenedLayout.MaxLogicalEnd - size)
        {
            throw new DumpFormatException(path, pos,
                Invariant($"flattened record (offset 0x{offset:x}, size 0x{size:x}): expected it to end below 2^60"));
        }

        if (remaining >= 0 && size > remaining)
        {
            if (allowTruncated)
            {
                stop = true;
                return;
            }

            throw new DumpFormatException(path, pos,
                Invariant($"flattened record of {size} bytes at logical offset 0x{offset:x}: expected its data inside the file, which has {remaining} bytes left: the stream is truncated (incomplete)"));
        }
    }

    /// <summary>
    /// Turns records (in stream order) into sorted, disjoint runs where later records win. The common case,
    /// no overlap, is a sort and a merge; overlaps go through a sweep over the record boundaries.
    /// </summary>
    private static Run[] Resolve(List<(Run Run, long Seq)> records)
    {
        var sorted = records.OrderBy(r => r.Run.Start).ThenBy(r => r.Seq).ToList();
        bool overlap = false;
        for (int i = 1; i < sorted.Count && !overlap; i++)
        {
            overlap = sorted[i].Run.Start < sorted[i - 1].Run.End;
        }

        List<Run> pieces = overlap ? Sweep(records) : [.. sorted.Select(r => r.Run)];
        var merged = new List<Run>(pieces.Count);
        foreach (var p in pieces)
        {
            if (merged.Count > 0 && merged[^1].End == p.Start && merged[^1].FileOffset + merged[^1].Length == p.FileOffset)
            {
                merged[^1] = merged[^1] with { Length = merged[^1].Length + p.Length };
            }
            else
            {
                merged.Add(p);
            }
        }

        return [.. merged];
    }

    private static List<Run> Sweep(List<(Run Run, long Seq)> records)
    {
        // Boundaries sorted; at each, records starting there join a max-heap by sequence; ended ones leave lazily.
        var starts = records.OrderBy(r => r.Run.Start).ToList();
        var points = records.SelectMany(r => new[] { r.Run.Start, r.Run.End }).Distinct().Order().ToList();
        var heap = new PriorityQueue<(Run Run, long Seq), long>();
        var pieces = new List<Run>();
        int next = 0;
        for (int i = 0; i < points.Count - 1; i++)
        {
            long a = points[i], b = points[i + 1];
            while (next < starts.Count && starts[next].Run.Start <= a)
            {
                heap.Enqueue(starts[next], -starts[next].Seq);
                next++;
            }

            while (heap.Count > 0 && heap.Peek().Run.End <= a)
            {
                heap.Dequeue();
            }

            if (heap.Count > 0)
            {
                var top = heap.Peek().Run;
                pieces.Add(new Run(a, b - a, top.FileOffset + (a - top.Start)));
            }
        }

        return pieces;
    }

    public int Read(long offset, Span<byte> buffer)
    {
        if (offset < 0 || offset >= Length)
        {
            return 0;
        }

        int total = (int)Math.Min(buffer.Length, Length - offset);
        int done = 0;
        int i = FindRun(offset);
        while (done < total)
        {
            long at = offset + done;
            while (i < _runs.Length && _runs[i].End <= at)
            {
                i++;
            }

            if (i >= _runs.Length || _runs[i].Start > at)
            {
                // A hole between records: zeros up to the next run.
                long holeEnd = i < _runs.Length ? _runs[i].Start : Length;
                int n = (int)Math.Min(total - done, holeEnd - at);
                buffer.Slice(done, n).Clear();
                done += n;
                continue;
            }

            var r = _runs[i];
            int m = (int)Math.Min(total - done, r.End - at);
            _file.ReadExactly(r.FileOffset + (at - r.Start), buffer.Slice(done, m), "flattened record data");
            done += m;
        }

        return total;
    }

    /// <summary>Index of the last run starting at or before offset (0 when none).</summary>
    private int FindRun(long offset)
    {
        int lo = 0, hi = _runs.Length - 1, found = 0;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_runs[mid].Start <= offset)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return found;
    }

    public void Dispose() => _file.Dispose();
}
