using Fadump.Formats.IO;

namespace Fadump.Tools.Collector;

/// <summary>The output reached <see cref="SaveOptions.SizeLimit"/> (makedumpfile -L): handled like a full disk.</summary>
public sealed class SizeLimitException(long limit)
    : IOException(FormattableString.Invariant($"the dump file reached the size limit of {limit} bytes (-L)"));

/// <summary>
/// Wraps the output sink: tracks the file size, enforces the size limit, and remembers that a write failed, so
/// that an output error (ENOSPC) is told apart from an input error.
/// </summary>
internal sealed class GuardedSink(IPositionedSink inner, long? limit) : IPositionedSink
{
    public long Length { get; private set; }

    public Exception? WriteError { get; private set; }

    /// <summary>
    /// The write at offset 0 (the file's header, which the writers write first with the incomplete flag set)
    /// succeeded: from then on a cut-short file says it is incomplete. Before it, a partial file would be a
    /// stub with no header to flag, and is removed rather than kept.
    /// </summary>
    public bool WroteHeader { get; private set; }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        long end = offset + data.Length;
        if (limit is { } l && end > l)
        {
            var e = new SizeLimitException(l);
            WriteError ??= e;
            throw e;
        }

        try
        {
            inner.Write(offset, data);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError ??= e;
            throw;
        }

        Length = Math.Max(Length, end);
        if (offset == 0 && data.Length > 0)
        {
            WroteHeader = true;
        }
    }

    public void Flush()
    {
        try
        {
            inner.Flush();
        }
        catch (IOException e)
        {
            WriteError ??= e;
            throw;
        }
    }

    public void Barrier()
    {
        try
        {
            inner.Barrier();
        }
        catch (IOException e)
        {
            WriteError ??= e;
            throw;
        }
    }

    public void Dispose() => inner.Dispose();
}
