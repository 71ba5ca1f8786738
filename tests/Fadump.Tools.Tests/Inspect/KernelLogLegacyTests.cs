using System.Text;
using Fadump.Formats;
using Fadump.Tools.Inspect;
using Fadump.Tools.Tests.Synthetic;

namespace Fadump.Tools.Tests.Inspect;

/// <summary>log_buf before the lockless ring buffer (makedumpfile.c dump_dmesg / dump_log_entry).</summary>
public sealed class KernelLogLegacyTests
{
    [Fact]
    public void Variable_length_records_are_walked_across_the_wrap_marker()
    {
        using var dump = LegacyScenarios.X86_64(LegacyScenarios.Build(bigEndian: false)).Kernel.Open();

        var log = KernelLog.Read(dump);

        Assert.Equal(KernelLogLayout.VariableLengthRecords, log.Layout);
        Assert.Empty(log.Warnings);
        Assert.Equal(LegacyScenarios.ExpectedLines(), log.ToMakedumpfileLines());
        Assert.All(log.Records, r => Assert.Null(r.Sequence));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Ppc64_records_in_either_byte_order(bool bigEndian)
    {
        using var dump = LegacyScenarios.Ppc64(LegacyScenarios.Build(bigEndian), bigEndian).Kernel.Open();

        Assert.Equal(LegacyScenarios.ExpectedLines(), KernelLog.Read(dump).ToMakedumpfileLines());
    }

    [Fact]
    public void The_caller_id_of_printk_caller_kernels_is_read_and_printed_on_request()
    {
        using var dump = LegacyScenarios.X86_64(LegacyScenarios.Build(false, callerId: true)).Kernel.Open();

        var log = KernelLog.Read(dump);

        Assert.Equal(LegacyScenarios.ExpectedLines(), log.ToMakedumpfileLines());
        Assert.Equal(LegacyScenarios.ExpectedLines(callerId: true), log.ToMakedumpfileLines(DmesgFormatOptions.Makedumpfile175));
    }

    [Fact]
    public void The_3_5_to_3_10_struct_name_log_is_accepted()
    {
        using var dump = LegacyScenarios.X86_64(LegacyScenarios.Build(false, structName: "log"), "3.10.0-synthetic").Kernel.Open();

        Assert.Equal(LegacyScenarios.ExpectedLines(), KernelLog.Read(dump).ToMakedumpfileLines());
    }

    [Fact]
    public void A_cycle_is_printed_once_and_reported()
    {
        var b = LegacyScenarios.Build(false);
        b.SetLen(LegacyScenarios.RecordIndex[5], 4048 - 40); // the sixth record now leads back to the fourth
        using var dump = LegacyScenarios.X86_64(b).Kernel.Open();

        var log = KernelLog.Read(dump);

        Assert.Equal(LegacyScenarios.ExpectedLines(), log.ToMakedumpfileLines());
        Assert.Contains(log.Warnings, w => w.Contains("cycle", StringComparison.Ordinal));
    }

    [Fact]
    public void An_index_outside_log_buf_ends_the_log()
    {
        var b = LegacyScenarios.Build(false);
        b.SetLen(LegacyScenarios.RecordIndex[2], 200); // the third record's len points past the end
        using var dump = LegacyScenarios.X86_64(b).Kernel.Open();

        var log = KernelLog.Read(dump);

        Assert.Equal(LegacyScenarios.ExpectedLines()[..3], log.ToMakedumpfileLines());
        Assert.Contains(log.Warnings, w => w.Contains("outside log_buf", StringComparison.Ordinal));
    }

    [Fact]
    public void An_impossible_log_buf_len_is_rejected()
    {
        var x = LegacyScenarios.X86_64(LegacyScenarios.Build(false));
        x.Kernel.WriteU32(x.Kernel.Info.Symbol("log_buf_len")!.Value, 0x80000000);
        using var dump = x.Kernel.Open();

        var e = Assert.Throws<DumpFormatException>(() => KernelLog.Read(dump));
        Assert.Contains("log_buf_len", e.Message);
    }

    [Fact]
    public void A_pre_3_5_plain_text_log_is_copied_up_to_log_end()
    {
        using var dump = PlainTextKernel(20).Kernel.Open();

        var log = KernelLog.Read(dump);

        Assert.Equal(KernelLogLayout.PlainText, log.Layout);
        Assert.Equal("<6>Linux version 3.0", Encoding.Latin1.GetString(log.ToMakedumpfileBytes()));
    }

    [Fact]
    public void A_pre_3_5_plain_text_log_that_wrapped_is_rotated_oldest_first()
    {
        const uint logEnd = (3 * 64) + 10;
        using var dump = PlainTextKernel(logEnd).Kernel.Open();

        string got = Encoding.Latin1.GetString(KernelLog.Read(dump).ToMakedumpfileBytes());

        // The last 64 characters written, in the order they were written.
        string expected = string.Concat(Enumerable.Range(0, 64).Select(k => PlainText[(int)((logEnd - 64 + (uint)k) % (uint)PlainText.Length)]));
        Assert.Equal(expected, got);
    }

    private const string PlainText = "<6>Linux version 3.0.0 #1\n<6>ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz:";

    /// <summary>A 3.0 kernel: a 64-byte log_buf written cyclically with PlainText up to log_end.</summary>
    private static SyntheticX86_64 PlainTextKernel(uint logEnd)
    {
        var x = new SyntheticX86_64("3.0.0-synthetic");
        const int len = 64;
        ulong buf = x.AllocImage(len, 64), vars = x.AllocImage(32, 8);
        var ring = new byte[len];
        for (uint i = 0; i < logEnd; i++)
        {
            ring[i % len] = (byte)PlainText[(int)(i % PlainText.Length)];
        }

        x.Kernel.Write(buf, ring);
        x.Kernel.WriteU64(vars, buf);
        x.Kernel.WriteU32(vars + 8, len);
        x.Kernel.WriteU32(vars + 12, logEnd);
        x.Kernel.Info.AddSymbol("log_buf", vars);
        x.Kernel.Info.AddSymbol("log_buf_len", vars + 8);
        x.Kernel.Info.AddSymbol("log_end", vars + 12);
        x.Kernel.Info.AddSymbol("logged_chars", vars + 16);
        return x;
    }
}
