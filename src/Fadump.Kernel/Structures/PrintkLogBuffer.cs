using System.Globalization;
using System.Text;
using Fadump.Kernel.Arch;

namespace Fadump.Kernel.Structures;

/// <summary>
/// printk's buffer before Linux 3.5 (kernel/printk.c of 2.6.25 – 3.4): a plain character array __log_buf of
/// 2^CONFIG_LOG_BUF_SHIFT bytes written as a circle, each message as "&lt;level&gt;[seconds.micros] text\n"
/// (CONFIG_PRINTK_TIME), with the variables makedumpfile and crash read through VMCOREINFO: the log_buf
/// pointer, log_end (an unsigned running index since 2.6.25; the write position is log_end &amp;
/// LOG_BUF_MASK), log_buf_len and logged_chars.
/// </summary>
public sealed class PrintkLogBuffer : IKernelLog
{
    /// <summary>CONFIG_LOG_BUF_SHIFT=17 (Debian's 2.6.32 powerpc64 and most distributions of that time).</summary>
    public const int LogBufShift = 17;

    // Where the image keeps the variables of this generation: the slots the 6.1 image gives prb and
    // printk_rb_static, which an old kernel does not have.
    private const ulong LogEndOffset = 0;
    private const ulong LogBufLenOffset = 4;
    private const ulong LoggedCharsOffset = 8;

    private readonly KernelMemoryWriter _w;
    private readonly ulong _buf;
    private readonly ulong _logEnd;
    private readonly ulong _loggedChars;
    private readonly List<string> _lines = [];
    private uint _end;
    private uint _logged;

    public PrintkLogBuffer(KernelMemoryWriter writer, KernelArch arch)
    {
        _w = writer;
        _buf = arch.Sym(arch.Image.LogBuf);
        _logEnd = LogEndSymbol(arch);
        _loggedChars = LoggedCharsSymbol(arch);
        _w.U64(LogBufSymbol(arch), _buf); // static char *log_buf = __log_buf
        _w.U32(LogBufLenSymbol(arch), Size);
        _w.U32(_logEnd, 0);
        _w.U32(_loggedChars, 0);
        _w.Bytes(_buf, new byte[Size]);
    }

    public const uint Size = 1U << LogBufShift;

    /// <summary>static char *log_buf.</summary>
    public static ulong LogBufSymbol(KernelArch arch) => arch.Sym(arch.Image.Prb);

    /// <summary>static unsigned log_end.</summary>
    public static ulong LogEndSymbol(KernelArch arch) => arch.Sym(arch.Image.PrintkRbStatic) + LogEndOffset;

    /// <summary>static int log_buf_len.</summary>
    public static ulong LogBufLenSymbol(KernelArch arch) => arch.Sym(arch.Image.PrintkRbStatic) + LogBufLenOffset;

    /// <summary>static unsigned logged_chars.</summary>
    public static ulong LoggedCharsSymbol(KernelArch arch) => arch.Sym(arch.Image.PrintkRbStatic) + LoggedCharsOffset;

    public IReadOnlyList<string> Lines => _lines;

    public void Log(TimeSpan sinceBoot, int level, int cpu, string text)
    {
        long us = sinceBoot.Ticks / 10;
        string stamp = string.Create(CultureInfo.InvariantCulture, $"[{us / 1_000_000,5}.{us % 1_000_000:000000}] ");
        _lines.Add(stamp + text);
        byte[] bytes = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"<{level}>{stamp}{text}\n"));
        ReadOnlySpan<byte> rest = bytes;
        if (rest.Length > Size)
        {
            rest = rest[^(int)Size..]; // only the last log_buf_len characters survive
            _end += (uint)(bytes.Length - rest.Length);
        }

        while (rest.Length > 0)
        {
            uint at = _end & (Size - 1);
            int n = (int)Math.Min((uint)rest.Length, Size - at);
            _w.Bytes(_buf + at, rest[..n]);
            _end += (uint)n;
            rest = rest[n..];
        }

        _logged = (uint)Math.Min((ulong)_logged + (ulong)bytes.Length, Size);
        _w.U32(_logEnd, _end);
        _w.U32(_loggedChars, _logged);
    }
}
