using System.Text;

namespace Fadump.Kernel.Structures;

/// <summary>
/// The lockless printk ring buffer (kernel/printk/printk_ringbuffer.{c,h}, Linux ≥ 5.10) laid out in
/// RAM as the 6.1 kernel has it: printk_rb_static with its descriptor ring, info array and data ring,
/// and the prb pointer. Records are appended finalized; the descriptor and data rings wrap as the
/// kernel's do (BLK0_LPOS starts the data ring at −size, DESC0_ID the ids at −(count + 1)).
/// </summary>
public sealed class PrintkRingBuffer : IKernelLog
{
    private const ulong DescFlagsShift = 62;
    private const ulong DescIdMask = ~(3UL << 62);
    private const ulong StateCommitted = 1;
    private const ulong StateFinalized = 2;
    private const ulong StateReusable = 3;
    private const int DescSize = 24;
    private const int InfoSize = 88;

    /// <summary>CONFIG_LOG_BUF_SHIFT=18 (Debian's 6.1 on every architecture).</summary>
    public const int LogBufShift = 18;

    /// <summary>Descriptor count bits: LOG_BUF_SHIFT − PRB_AVGBITS (5).</summary>
    public const int DescCountBits = LogBufShift - 5;

    private readonly KernelMemoryWriter _w;
    private readonly ulong _rb;
    private readonly ulong _descs;
    private readonly ulong _infos;
    private readonly ulong _data;
    private readonly int _countBits = DescCountBits;
    private readonly int _sizeBits = LogBufShift;
    private readonly List<string> _lines = [];
    private ulong _headId;
    private ulong _tailId;
    private ulong _headLpos;
    private ulong _tailLpos;
    private ulong _seq;

    /// <summary>Lays out an empty ring at the arch's printk symbols (writer and layout of one architecture).</summary>
    public PrintkRingBuffer(KernelMemoryWriter writer, Arch.KernelArch arch)
    {
        _w = writer;
        var image = arch.Image;
        _rb = arch.Sym(image.PrintkRbStatic);
        _descs = arch.Sym(image.PrintkDescs);
        _infos = arch.Sym(image.PrintkInfos);
        _data = arch.Sym(image.LogBuf);
        ulong prb = arch.Sym(image.Prb), clearSeq = arch.Sym(image.ClearSeq);
        ulong count = 1UL << _countBits;
        ulong size = 1UL << _sizeBits;
        _headId = _tailId = unchecked(0 - (count + 1)) & DescIdMask;
        _headLpos = _tailLpos = unchecked(0 - size);

        _w.U64(prb, _rb);
        _w.U32(_rb + 0, (uint)_countBits);           // desc_ring.count_bits
        _w.U64(_rb + 8, _descs);                      // desc_ring.descs
        _w.U64(_rb + 16, _infos);                     // desc_ring.infos
        _w.U32(_rb + 48, (uint)_sizeBits);           // text_data_ring.size_bits
        _w.U64(_rb + 56, _data);                      // text_data_ring.data
        _w.U64(_rb + 80, 0);                          // fail
        // The initial descriptor is reusable, with its data "lost" (BLK0_LPOS + FAILED_LPOS).
        ulong idx = _headId & (count - 1);
        _w.U64(_descs + (idx * DescSize), (StateReusable << (int)DescFlagsShift) | _headId);
        _w.U64(_descs + (idx * DescSize) + 8, 1);
        _w.U64(_descs + (idx * DescSize) + 16, 1);
        _w.U64(_infos + (idx * InfoSize), unchecked(0 - count)); // seq of DESC0 as the kernel sets it
        Publish();
        // clear_seq (latched_seq: seqcount, val[2])
        _w.U64(clearSeq, 0);
        _w.U64(clearSeq + 8, 0);
        _w.U64(clearSeq + 16, 0);
    }

    /// <summary>Every line logged, as makedumpfile --dump-dmesg would print it (timestamp prefix included).</summary>
    public IReadOnlyList<string> Lines => _lines;

    /// <summary>Appends one record. level is the syslog level (0 emerg .. 7 debug); caller is the CPU.</summary>
    public void Log(TimeSpan sinceBoot, int level, int cpu, string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        ulong count = 1UL << _countBits;
        ulong size = 1UL << _sizeBits;
        ulong id = (_headId + 1) & DescIdMask;
        ulong idx = id & (count - 1);

        // Reserve data: blocks are {unsigned long id; char text[]}, 8-aligned.
        ulong blk = (ulong)((8 + bytes.Length + 7) & ~7);
        if (blk > size / 2)
        {
            bytes = bytes[..(int)((size / 2) - 8)];
            blk = (ulong)((8 + bytes.Length + 7) & ~7);
        }

        ulong begin = _headLpos;
        ulong next = begin + blk;
        bool wraps = (begin >> _sizeBits) != ((next - 1) >> _sizeBits);
        if (wraps)
        {
            // The block goes at the start of the next wrap; the tail end of this wrap is wasted.
            next = (((begin >> _sizeBits) + 1) << _sizeBits) + blk;
        }

        // Push the tail forward past data that is about to be overwritten (and its descriptors).
        while (next - _tailLpos > size)
        {
            DropOldest();
        }

        if (((id - _tailId) & DescIdMask) >= count)
        {
            DropOldest();
        }

        ulong at = wraps ? 0 : begin & (size - 1);
        _w.U64(_data + at, id);
        _w.Bytes(_data + at + 8, bytes);
        _headLpos = next;

        ulong d = _descs + (idx * DescSize);
        _w.U64(d + 8, begin);
        _w.U64(d + 16, next);
        ulong info = _infos + (idx * InfoSize);
        _w.U64(info + 0, _seq);
        ulong ns = (ulong)(sinceBoot.Ticks * 100);
        _w.U64(info + 8, ns);
        _w.U16(info + 16, (ushort)bytes.Length);
        _w.Bytes(info + 18, [0, (byte)(_w.BigEndian ? (level & 7) : ((level & 7) << 5))]); // facility, flags:5 level:3
        _w.U32(info + 20, 0x80000000u | (uint)cpu);
        _w.Bytes(info + 24, new byte[64]);
        _w.U64(d, (StateFinalized << (int)DescFlagsShift) | id);
        _headId = id;
        _seq++;
        Publish();

        ulong sec = ns / 1_000_000_000, usec = ns % 1_000_000_000 / 1000;
        _lines.Add(FormattableString.Invariant($"[{sec,5}.{usec:000000}] {text}"));
    }

    private void DropOldest()
    {
        // desc_push_tail: the tail descriptor becomes reusable, its data is given up, the tail moves on.
        ulong count = 1UL << _countBits;
        ulong d = _descs + ((_tailId & (count - 1)) * DescSize);
        ulong state = _w.ReadU64(d) >> (int)DescFlagsShift;
        if (state != StateReusable)
        {
            _tailLpos = _w.ReadU64(d + 16);
            _w.U64(d, (StateReusable << (int)DescFlagsShift) | _tailId);
            _lines.RemoveAt(0);
        }

        _tailId = (_tailId + 1) & DescIdMask;
        if (_tailId == ((_headId + 1) & DescIdMask))
        {
            // Everything was dropped: the data ring is empty.
            _tailLpos = _headLpos;
        }
    }

    private void Publish()
    {
        _w.U64(_rb + 24, _headId);   // desc_ring.head_id
        _w.U64(_rb + 32, _tailId);   // desc_ring.tail_id
        _w.U64(_rb + 64, _headLpos); // text_data_ring.head_lpos
        _w.U64(_rb + 72, _tailLpos); // text_data_ring.tail_lpos
    }
}
