using Fadump.Formats;

namespace Fadump.Tools.Inspect;

/// <summary>
/// Reads the lockless printk ring buffer (kernel/printk/printk_ringbuffer.[ch], Linux ≥ 5.10) the
/// way makedumpfile's dump_lockless_dmesg does: every descriptor id from tail_id to head_id
/// inclusive, keeping committed and finalized records with data. All layouts come from VMCOREINFO.
/// Unlike makedumpfile, nothing is trusted to be bounded: the id walk is capped by the ring's
/// descriptor count and text reads by the data ring's size.
/// </summary>
internal sealed class PrintkRingBufferReader
{
    // kernel/printk/printk_ringbuffer.h: state_var = state (2 high bits) | id.
    private const int DescFlagsShift = 62;
    private const ulong DescIdMask = ~(3UL << DescFlagsShift);
    private const int DescCommitted = 1;
    private const int DescFinalized = 2;

    /// <summary>A data block starts with the unsigned long id of its descriptor.</summary>
    private const int DataBlockIdSize = 8;

    /// <summary>count_bits ≤ 26 and size_bits ≤ 31 cover the kernel's largest log (LOG_BUF_LEN_MAX = 2 GiB).</summary>
    internal const int MaxCountBits = 26;

    internal const int MaxSizeBits = 31;

    /// <summary>Descriptors and infos are read in blocks of this many entries.</summary>
    private const int DescriptorBlock = 256;

    private readonly KernelAddressSpace _kernel;
    private readonly List<string> _warnings;
    private readonly string _path;

    // struct offsets, all checked against their struct sizes
    private readonly int _descSize, _descStateOff, _descBeginOff, _descNextOff;
    private readonly int _infoSize, _infoSeqOff, _infoTsOff, _infoTextLenOff;
    private readonly int? _infoCallerOff;

    private readonly ulong _descsAddr, _infosAddr, _dataAddr;
    private readonly ulong _descCount, _dataSize;
    private readonly ulong _headId, _tailId;

    private long _cachedBlock = -1;
    private byte[]? _descBlock, _infoBlock;

    public PrintkRingBufferReader(KernelAddressSpace kernel, List<string> warnings)
    {
        _kernel = kernel;
        _warnings = warnings;
        _path = kernel.Dump.Path;
        var l = new StructLayout(kernel.VmcoreInfo, _path, "the printk ring buffer");

        int counterSize = l.Size("atomic_long_t");
        int counterOff = l.Offset("atomic_long_t.counter", 8, counterSize);

        int rbSize = l.Size("printk_ringbuffer");
        int descRingSize = l.Size("prb_desc_ring");
        int dataRingSize = l.Size("prb_data_ring");
        int descRingOff = l.Offset("printk_ringbuffer.desc_ring", descRingSize, rbSize);
        int dataRingOff = l.Offset("printk_ringbuffer.text_data_ring", dataRingSize, rbSize);
        int countBitsOff = l.Offset("prb_desc_ring.count_bits", 4, descRingSize);
        int descsOff = l.Offset("prb_desc_ring.descs", 8, descRingSize);
        int infosOff = l.Offset("prb_desc_ring.infos", 8, descRingSize);
        int headOff = l.Offset("prb_desc_ring.head_id", counterSize, descRingSize) + counterOff;
        int tailOff = l.Offset("prb_desc_ring.tail_id", counterSize, descRingSize) + counterOff;
        int sizeBitsOff = l.Offset("prb_data_ring.size_bits", 4, dataRingSize);
        int dataOff = l.Offset("prb_data_ring.data", 8, dataRingSize);

        _descSize = l.Size("prb_desc");
        int lposSize = l.Size("prb_data_blk_lpos");
        _descStateOff = l.Offset("prb_desc.state_var", counterSize, _descSize) + counterOff;
        int blkOff = l.Offset("prb_desc.text_blk_lpos", lposSize, _descSize);
        _descBeginOff = blkOff + l.Offset("prb_data_blk_lpos.begin", 8, lposSize);
        _descNextOff = blkOff + l.Offset("prb_data_blk_lpos.next", 8, lposSize);

        _infoSize = l.Size("printk_info");
        _infoSeqOff = l.Offset("printk_info.seq", 8, _infoSize);
        _infoTsOff = l.Offset("printk_info.ts_nsec", 8, _infoSize);
        _infoTextLenOff = l.Offset("printk_info.text_len", 2, _infoSize);
        _infoCallerOff = l.OptionalOffset("printk_info.caller_id", 4, _infoSize);

        // prb is a pointer variable (to printk_rb_static, or printk_rb_dynamic after setup_log_buf).
        ulong prb = kernel.ReadU64(l.Symbol("prb"), "the prb pointer");
        var rb = new byte[rbSize];
        kernel.ReadVirtualExactly(prb, rb, "struct printk_ringbuffer");
        bool be = kernel.BigEndian;
        ReadOnlySpan<byte> descRing = rb.AsSpan(descRingOff, descRingSize);
        ReadOnlySpan<byte> dataRing = rb.AsSpan(dataRingOff, dataRingSize);

        uint countBits = Endian.U32(descRing[countBitsOff..], be);
        uint sizeBits = Endian.U32(dataRing[sizeBitsOff..], be);
        if (countBits > MaxCountBits)
        {
            throw Bad(prb, FormattableString.Invariant($"desc_ring.count_bits {countBits}: expected at most {MaxCountBits}"));
        }

        if (sizeBits > MaxSizeBits || sizeBits < 3)
        {
            throw Bad(prb, FormattableString.Invariant($"text_data_ring.size_bits {sizeBits}: expected 3 to {MaxSizeBits}"));
        }

        _descCount = 1UL << (int)countBits;
        _dataSize = 1UL << (int)sizeBits;
        _descsAddr = Endian.U64(descRing[descsOff..], be);
        _infosAddr = Endian.U64(descRing[infosOff..], be);
        _dataAddr = Endian.U64(dataRing[dataOff..], be);
        _headId = Endian.U64(descRing[headOff..], be);
        _tailId = Endian.U64(descRing[tailOff..], be);
    }

