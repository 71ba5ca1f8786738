namespace Fadump.Tools.Inspect;

/// <summary>How the crashed kernel kept its log.</summary>
public enum KernelLogLayout
{
    /// <summary>The lockless printk_ringbuffer (Linux ≥ 5.10): SYMBOL(prb).</summary>
    LocklessRingBuffer,

    /// <summary>Variable-length struct printk_log records in log_buf (Linux 3.5 – 5.9).</summary>
    VariableLengthRecords,

    /// <summary>Plain text in log_buf, ended by log_end (Linux before 3.5).</summary>
    PlainText,
}

/// <summary>One kernel log record.</summary>
/// <param name="Sequence">printk_info.seq (lockless ring buffer only).</param>
/// <param name="TimestampNanoseconds">ts_nsec: local_clock() when the record was stored.</param>
/// <param name="Text">The message bytes as stored (no trailing newline; may hold any byte).</param>
/// <param name="CallerId">caller_id: 0x80000000 | CPU, or a thread id; null when VMCOREINFO has no offset for it.</param>
public sealed record KernelLogRecord(ulong? Sequence, ulong TimestampNanoseconds, ReadOnlyMemory<byte> Text, uint? CallerId);
