using Fadump.Formats;

namespace Fadump.Tools.Inspect;

/// <summary>
/// Reads log_buf of kernels before the lockless ring buffer, as makedumpfile's dump_dmesg does:
/// variable-length struct printk_log records (Linux 3.5 – 5.9; the struct was named "log" until
/// 3.11) walked from log_first_idx to log_next_idx, or plain text ended by log_end (before 3.5).
/// </summary>
internal sealed class PrintkLogBufferReader
{
    /// <summary>LOG_BUF_LEN_MAX: log_buf_len is an int and never above 2 GiB.</summary>
    internal const long MaxLogBufLen = 1L << 31;

    /// <summary>Plain-text logs are returned whole; cap the copy (old kernels: at most a few MiB).</summary>
    internal const int MaxPlainTextLen = 1 << 26;

    private readonly KernelAddressSpace _kernel;
    private readonly List<string> _warnings;
    private readonly string _path;

    public PrintkLogBufferReader(KernelAddressSpace kernel, List<string> warnings)
    {
        _kernel = kernel;
        _warnings = warnings;
        _path = kernel.Dump.Path;
    }

    /// <summary>True when VMCOREINFO describes the pre-3.5 plain-text buffer (it exports log_end).</summary>
    public static bool IsPlainText(KernelAddressSpace kernel) =>
        kernel.VmcoreInfo.Symbol("log_end") is not null
        && (KernelVersion.Parse(kernel.VmcoreInfo.OsRelease) is not { } v || v < new Version(3, 5));

    public List<KernelLogRecord> ReadRecords()
    {
        var info = _kernel.VmcoreInfo;
        var l = new StructLayout(info, _path, "the kernel log buffer (log_buf)");

        // "printk_log" since 3.11, "log" for 3.5 - 3.10; makedumpfile accepts both.
        string type = info.Size("printk_log") is not null ? "printk_log" : "log";
        int headerSize = l.Size(type);
        int tsOff = l.Offset($"{type}.ts_nsec", 8, headerSize);
        int lenOff = l.Offset($"{type}.len", 2, headerSize);
        int textLenOff = l.Offset($"{type}.text_len", 2, headerSize);
        int? callerOff = l.OptionalOffset($"{type}.caller_id", 4, headerSize);

        ulong logBuf = _kernel.ReadU64(l.Symbol("log_buf"), "the log_buf pointer");
        long bufLen = (int)_kernel.ReadU32(l.Symbol("log_buf_len"), "log_buf_len");
        uint firstIdx = _kernel.ReadU32(l.Symbol("log_first_idx"), "log_first_idx");
        uint nextIdx = _kernel.ReadU32(l.Symbol("log_next_idx"), "log_next_idx");
        if (bufLen < headerSize || bufLen > MaxLogBufLen)
        {
            throw new DumpFormatException(_path, FormattableString.Invariant(
                $"log_buf_len {bufLen}: expected {headerSize} to {MaxLogBufLen}"));
        }

        bool be = _kernel.BigEndian;
        var records = new List<KernelLogRecord>();
        var header = new byte[headerSize];
        ulong maxIdx = (ulong)(bufLen - headerSize);

        void ReadHeader(ulong idx) =>
            _kernel.ReadVirtualExactly(logBuf + idx, header, $"the {type} record at log_buf index {idx}");

        ushort LenAt(ulong idx)
        {
            ReadHeader(idx);
            return Endian.U16(header.AsSpan(lenOff), be);
        }

        // log_next: a record with len == 0 marks the end of the buffer; the record is really the
        // one at index 0, and the walk continues after it. Null: the next index is outside log_buf.
        ulong? Next(ulong idx)
        {
            ushort len = LenAt(idx);
            ulong n = len == 0 ? LenAt(0) : idx + len;
            return n <= maxIdx ? n : null;
        }

        if (firstIdx > maxIdx)
        {
            _warnings.Add(FormattableString.Invariant($"log_first_idx {firstIdx} is outside the {bufLen}-byte log_buf"));
            return records;
        }

        // makedumpfile stops on an index outside log_buf, and on a cycle after writing it once
        // (detect_cycle). Find the cycle first (Brent, constant memory), then walk at most up to it.
        long limit = RecordsBeforeRepeat(firstIdx, nextIdx, Next);
        ulong ptr = firstIdx;
        for (long i = 0; ptr != nextIdx && (limit < 0 || i < limit); i++)
        {
            ulong logPtr = LenAt(ptr) == 0 ? 0 : ptr;
            ReadHeader(logPtr);
            ulong ts = Endian.U64(header.AsSpan(tsOff), be);
            int textLen = Endian.U16(header.AsSpan(textLenOff), be);
            uint? caller = callerOff is { } co ? Endian.U32(header.AsSpan(co), be) : null;
            ulong textIdx = logPtr + (ulong)headerSize;
            ulong room = (ulong)bufLen - textIdx;
            if ((ulong)textLen > room)
            {
                _warnings.Add(FormattableString.Invariant($"log record at index {logPtr}: text_len {textLen} runs past log_buf: truncated"));
                textLen = (int)room;
            }

            var text = new byte[textLen];
            _kernel.ReadVirtualExactly(logBuf + textIdx, text, $"the text of the {type} record at log_buf index {logPtr}");
            records.Add(new KernelLogRecord(null, ts, text, caller));

            if (Next(ptr) is not { } n)
            {
                _warnings.Add(FormattableString.Invariant($"the log_buf index after the record at {logPtr} is outside log_buf: the buffer is corrupt, log truncated"));
                break;
            }

            ptr = n;
        }

        if (limit >= 0)
        {
            _warnings.Add(FormattableString.Invariant($"cycle in log_buf (first index {firstIdx}, next index {nextIdx}): the buffer is corrupt, log truncated"));
        }

        return records;
    }

