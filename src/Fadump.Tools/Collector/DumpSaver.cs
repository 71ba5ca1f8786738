using System.Diagnostics;
using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Formats.Flattened;
using Fadump.Formats.IO;
using Fadump.Tools.Output;
using static System.FormattableString;

namespace Fadump.Tools.Collector;

/// <summary>
/// makedumpfile's job: filters a dump by dump level (page classes from struct page through VMCOREINFO),
/// compresses pages in parallel and writes kdump-compressed, ELF or flattened output with one ordered writer
/// and bounded memory (cyclic bitmaps: the dump bitmap is computed in chunks, twice, never held whole).
/// </summary>
/// <remarks>
/// Failure policy: a write error (ENOSPC, the -L size limit, EIO) flags the output incomplete in its format
/// (kdump status 0x8, ELF e_flags bit 0) and the file overload keeps it under the final name, as makedumpfile
/// does: a partial dump is still worth analysing, and its format says it is partial. The result then has
/// <see cref="SaveResult.Incomplete"/> set and <see cref="SaveResult.Error"/> says why; callers exit non-zero.
/// With fallback levels the file is written again at the next level first. Input errors and cancellation also
/// leave an incomplete-flagged file, and are thrown. The writers put the header with the incomplete flag
/// down first and clear it last, so a process killed outright leaves a flagged (hidden, temporary) file too.
/// A failure before the header was written (-L below the header's size, ENOSPC at once) keeps nothing: there
/// would be no header to carry the flag.
/// </remarks>
public static partial class DumpSaver
{
    /// <summary>The dump level, then the -d A,B fallbacks tried when the output does not fit.</summary>
    private static List<int> Levels(SaveOptions o) => [o.DumpLevel, .. o.FallbackLevels];

    /// <summary>Saves to a file: 0600, under a temporary name, fsynced and renamed (PrivateOutputFile).</summary>
    public static SaveResult Save(IDump input, string outputPath, SaveOptions o, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(outputPath);
        Validate(input, o);
        var levels = Levels(o);
        var warnings = new List<string>();
        var sw = Stopwatch.StartNew();
        for (int li = 0; ; li++)
        {
            var classifier = Prepare(input, levels[li]);
            var file = new PrivateOutputFile(outputPath, o.Overwrite);
            bool keep = false;
            try
            {
                var stream = new HandleStream(file.Handle);
                IPositionedSink inner = o.Flattened ? new FlattenedSink(stream, leaveOpen: true) : new FileSink(file.Handle);
                var guard = new GuardedSink(inner, o.SizeLimit);
                SaveResult r;
                try
                {
                    r = Run(input, guard, o with { DumpLevel = levels[li] }, classifier, sw, ct);
                }
                catch when (guard.WroteHeader)
                {
                    // Written in part, and flagged incomplete by the writer: kept, as after a write error.
                    // No header yet (the input failed first): the temporary file goes.
                    keep = true;
                    file.CommitIncomplete();
                    throw;
                }

                if (r.Incomplete && li + 1 < levels.Count && IsOutOfSpace(guard.WriteError))
                {
                    warnings.Add(Invariant($"dump level {levels[li]} did not fit ({r.Error}); retrying with dump level {levels[li + 1]}"));
                    continue;
                }

                if (r.Incomplete && !guard.WroteHeader)
                {
                    // Not even the header fitted: nothing to flag, nothing kept (the finally removes the file).
                    return r with { Error = $"{r.Error}; not even the header was written, so nothing was kept", Warnings = [.. warnings, .. r.Warnings], Elapsed = sw.Elapsed };
                }

                keep = true;
                if (r.Incomplete)
                {
                    file.CommitIncomplete();
                }
                else
                {
                    file.Commit();
                    o.DurableThrough?.Invoke(ulong.MaxValue);
                }

                return r with { Warnings = [.. warnings, .. r.Warnings], Elapsed = sw.Elapsed };
            }
            finally
            {
                if (!keep)
                {
                    file.Dispose();
                }
            }
        }
    }

    /// <summary>Saves as a flattened stream (makedumpfile -F): for stdout and ssh. The stream is left open.</summary>
    public static SaveResult Save(IDump input, Stream flattenedOutput, SaveOptions o, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(flattenedOutput);
        Validate(input, o);
        var guard = new GuardedSink(new FlattenedSink(flattenedOutput, leaveOpen: true), o.SizeLimit);
        var classifier = Prepare(input, o.DumpLevel);
        return Run(input, guard, o with { Flattened = true, DurableThrough = null }, classifier, Stopwatch.StartNew(), ct);
    }

    private static void Validate(IDump input, SaveOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        foreach (int l in (IEnumerable<int>)[o.DumpLevel, .. o.FallbackLevels])
        {
            if (l is < 0 or > 31)
            {
                throw new ArgumentException(Invariant($"dump level {l}: expected 0 to 31"), nameof(o));
            }
        }

        if (o.Threads < 1)
        {
            throw new ArgumentException(Invariant($"{o.Threads} threads: expected at least 1"), nameof(o));
        }

        if (o.Format == SaveFormat.Kdump && !PageCodec.IsAvailable(o.Compression, out string? why))
        {
            throw new NotSupportedException(why);
        }

        if (input.PageSize is < 4096 or > (1 << 20))
        {
            throw new DumpFormatException(input.Path, Invariant($"page size {input.PageSize}: expected 4096 to 1 MiB"));
        }
    }

    /// <summary>ENOSPC (errno 28, which .NET puts in HResult on Unix) or the -L size limit.</summary>
    private static bool IsOutOfSpace(Exception? e) => e switch
    {
        SizeLimitException => true,
        IOException io => io.HResult == 28 || io.Message.Contains("No space left", StringComparison.Ordinal),
        _ => false,
    };

    /// <summary>The classifier for a level; levels above 1 need one (makedumpfile: VMCOREINFO for dump_level 2 or more).</summary>
    private static PageClassifier? Prepare(IDump input, int dumpLevel)
    {
        var level = (DumpLevel)dumpLevel;
        var classifier = PageClassifier.TryCreate(input, level, out string? problem);
        if (classifier is null && (level & ~DumpLevel.Zero) != 0)
        {
            throw new DumpFormatException(input.Path, $"dump level {dumpLevel} needs the kernel's struct pages: {problem}");
        }

        return classifier;
    }

    private static SaveResult Run(IDump input, GuardedSink sink, SaveOptions o, PageClassifier? classifier, Stopwatch sw, CancellationToken ct)
    {
        var warnings = new List<string>();
        if (classifier?.TranslationProblem is { } broken)
        {
            warnings.Add(broken);
        }

        var job = new SaveJob(input, sink, o, classifier, sw, ct);
        SaveResult r = o.Format == SaveFormat.Elf ? job.RunElf() : job.RunKdump();
        if (classifier is { UnreadableStructPages: > 0 } c)
        {
            warnings.Add(Invariant($"{c.UnreadableStructPages} struct pages could not be read: their pages were kept"));
        }

        return r with { Warnings = [.. warnings, .. r.Warnings] };
    }

    /// <summary>A forward-only stream over a file handle (pwrite at a running position), for flattened file output.</summary>
    private sealed class HandleStream(Microsoft.Win32.SafeHandles.SafeFileHandle handle) : Stream
    {
        private long _position;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _position;

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override void Flush() => RandomAccess.FlushToDisk(handle);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            RandomAccess.Write(handle, buffer, _position);
            _position += buffer.Length;
        }
    }
}
