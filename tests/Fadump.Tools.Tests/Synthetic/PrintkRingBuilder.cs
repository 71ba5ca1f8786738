using System.Text;

namespace Fadump.Tools.Tests.Synthetic;

/// <summary>
/// Lays out a lockless printk ring buffer (kernel/printk/printk_ringbuffer.[ch], Linux ≥ 5.10) with
/// the natural 64-bit layout Debian's 6.1 VMCOREINFO reports, allocating data blocks the way the
/// kernel's data_alloc/get_next_lpos does (a block that does not fit before the end of the ring
/// keeps its begin lpos and stores its data at the start of the ring).
/// </summary>
internal sealed class PrintkRingBuilder
{
    public const int RingBufferSize = 88, DescRingSize = 48, DataRingSize = 32;
    public const int DescSize = 24, InfoSize = 88, DevInfoSize = 64;
    public const ulong FailedLpos = 0x1, NoLpos = 0x3;

    private const int StateShift = 62;
    private readonly List<Desc> _descs = [];
    private readonly byte[] _data;
    private readonly bool _bigEndian;
    private ulong _headLpos;
    private ulong _nextId;
    private ulong _seq;

    /// <param name="firstId">Id of the first descriptor (its slot is firstId mod 2^countBits).</param>
    /// <param name="firstLpos">Data ring head when the first record is stored (its wrap count and offset).</param>
    public PrintkRingBuilder(bool bigEndian, int countBits, int sizeBits, ulong firstId, ulong firstLpos, ulong firstSeq = 0)
    {
        _bigEndian = bigEndian;
        CountBits = countBits;
        SizeBits = sizeBits;
        _data = new byte[1 << sizeBits];
        _nextId = firstId;
        _headLpos = firstLpos;
        _seq = firstSeq;
        TailId = firstId;
    }

    public enum State
    {
        Reserved = 0,
        Committed = 1,
        Finalized = 2,
        Reusable = 3,
    }

    public int CountBits { get; }

    public int SizeBits { get; }

    public ulong TailId { get; set; }

    /// <summary>Defaults to the last descriptor added.</summary>
    public ulong? HeadId { get; set; }

    public int DataSize => _data.Length;

    /// <summary>Stores a record with data; returns its id.</summary>
    /// <param name="textLen">printk_info.text_len when it should differ from the stored bytes (a truncated record).</param>
    public ulong Add(byte[] text, ulong tsNsec, State state = State.Finalized, uint callerId = 1, int? textLen = null)
    {
        ulong size = (ulong)(8 + text.Length + 7) & ~7UL; // to_blk_size: id + text, long-aligned
        ulong begin = _headLpos;
        ulong next = begin + size;
        bool wraps = (begin >> SizeBits) != (next >> SizeBits);
        if (wraps)
        {
            next = ((next >> SizeBits) << SizeBits) + size;
        }

        ulong id = NextId();
        ulong mask = (ulong)_data.Length - 1;
        WriteLong(begin & mask, id);
        ulong dataOffset = wraps ? 0 : begin & mask;
        WriteLong(dataOffset, id);
        text.CopyTo(_data.AsSpan((int)dataOffset + 8));
        _headLpos = next;
        _descs.Add(new Desc(id, state, begin, next, _seq++, tsNsec, (ushort)(textLen ?? text.Length), callerId));
        return id;
    }

    public ulong Add(string text, ulong tsNsec, State state = State.Finalized, uint callerId = 1) =>
        Add(Encoding.Latin1.GetBytes(text), tsNsec, state, callerId);

    /// <summary>A record without data: FAILED_LPOS (data lost) or NO_LPOS (an empty line).</summary>
    public ulong AddDataless(ulong lpos, ulong tsNsec, State state = State.Finalized)
    {
        ulong id = NextId();
        _descs.Add(new Desc(id, state, lpos, lpos, _seq++, tsNsec, 0, 1));
        return id;
    }

    /// <summary>A descriptor with arbitrary lpos values and text_len (damaged rings).</summary>
    public ulong AddRaw(ulong begin, ulong next, ushort textLen, ulong tsNsec, State state = State.Finalized)
    {
        ulong id = NextId();
        _descs.Add(new Desc(id, state, begin, next, _seq++, tsNsec, textLen, 1));
        return id;
    }

    /// <summary>A slot whose state_var holds another id (a stale descriptor: desc_miss).</summary>
    public ulong AddStale(string text, ulong tsNsec, ulong staleIdDelta)
    {
        ulong id = Add(text, tsNsec);
        _descs[^1] = _descs[^1] with { StateId = (id - staleIdDelta) & ~(3UL << StateShift) };
        return id;
    }

