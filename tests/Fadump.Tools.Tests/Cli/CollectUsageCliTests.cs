using Fadump.Cli;

namespace Fadump.Tools.Tests.Cli;

/// <summary>
/// makedumpfile's options on collect's command line (issue 12 point 4): conflicting ones are refused with fadump
/// save's own message and status, the rest with where they go (kdump.conf's core_collector line); nothing runs.
/// </summary>
public sealed class CollectUsageCliTests(SmallVmcore small) : IClassFixture<SmallVmcore>
{
    private static (int Rc, string Out, string Err) Fadump(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int rc = FadumpCommand.Run(args, o, e);
        return (rc, o.ToString(), e.ToString().ReplaceLineEndings("\n"));
    }

    [Theory]
    [InlineData(new[] { "-c", "-l" }, "fadump: -c, -l, -p and -z are mutually exclusive\n")]
    [InlineData(new[] { "-p", "-z", "-c" }, "fadump: -c, -l, -p and -z are mutually exclusive\n")]
    [InlineData(new[] { "-E", "-z" }, "fadump: -E cannot be used with -c, -l, -p or -z: the ELF format has no compressed pages\n")]
    public void Conflicting_options_get_save_s_message_and_status(string[] flags, string expected)
    {
        string output = Path.Combine(Path.GetTempPath(), $"fadump-never-written-{Guid.NewGuid():N}");
        var save = Fadump(["save", .. flags, small.Path, output]);
        var collect = Fadump(["collect", "--root", "/nonexistent", "--print-actions", .. flags]);

        Assert.Equal(FadumpCommand.ExitUsage, save.Rc);
        Assert.Equal(expected, save.Err);
        Assert.Equal(FadumpCommand.ExitUsage, collect.Rc);
        Assert.Equal(expected, collect.Err);
        Assert.Equal(string.Empty, collect.Out);
        Assert.False(File.Exists(output));
    }

    [Theory]
    [InlineData(new[] { "-l" }, "fadump: -l: collect reads makedumpfile's options from kdump.conf: give them on its core_collector line (core_collector makedumpfile -l)\n")]
    [InlineData(new[] { "-d", "31", "-z", "-F" }, "fadump: -z -F -d 31: collect reads makedumpfile's options from kdump.conf: give them on its core_collector line (core_collector makedumpfile -z -F -d 31)\n")]
    public void Other_makedumpfile_options_say_where_they_go(string[] flags, string expected)
    {
        var r = Fadump(["collect", "--print-actions", .. flags]);

        Assert.Equal(FadumpCommand.ExitUsage, r.Rc);
        Assert.Equal(expected, r.Err);
        Assert.Equal(string.Empty, r.Out);
    }

    [Fact]
    public void Collect_help_does_not_list_them()
    {
        var r = Fadump("collect", "--help");

        Assert.Equal(0, r.Rc);
        Assert.DoesNotContain("\n  -c", r.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("\n  -d", r.Out, StringComparison.Ordinal);
    }
}
