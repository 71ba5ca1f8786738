using System.Buffers.Binary;
using Fadump.Formats.IO;

namespace Fadump.Formats.Flattened;

/// <summary>
/// Writes makedumpfile's flattened format to a forward-only stream (stdout, an ssh pipe): the header, then
/// every positioned write as a record. Contiguous sequential writes are coalesced into records of up to
/// <see cref="MaxRecordSize"/> bytes. <see cref="Flush"/> is the final commit: it ends the stream with the end
/// marker, as both writers call it once when they finish (or mark the dump incomplete); writing after it is an
/// error. Disposing without Flush leaves the stream without an end marker, so that readers see it truncated.
/// </summary>
public sealed class FlattenedSink : IPositionedSink
{
    public const int MaxRecordSize = 4 << 20;

    private readonly Stream _out;
    private readonly bool _leaveOpen;
    private readonly byte[] _pending = new byte[MaxRecordSize];
    private long _pendingOffset;
    private int _pendingLength;
    private bool _ended;
    private bool _disposed;

    public FlattenedSink(Stream output, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.CanWrite)
        {
            throw new ArgumentException("stream must be writable", nameof(output));
        }

        _out = output;
        _leaveOpen = leaveOpen;
        var header = new byte[FlattenedLayout.HeaderSize];
        "makedumpfile"u8.CopyTo(header);
        BinaryPrimitives.WriteInt64BigEndian(header.AsSpan(FlattenedLayout.Type), FlattenedLayout.TypeFlatHeader);
        BinaryPrimitives.WriteInt64BigEndian(header.AsSpan(FlattenedLayout.Version), FlattenedLayout.VersionFlatHeader);
        _out.Write(header);
    }

    /// <summary>Records written so far (the end marker not counted).</summary>
    public long RecordCount { get; private set; }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_ended)
        {
            throw new InvalidOperationException("the flattened stream is already ended (Flush writes the end marker)");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        while (!data.IsEmpty)
        {
            if (_pendingLength > 0 && (offset != _pendingOffset + _pendingLength || _pendingLength == MaxRecordSize))
            {
                WritePending();
            }

            if (_pendingLength == 0)
            {
                _pendingOffset = offset;
            }

            int n = Math.Min(data.Length, MaxRecordSize - _pendingLength);
            data[..n].CopyTo(_pending.AsSpan(_pendingLength));
            _pendingLength += n;
            offset += n;
            data = data[n..];
        }
    }

    /// <summary>Writes the last record and the end marker, and flushes the stream.</summary>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_ended)
        {
            WritePending();
            WriteRecordHeader(FlattenedLayout.EndFlag, FlattenedLayout.EndFlag);
            _ended = true;
        }

        _out.Flush();
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            if (!_ended)
            {
                WritePending();
            }
        }
        finally
        {
            if (!_leaveOpen)
            {
                _out.Dispose();
            }
        }
    }

    private void WritePending()
    {
        if (_pendingLength == 0)
        {
            return;
        }

        WriteRecordHeader(_pendingOffset, _pendingLength);
        _out.Write(_pending, 0, _pendingLength);
        _pendingLength = 0;
        RecordCount++;
    }

    private void WriteRecordHeader(long offset, long size)
    {
        Span<byte> h = stackalloc byte[FlattenedLayout.RecordHeaderSize];
        BinaryPrimitives.WriteInt64BigEndian(h[FlattenedLayout.RecordOffset..], offset);
        BinaryPrimitives.WriteInt64BigEndian(h[FlattenedLayout.RecordSize..], size);
        _out.Write(h);
    }
}
