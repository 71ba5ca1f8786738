using System.Text;
using Fadump.Formats;

namespace Fadump.Tools.Tests.Synthetic;

/// <summary>
/// Lays out log_buf of Linux 3.5 – 5.9: variable-length struct printk_log records
/// {u64 ts_nsec; u16 len; u16 text_len; u16 dict_len; u8 facility; u8 flags:5, level:3;
/// [u32 caller_id]} followed by text and dict, padded to 8 (LOG_ALIGN), stored the way
/// log_store does: a record that does not fit before the end (with room for one more header)
/// leaves a zeroed header (len 0) there and goes to index 0.
/// </summary>
internal sealed class PrintkLogBufferBuilder
{
    private readonly byte[] _buf;
    private readonly bool _be;
    private readonly int _headerSize;

    public PrintkLogBufferBuilder(bool bigEndian, int bufLen, uint firstIdx, bool callerId = false, string structName = "printk_log")
    {
        _be = bigEndian;
        _buf = new byte[bufLen];
        CallerId = callerId;
        StructName = structName;
        _headerSize = callerId ? 24 : 16;
        FirstIdx = NextIdx = firstIdx;
    }

    public bool CallerId { get; }

    public string StructName { get; }

    public uint FirstIdx { get; set; }

    public uint NextIdx { get; set; }

    public int Length => _buf.Length;

    /// <summary>Stores a record; returns its index.</summary>
    public uint Add(string text, ulong tsNsec, string dict = "", uint callerId = 1)
    {
        byte[] t = Encoding.Latin1.GetBytes(text), d = Encoding.ASCII.GetBytes(dict);
        int size = (_headerSize + t.Length + d.Length + 7) & ~7;
        if (NextIdx + size + _headerSize > _buf.Length)
        {
            _buf.AsSpan((int)NextIdx, _headerSize).Clear();
            NextIdx = 0;
        }

        uint at = NextIdx;
        WriteHeader(at, tsNsec, (ushort)size, (ushort)t.Length, (ushort)d.Length, callerId);
        t.CopyTo(_buf, at + _headerSize);
        d.CopyTo(_buf, at + _headerSize + t.Length);
        NextIdx = at + (uint)size;
        return at;
    }

    /// <summary>Overwrites a record's len field (to make the buffer corrupt).</summary>
    public void SetLen(uint idx, ushort len) => Endian.Write(_buf.AsSpan((int)idx + 8), len, _be);

    /// <summary>
    /// Writes log_buf (at data), the log_buf pointer, log_buf_len, log_first_idx, clear_idx and
    /// log_next_idx variables (at vars, 32 bytes) and the VMCOREINFO entries (log_buf_vmcoreinfo_setup).
    /// </summary>
    public void WriteTo(SyntheticKernel k, ulong vars, ulong data)
    {
        k.Write(data, _buf);
        ulong logBufVar = vars, lenVar = vars + 8, firstVar = vars + 12, clearVar = vars + 16, nextVar = vars + 20;
        k.WriteU64(logBufVar, data);
        k.WriteU32(lenVar, (uint)_buf.Length);
        k.WriteU32(firstVar, FirstIdx);
        k.WriteU32(clearVar, FirstIdx);
        k.WriteU32(nextVar, NextIdx);
        var v = k.Info;
        v.AddSymbol("log_buf", logBufVar);
        v.AddSymbol("log_buf_len", lenVar);
        v.AddSymbol("log_first_idx", firstVar);
        v.AddSymbol("clear_idx", clearVar);
        v.AddSymbol("log_next_idx", nextVar);
        v.AddSize(StructName, _headerSize);
        v.AddOffset($"{StructName}.ts_nsec", 0);
        v.AddOffset($"{StructName}.len", 8);
        v.AddOffset($"{StructName}.text_len", 10);
        v.AddOffset($"{StructName}.dict_len", 12);
        if (CallerId)
        {
            v.AddOffset($"{StructName}.caller_id", 16);
        }
    }

    private void WriteHeader(uint at, ulong ts, ushort len, ushort textLen, ushort dictLen, uint callerId)
    {
        var h = _buf.AsSpan((int)at, _headerSize);
        Endian.Write(h, ts, _be);
        Endian.Write(h[8..], len, _be);
        Endian.Write(h[10..], textLen, _be);
        Endian.Write(h[12..], dictLen, _be);
        h[14] = 0;           // facility
        h[15] = 6 << 5;      // level 6 (LOGLEVEL_INFO) in the high bits on x86 bitfield order; unused by readers
        if (CallerId)
        {
            Endian.Write(h[16..], callerId, _be);
        }
    }
}
