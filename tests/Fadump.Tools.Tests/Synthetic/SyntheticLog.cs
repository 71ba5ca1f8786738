using System.Text;

namespace Fadump.Tools.Tests.Synthetic;

/// <summary>
/// The standard test log: a 16-descriptor, 8 KiB printk ring whose records cover what the reader
/// and makedumpfile's format must handle, and the lines makedumpfile prints for it.
/// Descriptor slots wrap (first id 0x3fe9), one data block wraps to the start of the ring, one
/// record's text crosses a page boundary, and reusable, reserved, data-less and stale
/// descriptors are skipped.
/// </summary>
internal static class SyntheticLog
{
    public const int CountBits = 4;
    public const int SizeBits = 13;
    public const ulong FirstId = 0x3fe9;

    /// <summary>Third wrap of the data ring, 256 bytes before its end.</summary>
    public const ulong FirstLpos = (3UL << SizeBits) + 7936;

    public static readonly string LongText = "long:" + string.Concat(Enumerable.Range(0, 4195).Select(i => (char)('a' + (i % 26))));

    public static readonly byte[] NonAscii = [.. "caf"u8, 0xc3, 0xa9, .. " "u8, 0x01, 0x1b, .. "[0m "u8, 0x7f, 0xff, 0x80, .. " done"u8];

    public static PrintkRingBuilder Build(bool bigEndian)
    {
        var b = new PrintkRingBuilder(bigEndian, CountBits, SizeBits, FirstId, FirstLpos, firstSeq: 100);
        b.Add("reusable: already recycled", 1, PrintkRingBuilder.State.Reusable);
        b.Add("Linux version 6.1.0-synthetic-amd64 (fadump@synthetic) #1 SMP PREEMPT_DYNAMIC", 0, PrintkRingBuilder.State.Committed, callerId: 0);
        b.Add("Command line: BOOT_IMAGE=/boot/vmlinuz root=/dev/vda ro", 123_456);
        b.Add("wrapped: this block did not fit before the end of the ring", 1_000_000_000);
        b.Add("first line\nsecond line\n\tthird line with tab\r\vend", 1_500_000_000, callerId: 0x80000003);
        b.Add(NonAscii, 2_000_999_999);
        b.Add("reserved, being written", 2_500_000_000, PrintkRingBuilder.State.Reserved);
        b.AddDataless(PrintkRingBuilder.NoLpos, 2_600_000_000);
        b.AddDataless(PrintkRingBuilder.FailedLpos, 2_700_000_000);
        b.Add(Encoding.ASCII.GetBytes("truncated rec"), 3_000_000_000, textLen: 200);
        b.Add(LongText, 4_000_000_000);
        b.AddStale("stale slot", 5_000_000_000, staleIdDelta: 16);
        b.Add("the last record", 123_456_789_012_345, callerId: 4242);
        return b;
    }

    /// <summary>makedumpfile's lines; signedChar: char is signed (x86_64 build), callerId: makedumpfile ≥ 1.7.5.</summary>
    public static string[] ExpectedLines(bool signedChar, bool callerId = false)
    {
        string X(int b) => signedChar && b >= 0x80 ? $"\\xffffff{b:x2}" : $"\\x{b:x2}";
        string P(string ts, string caller) => callerId ? $"[{ts}] [{caller,8}] " : $"[{ts}] ";
        string p4 = P("    1.500000", "C3");
        string indent = new(' ', p4.Length);
        return
        [
            P("    0.000000", "T0") + "Linux version 6.1.0-synthetic-amd64 (fadump@synthetic) #1 SMP PREEMPT_DYNAMIC",
            P("    0.000123", "T1") + "Command line: BOOT_IMAGE=/boot/vmlinuz root=/dev/vda ro",
            P("    1.000000", "T1") + "wrapped: this block did not fit before the end of the ring",
            p4 + "first line",
            indent + "second line",
            indent + "\tthird line with tab\r\vend",
            P("    2.000999", "T1") + $"caf{X(0xc3)}{X(0xa9)} {X(0x01)}{X(0x1b)}[0m {X(0x7f)}{X(0xff)}{X(0x80)} done",
            P("    3.000000", "T1") + "truncated rec\\x00\\x00\\x00",
            P("    4.000000", "T1") + LongText,
            P("123456.789012", "T4242") + "the last record",
        ];
    }
}
