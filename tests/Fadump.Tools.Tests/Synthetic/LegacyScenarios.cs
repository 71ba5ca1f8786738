namespace Fadump.Tools.Tests.Synthetic;

/// <summary>Synthetic kernels with the log_buf of kernels before 5.10.</summary>
internal static class LegacyScenarios
{
    public const int BufLen = 4096;

    /// <summary>Where <see cref="Build"/> puts its records (16-byte headers; the marker is at 4080).</summary>
    public static readonly uint[] RecordIndex = [3904, 3952, 4000, 4048, 0, 40];

    /// <summary>
    /// Six records starting 192 bytes before the end of a 4 KiB log_buf: the fifth does not fit
    /// and goes to index 0 behind a len-0 marker. Dicts are stored but never printed.
    /// </summary>
    public static PrintkLogBufferBuilder Build(bool bigEndian, bool callerId = false, string structName = "printk_log")
    {
        var b = new PrintkLogBufferBuilder(bigEndian, BufLen, BufLen - 192, callerId, structName);
        b.Add("Linux version 5.4.0-synthetic", 0, callerId: 0);
        b.Add("second record", 1_000_000, dict: "SUBSYSTEM=pci");
        b.Add("third record, still at the end", 2_000_000);
        b.Add("fourth: \x01 fits", 3_000_000);
        b.Add("fifth record wraps now", 4_000_000, callerId: 0x80000001);
        b.Add("sixth\nmulti-line", 5_000_000);
        return b;
    }

    public static string[] ExpectedLines(bool callerId = false)
    {
        string P(string ts, string caller) => callerId ? $"[{ts}] [{caller,8}] " : $"[{ts}] ";
        string p6 = P("    0.005000", "T1");
        return
        [
            P("    0.000000", "T0") + "Linux version 5.4.0-synthetic",
            P("    0.001000", "T1") + "second record",
            P("    0.002000", "T1") + "third record, still at the end",
            P("    0.003000", "T1") + "fourth: \\x01 fits",
            P("    0.004000", "C1") + "fifth record wraps now",
            p6 + "sixth",
            new string(' ', p6.Length) + "multi-line",
        ];
    }

    /// <summary>x86_64, log_buf and its variables static in the kernel image (__log_buf).</summary>
    public static SyntheticX86_64 X86_64(PrintkLogBufferBuilder b, string release = "5.4.0-synthetic-amd64")
    {
        var x = new SyntheticX86_64(release);
        b.WriteTo(x.Kernel, x.AllocImage(32, 8), x.AllocImage(b.Length, 64));
        return x;
    }

    public static SyntheticPpc64 Ppc64(PrintkLogBufferBuilder b, bool bigEndian)
    {
        var p = new SyntheticPpc64(bigEndian, "5.4.0-synthetic");
        b.WriteTo(p.Kernel, p.Alloc(32, 8), p.Alloc(b.Length, 64));
        return p;
    }
}