    /// <summary>Writes the ring buffer structures and the VMCOREINFO entries describing them.</summary>
    /// <param name="prbVar">Address of the prb pointer variable.</param>
    /// <param name="rb">Address of the struct printk_ringbuffer.</param>
    public void WriteTo(SyntheticKernel k, ulong prbVar, ulong rb, ulong descs, ulong infos, ulong data)
    {
        ulong count = 1UL << CountBits;
        k.WriteU64(prbVar, rb);
        ulong head = HeadId ?? _descs[^1].Id;

        // struct prb_desc_ring at rb + 0
        k.WriteU32(rb, (uint)CountBits);
        k.WriteU64(rb + 8, descs);
        k.WriteU64(rb + 16, infos);
        k.WriteU64(rb + 24, head);
        k.WriteU64(rb + 32, TailId);
        k.WriteU64(rb + 40, head); // last_finalized_id (6.1; not in VMCOREINFO)

        // struct prb_data_ring at rb + 48
        k.WriteU32(rb + 48, (uint)SizeBits);
        k.WriteU64(rb + 56, data);
        k.WriteU64(rb + 64, _headLpos);
        k.WriteU64(rb + 72, _descs.Count > 0 ? _descs[0].Begin : _headLpos);
        k.WriteU64(rb + 80, 0); // fail

        foreach (var d in _descs)
        {
            ulong slot = d.Id % count;
            ulong desc = descs + (slot * DescSize);
            k.WriteU64(desc, ((ulong)d.State << StateShift) | (d.StateId ?? d.Id));
            k.WriteU64(desc + 8, d.Begin);
            k.WriteU64(desc + 16, d.Next);
            ulong info = infos + (slot * InfoSize);
            k.WriteU64(info, d.Seq);
            k.WriteU64(info + 8, d.TsNsec);
            k.WriteU16(info + 16, d.TextLen);
            k.WriteU32(info + 20, d.CallerId);
        }

        k.Write(data, _data);

        var v = k.Info;
        v.AddSymbol("prb", prbVar);
        v.AddSymbol("printk_rb_static", rb);
        v.AddSymbol("clear_seq", prbVar + 8);
        v.AddSize("printk_ringbuffer", RingBufferSize);
        v.AddOffset("printk_ringbuffer.desc_ring", 0);
        v.AddOffset("printk_ringbuffer.text_data_ring", 48);
        v.AddOffset("printk_ringbuffer.fail", 80);
        v.AddSize("prb_desc_ring", DescRingSize);
        v.AddOffset("prb_desc_ring.count_bits", 0);
        v.AddOffset("prb_desc_ring.descs", 8);
        v.AddOffset("prb_desc_ring.infos", 16);
        v.AddOffset("prb_desc_ring.head_id", 24);
        v.AddOffset("prb_desc_ring.tail_id", 32);
        v.AddSize("prb_desc", DescSize);
        v.AddOffset("prb_desc.state_var", 0);
        v.AddOffset("prb_desc.text_blk_lpos", 8);
        v.AddSize("prb_data_blk_lpos", 16);
        v.AddOffset("prb_data_blk_lpos.begin", 0);
        v.AddOffset("prb_data_blk_lpos.next", 8);
        v.AddSize("printk_info", InfoSize);
        v.AddOffset("printk_info.seq", 0);
        v.AddOffset("printk_info.ts_nsec", 8);
        v.AddOffset("printk_info.text_len", 16);
        v.AddOffset("printk_info.caller_id", 20);
        v.AddOffset("printk_info.dev_info", 24);
        v.AddSize("dev_printk_info", DevInfoSize);
        v.AddOffset("dev_printk_info.subsystem", 0);
        v.AddLength("printk_info_subsystem", 16);
        v.AddOffset("dev_printk_info.device", 16);
        v.AddLength("printk_info_device", 48);
        v.AddSize("prb_data_ring", DataRingSize);
        v.AddOffset("prb_data_ring.size_bits", 0);
        v.AddOffset("prb_data_ring.data", 8);
        v.AddOffset("prb_data_ring.head_lpos", 16);
        v.AddOffset("prb_data_ring.tail_lpos", 24);
        v.AddSize("atomic_long_t", 8);
        v.AddOffset("atomic_long_t.counter", 0);
        v.AddSize("latched_seq", 24);
        v.AddOffset("latched_seq.val", 8);
    }

    /// <summary>Ids live in the low 62 bits of state_var and wrap there (DESC_ID_MASK).</summary>
    private ulong NextId()
    {
        ulong id = _nextId;
        _nextId = (_nextId + 1) & ~(3UL << StateShift);
        return id;
    }

    private void WriteLong(ulong offset, ulong value) => Fadump.Formats.Endian.Write(_data.AsSpan((int)offset, 8), value, _bigEndian);

    private sealed record Desc(ulong Id, State State, ulong Begin, ulong Next, ulong Seq, ulong TsNsec, ushort TextLen, uint CallerId)
    {
        public ulong? StateId { get; init; }
    }
}