    public List<KernelLogRecord> ReadAll()
    {
        var records = new List<KernelLogRecord>();

        // makedumpfile walks id = tail_id .. head_id (inclusive) with id = (id + 1) & DESC_ID_MASK.
        // In a sound ring the distance is below the descriptor count; bound it so that a corrupt
        // head/tail pair cannot make the walk endless (only the last count ids can match a slot).
        ulong distance = (_headId - _tailId) & DescIdMask;
        ulong tail = _tailId;
        if (distance >= _descCount)
        {
            _warnings.Add(FormattableString.Invariant(
                $"printk ring buffer: tail_id 0x{_tailId:x} is {distance} ids behind head_id 0x{_headId:x}, more than the {_descCount} descriptors: reading the last {_descCount} ids only"));
            distance = _descCount - 1;
            tail = (_headId - distance) & DescIdMask;
        }

        for (ulong i = 0; i <= distance; i++)
        {
            ulong id = (tail + i) & DescIdMask;
            if (ReadRecord(id) is { } r)
            {
                records.Add(r);
            }
        }

        return records;
    }

    private KernelLogRecord? ReadRecord(ulong id)
    {
        ulong slot = id % _descCount;
        if (!LoadBlock(slot / DescriptorBlock))
        {
            return null;
        }

        bool be = _kernel.BigEndian;
        int inBlock = (int)(slot % DescriptorBlock);
        ReadOnlySpan<byte> desc = _descBlock.AsSpan(inBlock * _descSize, _descSize);
        ulong stateVar = Endian.U64(desc[_descStateOff..], be);

        // get_desc_state: an id mismatch is desc_miss; only committed and finalized records count.
        if ((stateVar & DescIdMask) != id)
        {
            return null;
        }

        int state = (int)(stateVar >> DescFlagsShift);
        if (state is not (DescCommitted or DescFinalized))
        {
            return null;
        }

        ulong begin = Endian.U64(desc[_descBeginOff..], be) % _dataSize;
        ulong next = Endian.U64(desc[_descNextOff..], be) % _dataSize;

        // Data-less blocks (FAILED_LPOS, and NO_LPOS for empty lines) have begin == next: skipped.
        if (begin == next)
        {
            return null;
        }

        ReadOnlySpan<byte> info = _infoBlock.AsSpan(inBlock * _infoSize, _infoSize);
        ulong textLen = Endian.U16(info[_infoTextLenOff..], be);

        // A block that wraps keeps its data at the start of the ring.
        if (begin > next)
        {
            begin = 0;
        }

        begin += DataBlockIdSize;

        // Truncated messages: the block is shorter than text_len (unsigned, as in makedumpfile).
        if (next - begin < textLen)
        {
            textLen = next - begin;
        }

        // makedumpfile would read past its copy of the ring here; stay inside it.
        ulong room = begin < _dataSize ? _dataSize - begin : 0;
        if (textLen > room)
        {
            _warnings.Add(FormattableString.Invariant(
                $"printk record id 0x{id:x}: {textLen} text bytes at ring offset {begin} run past the {_dataSize}-byte data ring: truncated"));
            textLen = room;
        }

        var text = new byte[textLen];
        ulong textAddr = _dataAddr + begin;
        if (_kernel.ReadVirtual(textAddr, text) < text.Length)
        {
            _warnings.Add(FormattableString.Invariant(
                $"printk record id 0x{id:x}: text at 0x{textAddr:x} is not in the dump: skipped"));
            return null;
        }

        ulong seq = Endian.U64(info[_infoSeqOff..], be);
        ulong ts = Endian.U64(info[_infoTsOff..], be);
        uint? caller = _infoCallerOff is { } co ? Endian.U32(info[co..], be) : null;
        return new KernelLogRecord(seq, ts, text, caller);
    }

    private bool LoadBlock(ulong block)
    {
        if ((long)block == _cachedBlock)
        {
            return _descBlock is not null;
        }

        _cachedBlock = (long)block;
        ulong first = block * DescriptorBlock;
        int n = (int)Math.Min(DescriptorBlock, _descCount - first);
        var descs = new byte[n * _descSize];
        var infos = new byte[n * _infoSize];
        ulong descAddr = _descsAddr + (first * (ulong)_descSize);
        ulong infoAddr = _infosAddr + (first * (ulong)_infoSize);
        if (_kernel.ReadVirtual(descAddr, descs) < descs.Length || _kernel.ReadVirtual(infoAddr, infos) < infos.Length)
        {
            _warnings.Add(FormattableString.Invariant(
                $"printk descriptors {first}..{first + (ulong)n - 1} (descs at 0x{descAddr:x}, infos at 0x{infoAddr:x}) are not in the dump: their records are skipped"));
            _descBlock = _infoBlock = null;
            return false;
        }

        _descBlock = descs;
        _infoBlock = infos;
        return true;
    }

    private DumpFormatException Bad(ulong prb, string message) =>
        new(_path, FormattableString.Invariant($"printk_ringbuffer at 0x{prb:x}: {message}"));
}
