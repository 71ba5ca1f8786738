using System.Globalization;
using System.Text;

namespace Fadump.Tools.Inspect;

/// <summary>
/// Writes records as makedumpfile --dump-dmesg does: "[%5lld.%06ld] " from ts_nsec (seconds and
/// microseconds, truncated), optionally "[%*s] " with the caller id, then the text where '\n'
/// becomes a newline followed by as many spaces as the prefix is long, printable and space
/// characters (C locale: 0x20–0x7e, \t \n \v \f \r) are copied, and any other byte is "\x%02x" of
/// the char; each record ends with '\n'. Nothing else is written: no header, no trailer.
/// </summary>
internal static class MakedumpfileDmesgFormatter
{
    private const ulong NanosecondsPerSecond = 1_000_000_000;
    private const uint CallerCpuFlag = 0x80000000;

    /// <summary>makedumpfile PID_CHARS_DEFAULT.</summary>
    private const int CallerIdWidth = 8;

    public static void Write(Stream output, IEnumerable<KernelLogRecord> records, bool callerId, bool signedChar)
    {
        var sb = new StringBuilder();
        var buffer = new MemoryStream();
        foreach (var r in records)
        {
            sb.Clear();
            ulong seconds = r.TimestampNanoseconds / NanosecondsPerSecond;
            ulong micros = r.TimestampNanoseconds % NanosecondsPerSecond / 1000;
            sb.Append(CultureInfo.InvariantCulture, $"[{seconds,5}.{micros:D6}] ");
            if (callerId && r.CallerId is { } cid)
            {
                string id = FormattableString.Invariant($"{((cid & CallerCpuFlag) != 0 ? 'C' : 'T')}{cid & ~CallerCpuFlag}");
                sb.Append('[').Append(id.PadLeft(CallerIdWidth)).Append("] ");
            }

            int indent = sb.Length;
            foreach (byte b in r.Text.Span)
            {
                if (b == (byte)'\n')
                {
                    sb.Append('\n').Append(' ', indent);
                }
                else if (b is >= 0x20 and <= 0x7e or >= 0x09 and <= 0x0d)
                {
                    sb.Append((char)b);
                }
                else
                {
                    // (int)(char)b through %02x: sign-extended where char is signed.
                    uint value = signedChar ? (uint)(sbyte)b : b;
                    sb.Append(CultureInfo.InvariantCulture, $"\\x{value:x2}");
                }
            }

            sb.Append('\n');
            byte[] bytes = Encoding.ASCII.GetBytes(sb.ToString());
            buffer.Write(bytes);
            if (buffer.Length >= 1 << 16)
            {
                buffer.WriteTo(output);
                buffer.SetLength(0);
            }
        }

        buffer.WriteTo(output);
    }
}
