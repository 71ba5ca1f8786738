using System.Diagnostics;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Formats.Flattened;
using Fadump.Formats.IO;
using Fadump.Tools.Output;

namespace Fadump.Tools.Service;

/// <summary>
/// An unfiltered ELF copy of the dump (what <c>makedumpfile -E -d 0</c> writes): every page of every range,
/// the notes as they are, no compression. It ignores the dump level and compression it is asked for and
/// reports level 0. The service's writer until the filtering saver (Collector.DumpSaver) is plugged in;
/// kept afterwards as the fallback for inputs the saver cannot filter.
/// </summary>
public sealed class ElfCopyDumpWriter : IDumpWriter
{
    private const int ChunkBytes = 4 << 20;

    /// <summary>How often, in bytes of output, the file is fsynced and durability reported (when asked for).</summary>
    public long DurableReportBytes { get; init; } = 64L << 20;

    public DumpWriteResult Save(IDump input, string outputPath, CoreCollectorOptions options, Action<ulong>? durableThrough = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        var sw = Stopwatch.StartNew();
        var loads = Loads(input);
        using var file = new PrivateOutputFile(outputPath);
        var sink = new TrackingSink(new FileSink(file.Handle));
        ElfCoreWriter? writer = null;
        try
        {
            writer = new ElfCoreWriter(sink, input.Machine, input.Notes, loads, input.PageSize);
            long dataOffset = writer.TotalSize - loads.Sum(l => (long)l.FileSize);
            long lastReport = 0;
            CopyPages(input, loads, writer, ct, () =>
            {
                if (durableThrough is not null && sink.End - lastReport >= DurableReportBytes)
                {
                    RandomAccess.FlushToDisk(file.Handle);
                    lastReport = sink.End;
                    durableThrough(ThroughAddress(loads, dataOffset, sink.End));
                }
            });
            writer.Complete();
            durableThrough?.Invoke(ThroughAddress(loads, dataOffset, sink.End));
            file.Commit();
            return Result(input, loads, writer.TotalSize, sw.Elapsed, null);
        }
        catch (IOException e)
        {
            MarkIncomplete(writer);
            file.CommitIncomplete();
            return Result(input, loads, sink.End, sw.Elapsed, e.Message);
        }
    }

    public DumpWriteResult Save(IDump input, Stream flattenedOutput, CoreCollectorOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        var sw = Stopwatch.StartNew();
        var loads = Loads(input);
        var sink = new TrackingSink(new FlattenedSink(flattenedOutput, leaveOpen: true));
        ElfCoreWriter? writer = null;
        try
        {
            writer = new ElfCoreWriter(sink, input.Machine, input.Notes, loads, input.PageSize);
            CopyPages(input, loads, writer, ct, static () => { });
            writer.Complete();
            return Result(input, loads, writer.TotalSize, sw.Elapsed, null);
        }
        catch (IOException e)
        {
            // No end marker: a reader of the stream sees it truncated.
            return Result(input, loads, sink.End, sw.Elapsed, e.Message);
        }
        finally
        {
            sink.Dispose();
        }
    }

    /// <summary>The input's ranges as PT_LOADs, ascending: an ELF input's own (keeping p_vaddr), else its memory ranges.</summary>
    private static List<ElfSegmentSpec> Loads(IDump input)
    {
        if (input is ElfDump elf)
        {
            return [.. elf.Elf.Loads.Where(l => l.MemorySize > 0).OrderBy(l => l.PhysicalAddress)
                .Select(l => new ElfSegmentSpec(l.PhysicalAddress, l.VirtualAddress, l.MemorySize, l.MemorySize))];
        }

        // ppc64 kernels map all RAM linearly at 0xc000000000000000 (the vaddr makedumpfile -E writes too).
        ulong linear = input.Machine.Arch == DumpArch.Ppc64 ? 0xc000000000000000UL : 0;
        return [.. input.MemoryRanges().Select(r => new ElfSegmentSpec(r.Start, linear == 0 ? 0 : linear + r.Start, r.Size, r.Size))];
    }

    private static void CopyPages(IDump input, List<ElfSegmentSpec> loads, ElfCoreWriter writer, CancellationToken ct, Action afterChunk)
    {
        var buf = new byte[ChunkBytes];
        foreach (var l in loads)
        {
            for (ulong off = 0; off < l.FileSize;)
            {
                ct.ThrowIfCancellationRequested();
                int n = (int)Math.Min((ulong)buf.Length, l.FileSize - off);
                ReadZeroFilled(input, l.PhysicalAddress + off, buf.AsSpan(0, n));
                writer.Write(buf.AsSpan(0, n));
                off += (ulong)n;
                afterChunk();
            }
        }
    }

    /// <summary>Reads physical memory; a page the input does not hold (filtered out) reads as zeros.</summary>
    private static void ReadZeroFilled(IDump input, ulong address, Span<byte> buffer)
    {
        ulong ps = (ulong)input.PageSize;
        int pos = 0;
        while (pos < buffer.Length)
        {
            int n = input.ReadPhysical(address + (ulong)pos, buffer[pos..]);
            if (n > 0)
            {
                pos += n;
                continue;
            }

            ulong a = address + (ulong)pos;
            int gap = (int)Math.Min((ulong)(buffer.Length - pos), ps - (a % ps));
            buffer.Slice(pos, gap).Clear();
            pos += gap;
        }
    }

    /// <summary>The physical address below which everything is in the first <paramref name="fileEnd"/> bytes of the file.</summary>
    private static ulong ThroughAddress(List<ElfSegmentSpec> loads, long dataOffset, long fileEnd)
    {
        ulong through = 0;
        long off = dataOffset;
        foreach (var l in loads)
        {
            if (fileEnd >= off + (long)l.FileSize)
            {
                through = l.PhysicalAddress + l.MemorySize;
                off += (long)l.FileSize;
                continue;
            }

            if (fileEnd > off)
            {
                through = l.PhysicalAddress + (ulong)(fileEnd - off);
            }

            break;
        }

        return through;
    }

    private static void MarkIncomplete(ElfCoreWriter? writer)
    {
        try
        {
            writer?.MarkIncomplete();
        }
        catch (IOException)
        {
            // The device is full or gone: the file keeps what reached it, and its name says incomplete.
        }
    }

    private static DumpWriteResult Result(IDump input, List<ElfSegmentSpec> loads, long bytes, TimeSpan elapsed, string? error)
    {
        ulong ps = (ulong)input.PageSize;
        ulong pages = (ulong)loads.Sum(l => (decimal)((l.MemorySize + ps - 1) / ps));
        return DumpWriteResult.Unfiltered(pages, bytes, elapsed, error);
    }

    /// <summary>Remembers how far the (sequential) writes reached.</summary>
    private sealed class TrackingSink(IPositionedSink inner) : IPositionedSink
    {
        public long End { get; private set; }

        public void Write(long offset, ReadOnlySpan<byte> data)
        {
            inner.Write(offset, data);
            End = Math.Max(End, offset + data.Length);
        }

        public void Flush() => inner.Flush();

        public void Dispose() => inner.Dispose();
    }
}
