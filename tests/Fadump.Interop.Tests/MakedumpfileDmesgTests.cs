using System.Text;
using Fadump.Tools.Inspect;
using Fadump.Tools.Tests.Synthetic;

namespace Fadump.Interop.Tests;

/// <summary>
/// The real makedumpfile --dump-dmesg (Debian 12: 1.7.2) on synthetic x86_64 vmcores gives the
/// bytes <see cref="KernelLog"/> gives. makedumpfile only reads dumps of its own architecture,
/// so x86_64 is what can be checked here.
/// </summary>
[Trait("Category", "Interop")]
public sealed class MakedumpfileDmesgTests
{
    [Fact]
    public void Makedumpfile_prints_the_lockless_ring_buffer_as_we_do()
    {
        var x = SyntheticScenarios.X86_64WithLog();

        var (ours, theirs) = Both(x.Kernel);

        Assert.Equal(string.Concat(SyntheticLog.ExpectedLines(signedChar: true).Select(l => l + "\n")), ours);
        Assert.Equal(ours, theirs);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Makedumpfile_prints_variable_length_records_as_we_do(bool callerIdField)
    {
        var x = LegacyScenarios.X86_64(LegacyScenarios.Build(bigEndian: false, callerIdField));

        var (ours, theirs) = Both(x.Kernel);

        Assert.Equal(string.Concat(LegacyScenarios.ExpectedLines().Select(l => l + "\n")), ours);
        Assert.Equal(ours, theirs);
    }

    [Fact]
    public void Makedumpfile_copies_a_pre_3_5_plain_text_log_as_we_do()
    {
        var x = new SyntheticX86_64("3.0.0-synthetic");
        const int len = 64;
        ulong buf = x.AllocImage(len, 64), vars = x.AllocImage(32, 8);
        // 64 bytes written 5 1/8 times round: the oldest byte is at log_end % 64 = 8.
        x.Kernel.Write(buf, Encoding.ASCII.GetBytes("89abcdef<6>Linux version 3.0.0 (wrapped)\n<6>second line\n01234567"));
        x.Kernel.WriteU64(vars, buf);
        x.Kernel.WriteU32(vars + 8, len);
        x.Kernel.WriteU32(vars + 12, (5 * len) + 8); // log_end
        x.Kernel.Info.AddSymbol("log_buf", vars);
        x.Kernel.Info.AddSymbol("log_buf_len", vars + 8);
        x.Kernel.Info.AddSymbol("log_end", vars + 12);
        x.Kernel.Info.AddSymbol("logged_chars", vars + 16);

        var (ours, theirs) = Both(x.Kernel);

        Assert.Equal("<6>Linux version 3.0.0 (wrapped)\n<6>second line\n0123456789abcdef", ours);
        Assert.Equal(ours, theirs);
    }

    private static (string Ours, string Theirs) Both(SyntheticKernel kernel)
    {
        using var dir = new RealTool.TempDir();
        string vmcore = dir.File("vmcore"), output = dir.File("dmesg.txt");
        File.WriteAllBytes(vmcore, kernel.ToElf());
        var r = RealTool.Run("makedumpfile", ["--dump-dmesg", vmcore, output]);
        TestContext.Current.TestOutputHelper?.WriteLine(r.All);
        Assert.True(r.ExitCode == 0, $"makedumpfile failed ({r.ExitCode}): {r.All}");

        using var dump = kernel.Open();
        string ours = Encoding.Latin1.GetString(KernelLog.Read(dump).ToMakedumpfileBytes());
        return (ours, Encoding.Latin1.GetString(File.ReadAllBytes(output)));
    }
}
