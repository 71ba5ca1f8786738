using System.Diagnostics;
using Fadump.Cli;
using Fadump.Tools.Inspect;
using Fadump.Tools.Tests.Service;

namespace Fadump.Tools.Tests.Inspect;

public sealed class HexDumpTests
{
    /// <summary>
    /// The oracle is util-linux's own <c>hexdump -C -v</c> on the same bytes: every line equals ours but for
    /// the address column (ours is the 16-digit dump address, theirs an 8-digit offset), short last row
    /// included. hexdump's final offset-only line has no counterpart.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(16)]
    [InlineData(333)]
    public void Lines_match_hexdump_C(int length)
    {
        var data = new byte[length];
        new Random(length).NextBytes(data);
        data.AsSpan(0, Math.Min(length, 5)).Fill(0x41);
        var w = new StringWriter();
        HexDump.Write(w, 0xc000000000001230, data);

        string file = Path.GetTempFileName();
        File.WriteAllBytes(file, data);
        var psi = new ProcessStartInfo("hexdump", ["-C", "-v", file]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        string theirs = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        File.Delete(file);
        Assert.Equal(0, p.ExitCode);

        var ours = w.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var expected = theirs.Split('\n', StringSplitOptions.RemoveEmptyEntries).SkipLast(1).ToArray();
        Assert.Equal(expected.Length, ours.Length);
        for (int i = 0; i < ours.Length; i++)
        {
            Assert.Equal((0xc000000000001230UL + (ulong)(16 * i)).ToString("x16", System.Globalization.CultureInfo.InvariantCulture), ours[i][..16]);
            Assert.Equal(expected[i][8..], ours[i][16..]);
        }
    }

    /// <summary>fadump read of 64 MiB streams: it allocates a small, fixed amount, not 25 times the length.</summary>
    [Fact]
    public void Read_of_64_MiB_allocates_little()
    {
        using var root = SyntheticRoot.Kdump(patternBytes: 64 << 20);
        string vmcore = Path.Combine(root.Dir, "proc", "vmcore");
        var sink = new CountingWriter();
        var stderr = new StringWriter();
        long before = GC.GetAllocatedBytesForCurrentThread();

        int rc = FadumpCommand.Run(["read", vmcore, "0x" + SyntheticRoot.PatternStart.ToString("x", System.Globalization.CultureInfo.InvariantCulture), "64M", "--physical"], sink, stderr);

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        TestContext.Current.TestOutputHelper?.WriteLine($"fadump read 64M: {allocated} bytes allocated");
        Assert.True(rc == 0, stderr.ToString());
        Assert.Equal((64L << 20) / 16 * 87, sink.Chars);
        Assert.True(allocated < 32L << 20, $"{allocated >> 20} MiB allocated to print 64 MiB");
    }

    private sealed class CountingWriter : TextWriter
    {
        public long Chars { get; private set; }

        public override System.Text.Encoding Encoding => System.Text.Encoding.ASCII;

        public override void Write(char value) => Chars++;

        public override void Write(ReadOnlySpan<char> buffer) => Chars += buffer.Length;
    }
}
