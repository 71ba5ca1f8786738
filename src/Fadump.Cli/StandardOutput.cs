using Fadump.Formats.IO;

namespace Fadump.Cli;

/// <summary>
/// Standard output as a stream of write(2) calls on descriptor 1. Console's own stream pretends that writes to a
/// closed pipe succeeded (it swallows EPIPE), so `fadump save -F ... | head -c 1000` would report success; here
/// EPIPE and every other write error is an IOException "standard output: Broken pipe". (.NET ignores SIGPIPE, so
/// the write fails rather than the process dying.)
/// </summary>
internal sealed class StandardOutput : Stream
{
    public const string Name = "standard output";

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (OperatingSystem.IsWindows())
        {
            using var o = Console.OpenStandardOutput();
            o.Write(buffer);
            return;
        }

        PosixFile.WriteAll(1, buffer, Name);
    }
}