    /// <summary>
    /// Number of distinct indices the walk from first visits before repeating itself (prefix plus
    /// one turn of the cycle), or -1 when it reaches end or leaves the buffer first. Every index is
    /// inside log_buf and the walk is deterministic, so it ends or repeats within log_buf_len steps.
    /// </summary>
    private static long RecordsBeforeRepeat(ulong first, ulong end, Func<ulong, ulong?> next)
    {
        // Brent's algorithm: find the cycle length lambda, then its start mu.
        long power = 1, lambda = 1;
        ulong tortoise = first;
        if (first == end || next(first) is not { } hare)
        {
            return -1;
        }

        while (tortoise != hare)
        {
            if (hare == end)
            {
                return -1;
            }

            if (power == lambda)
            {
                tortoise = hare;
                power *= 2;
                lambda = 0;
            }

            if (next(hare) is not { } h)
            {
                return -1;
            }

            hare = h;
            lambda++;
        }

        ulong t = first, u = first;
        for (long i = 0; i < lambda; i++)
        {
            u = next(u)!.Value;
        }

        long mu = 0;
        while (t != u)
        {
            t = next(t)!.Value;
            u = next(u)!.Value;
            mu++;
        }

        return mu + lambda;
    }

    /// <summary>The pre-3.5 buffer: the last log_buf_len bytes written, oldest first (makedumpfile dump_dmesg).</summary>
    public byte[] ReadPlainText()
    {
        var info = _kernel.VmcoreInfo;
        var l = new StructLayout(info, _path, "the kernel log buffer (log_buf)");
        ulong logBuf = _kernel.ReadU64(l.Symbol("log_buf"), "the log_buf pointer");
        long bufLen = (int)_kernel.ReadU32(l.Symbol("log_buf_len"), "log_buf_len");

        // log_end became "unsigned" (32-bit) in 2.6.25; it was "unsigned long" before.
        ulong logEndSym = l.Symbol("log_end");
        ulong logEnd = KernelVersion.Parse(info.OsRelease) is { } v && v < new Version(2, 6, 25)
            ? _kernel.ReadU64(logEndSym, "log_end")
            : _kernel.ReadU32(logEndSym, "log_end");
        if (bufLen <= 0 || bufLen > MaxPlainTextLen || (bufLen & (bufLen - 1)) != 0)
        {
            throw new DumpFormatException(_path, FormattableString.Invariant(
                $"log_buf_len {bufLen}: expected a power of two up to {MaxPlainTextLen}"));
        }

        if (logEnd < (ulong)bufLen)
        {
            var text = new byte[logEnd];
            _kernel.ReadVirtualExactly(logBuf, text, "log_buf");
            return text;
        }

        var all = new byte[bufLen];
        int index = (int)(logEnd & (ulong)(bufLen - 1));
        _kernel.ReadVirtualExactly(logBuf + (ulong)index, all.AsSpan(0, (int)bufLen - index), "log_buf");
        _kernel.ReadVirtualExactly(logBuf, all.AsSpan((int)bufLen - index), "log_buf");
        return all;
    }
}
