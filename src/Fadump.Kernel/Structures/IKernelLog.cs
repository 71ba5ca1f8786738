namespace Fadump.Kernel.Structures;

/// <summary>
/// printk's buffer in RAM, as one kernel generation lays it out: the lockless ring buffer (Linux 5.10 and
/// later) or the plain-text __log_buf of the kernels before 3.5. The kernel logs through it; tools find it
/// through VMCOREINFO.
/// </summary>
public interface IKernelLog
{
    /// <summary>Every line logged, as makedumpfile --dump-dmesg would print it (timestamp prefix included).</summary>
    IReadOnlyList<string> Lines { get; }

    /// <summary>Appends one message. level is the syslog level (0 emerg .. 7 debug); cpu is the caller.</summary>
    void Log(TimeSpan sinceBoot, int level, int cpu, string text);
}

/// <summary>Helpers over logged lines.</summary>
public static class KernelLogLines
{
    /// <summary>A line without its "[    1.234567] " prefix (printk's, or skiboot's "[   12.345678901,5] "); other lines as they are.</summary>
    public static string WithoutTimestamp(string line) =>
        line.Length > 0 && line[0] == '[' && line.IndexOf("] ", StringComparison.Ordinal) is int i and > 0 ? line[(i + 2)..] : line;
}
