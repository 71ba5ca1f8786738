using System.Diagnostics;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using Fadump.Tools.Output;

namespace Fadump.Tools.Service;

/// <summary>
/// <c>core_collector cp</c> and <c>scp</c>: /proc/vmcore copied byte for byte, an unfiltered ELF with the kernel's
/// own headers and notes (not rewritten as <see cref="ElfCopyDumpWriter"/> does). Locally the copy follows the
/// rules of every dump file (<see cref="PrivateOutputFile"/>: 0600, temporary name, fsync, rename); an error or a
/// signal keeps what was copied, which the readers find truncated, under the "-incomplete" name.
/// </summary>
internal static class VmcoreCopier
{
    private const int ChunkBytes = 4 << 20;

    /// <summary>cp --sparse=always leaves a hole for each block of zeros of the file system's block size.</summary>
    private const int SparseBlockBytes = 4096;

    /// <summary>Copies to a local file (created 0600 under a temporary name, renamed to <paramref name="outputPath"/>).</summary>
    public static DumpWriteResult Save(IDump input, string outputPath, bool sparse, CancellationToken ct)
    {
        var source = SourceOf(input);
        var sw = Stopwatch.StartNew();
        using var file = new PrivateOutputFile(outputPath);
        long copied = 0;
        try
        {
            copied = Copy(source, (data, offset) => WriteBlocks(file, data, offset, sparse), ct);

            // Trailing holes are part of the file: its length is the source's.
            RandomAccess.SetLength(file.Handle, copied);
            file.Commit();
            return Result(input, copied, sw.Elapsed, null);
        }
        catch (IOException e)
        {
            file.CommitIncomplete();
            return Result(input, copied, sw.Elapsed, e.Message);
        }
        catch (OperationCanceledException)
        {
            file.CommitIncomplete();
            throw;
        }
    }

    /// <summary>Copies to a stream (ssh's standard input); the stream is left open.</summary>
    public static DumpWriteResult Save(IDump input, Stream output, CancellationToken ct)
    {
        var source = SourceOf(input);
        var sw = Stopwatch.StartNew();
        long copied = 0;
        try
        {
            copied = Copy(source, (data, _) => output.Write(data.Span), ct);
            output.Flush();
            return Result(input, copied, sw.Elapsed, null);
        }
        catch (IOException e)
        {
            return Result(input, copied, sw.Elapsed, e.Message);
        }
    }

    /// <summary>The file behind the dump: /proc/vmcore is an ELF core; a phyp dump (read from /dev/mem) has none.</summary>
    private static IRandomAccessSource SourceOf(IDump input) =>
        input is ElfDump { IsFlattened: false } elf
            ? elf.Elf.Source
            : throw new IOException($"core_collector cp and scp copy /proc/vmcore as it is, and {input.Path} is not an ELF vmcore (a phyp dump is read from memory): give makedumpfile options instead (-E -d 0 saves an unfiltered ELF)");

    /// <summary>Reads the source in order, chunk by chunk, to its end; returns the bytes copied.</summary>
    private static long Copy(IRandomAccessSource source, Action<ReadOnlyMemory<byte>, long> write, CancellationToken ct)
    {
        var buf = new byte[(int)Math.Min(ChunkBytes, Math.Max(source.Length, 1))];
        long offset = 0;
        while (offset < source.Length)
        {
            ct.ThrowIfCancellationRequested();
            int want = (int)Math.Min(buf.Length, source.Length - offset);
            int n = source.Read(offset, buf.AsSpan(0, want));
            if (n <= 0)
            {
                throw new IOException($"{source.Name}: ended at byte {offset} of {source.Length}");
            }

            write(buf.AsMemory(0, n), offset);
            offset += n;
        }

        return offset;
    }

    /// <summary>Writes a chunk; sparse, only its runs of blocks that are not all zeros (the rest stays a hole).</summary>
    private static void WriteBlocks(PrivateOutputFile file, ReadOnlyMemory<byte> data, long offset, bool sparse)
    {
        if (!sparse)
        {
            RandomAccess.Write(file.Handle, data.Span, offset);
            return;
        }

        var span = data.Span;
        int runStart = -1;
        for (int at = 0; at < span.Length; at += SparseBlockBytes)
        {
            int len = Math.Min(SparseBlockBytes, span.Length - at);
            bool zeros = !span.Slice(at, len).ContainsAnyExcept((byte)0);
            if (!zeros && runStart < 0)
            {
                runStart = at;
            }
            else if (zeros && runStart >= 0)
            {
                RandomAccess.Write(file.Handle, span[runStart..at], offset + runStart);
                runStart = -1;
            }
        }

        if (runStart >= 0)
        {
            RandomAccess.Write(file.Handle, span[runStart..], offset + runStart);
        }
    }

    private static DumpWriteResult Result(IDump input, long bytes, TimeSpan elapsed, string? error)
    {
        ulong ps = (ulong)input.PageSize;
        ulong pages = 0;
        foreach (var r in input.MemoryRanges())
        {
            pages += (r.Size + ps - 1) / ps;
        }

        return DumpWriteResult.Unfiltered(pages, bytes, elapsed, error);
    }
}
