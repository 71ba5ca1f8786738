using System.Text.Json;
using Fadump.Cli;

namespace Fadump.Interop.Tests;

/// <summary>The inspection commands on a makedumpfile --split set of the real QEMU dump.</summary>
[Trait("Category", "Interop")]
public sealed class SplitSetCliTests(ConvertedQemuDump converted) : IClassFixture<ConvertedQemuDump>
{
    private static (int Code, string Out, string Err) Fadump(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = FadumpCommand.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void Info_and_dmesg_read_a_split_set_like_the_whole_dump()
    {
        string a = converted.File("split.1"), b = converted.File("split.2");
        RealTool.Run("makedumpfile", ["-l", "-d", "1", "--splitblock-size", "1024", "--split", converted.Elf, a, b]);
        var (code, info, err) = Fadump("info", a, b, "--json");
        Assert.True(code == 0, err);
        var (wcode, whole, werr) = Fadump("info", converted.Elf, "--json");
        Assert.True(wcode == 0, werr);
        using var split = JsonDocument.Parse(info);
        using var one = JsonDocument.Parse(whole);
        Assert.Equal(one.RootElement.GetProperty("osrelease").GetString(), split.RootElement.GetProperty("osrelease").GetString());
        Assert.Equal(1, split.RootElement.GetProperty("dump_level").GetInt32());

        var (dcode, dmesg, derr) = Fadump("dmesg", a, b);
        Assert.True(dcode == 0, derr);
        Assert.Equal(File.ReadAllText(Fixtures.Require("makedumpfile-dmesg.txt"), System.Text.Encoding.Latin1), dmesg);
    }
}
