using Fadump.Formats.IO;

namespace Fadump.Formats.Elf;

/// <summary>A PT_LOAD to write: addresses and sizes; its bytes are streamed afterwards.</summary>
public readonly record struct ElfSegmentSpec(ulong PhysicalAddress, ulong VirtualAddress, ulong MemorySize, ulong FileSize);

/// <summary>
/// Streams an ELF64 core: header, program headers (one merged PT_NOTE, then the PT_LOADs), the notes,
/// then each segment's p_filesz bytes in order. Never holds the dump in memory: data goes to the sink
/// through a bounded buffer as it is written.
/// </summary>
public sealed class ElfCoreWriter : IDisposable
{
    private const int BufferSize = 1 << 20;
    private readonly IPositionedSink _sink;
    private readonly DumpMachine _machine;
    private readonly ElfSegmentSpec[] _loads;
    private readonly long[] _offsets;
    private readonly byte[] _buffer = new byte[BufferSize];
    private int _buffered;
    private long _bufferStart;
    private int _segment;
    private ulong _segmentDone;
    private bool _completed;

    public ElfCoreWriter(IPositionedSink sink, DumpMachine machine, IReadOnlyList<ElfNote> notes, IReadOnlyList<ElfSegmentSpec> loads, int pageSize)
    {
        _sink = sink;
        _machine = machine;
        _loads = [.. loads];
        bool be = machine.BigEndian;
        byte[] noteBytes = ElfNote.EncodeAll(notes, be);
        int phnum = 1 + _loads.Length;
        if (phnum >= ElfLayout.PnXnum)
        {
            throw new ArgumentException(FormattableString.Invariant($"{_loads.Length} PT_LOADs: at most {ElfLayout.PnXnum - 2} are supported"));
        }

        long notesOffset = ElfLayout.EhdrSize + ((long)phnum * ElfLayout.PhdrSize);
        long dataOffset = AlignUp(notesOffset + noteBytes.Length, pageSize);
        _offsets = new long[_loads.Length];
        long off = dataOffset;
        for (int i = 0; i < _loads.Length; i++)
        {
            if (_loads[i].FileSize > _loads[i].MemorySize)
            {
                throw new ArgumentException("p_filesz must not exceed p_memsz", nameof(loads));
            }

            _offsets[i] = off;
            off += (long)_loads[i].FileSize;
        }

        TotalSize = off;
        var head = new byte[dataOffset];
        // Incomplete until Complete says otherwise (e_flags bit 0; big-endian ppc64 has no such bit, e_flags is the ABI).
        ElfHeaders.WriteCoreHeader(head, machine, phnum, be ? 0 : ElfLayout.DumpElfIncomplete);
        var ph = head.AsSpan(ElfLayout.EhdrSize);
        ElfHeaders.WriteProgramHeader(ph, be, new(ElfLayout.PtNote, 0, (ulong)notesOffset, 0, 0, (ulong)noteBytes.Length, (ulong)noteBytes.Length, 4));
        for (int i = 0; i < _loads.Length; i++)
        {
            var l = _loads[i];
            ElfHeaders.WriteProgramHeader(ph[((i + 1) * ElfLayout.PhdrSize)..], be, new(ElfLayout.PtLoad, 7, (ulong)_offsets[i], l.VirtualAddress, l.PhysicalAddress, l.FileSize, l.MemorySize, 0));
        }

        noteBytes.CopyTo(head, notesOffset);
        _sink.Write(0, head);
        _bufferStart = dataOffset;
        AdvancePastEmptySegments();
    }

    /// <summary>Size of the finished file.</summary>
    public long TotalSize { get; }

    /// <summary>Appends the next bytes of segment data, in PT_LOAD order.</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_segment >= _loads.Length)
            {
                throw new InvalidOperationException("more data than the PT_LOADs' p_filesz");
            }

            int n = (int)Math.Min((ulong)data.Length, _loads[_segment].FileSize - _segmentDone);
            n = Math.Min(n, BufferSize - _buffered);
            data[..n].CopyTo(_buffer.AsSpan(_buffered));
            _buffered += n;
            _segmentDone += (ulong)n;
            data = data[n..];
            if (_buffered == BufferSize)
            {
                FlushBuffer();
            }

            AdvancePastEmptySegments();
        }
    }

    /// <summary>Writes the buffered segment data and flushes (fsyncs) the sink: every byte written so far is durable.</summary>
    public void FlushDurable()
    {
        FlushBuffer();
        _sink.Flush();
    }

    /// <summary>Bytes of the file written so far, buffered ones included (the data reaches the sink in order).</summary>
    public long Length => _bufferStart + _buffered;

    /// <summary>Flushes and checks that every segment got all its bytes.</summary>
    public void Complete()
    {
        FlushBuffer();
        if (_segment < _loads.Length)
        {
            throw new InvalidOperationException(FormattableString.Invariant($"segment {_segment} is short: {_segmentDone} of {_loads[_segment].FileSize} bytes written"));
        }

        if (!_machine.BigEndian)
        {
            // Data durable first, then e_flags without the incomplete bit.
            _sink.Barrier();
            var eh = new byte[ElfLayout.EhdrSize];
            ElfHeaders.WriteCoreHeader(eh, _machine, 1 + _loads.Length);
            _sink.Write(0, eh);
        }

        _sink.Flush();
        _completed = true;
    }

    /// <summary>Writes what was buffered and sets e_flags bit 0 (DUMP_ELF_INCOMPLETE), as makedumpfile does on a failed write.</summary>
    public void MarkIncomplete()
    {
        try
        {
            FlushBuffer();
        }
        catch (IOException)
        {
            // The buffered tail is lost; the flag below is what matters.
        }

        var eh = new byte[ElfLayout.EhdrSize];
        ElfHeaders.WriteCoreHeader(eh, _machine, 1 + _loads.Length, ElfLayout.DumpElfIncomplete);
        _sink.Write(0, eh);
        _sink.Flush();
    }

    public bool IsCompleted => _completed;

    public void Dispose() => _sink.Dispose();

    private void AdvancePastEmptySegments()
    {
        while (_segment < _loads.Length && _segmentDone == _loads[_segment].FileSize)
        {
            _segment++;
            _segmentDone = 0;
        }
    }

    private void FlushBuffer()
    {
        if (_buffered > 0)
        {
            _sink.Write(_bufferStart, _buffer.AsSpan(0, _buffered));
            _bufferStart += _buffered;
            _buffered = 0;
        }
    }

    private static long AlignUp(long v, long a) => (v + a - 1) / a * a;
}
