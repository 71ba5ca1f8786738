using Fadump.Cli;

namespace Fadump.Tools.Tests.Service;

/// <summary>`fadump collect` on the command line, with --print-actions so that nothing is rebooted.</summary>
public sealed class CollectCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fadump-cli-collect-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Collect_saves_and_prints_the_final_action_it_did_not_run()
    {
        using var root = SyntheticRoot.Kdump();
        string conf = Path.Combine(_dir, "kdump.conf");
        File.WriteAllText(conf, $"path {_dir}/crash\ncore_collector makedumpfile -l -d 1\nfinal_action poweroff\n");
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int rc = FadumpCommand.Run(["collect", "--root", root.Dir, "--config", conf, "--print-actions"], stdout, stderr);

        Assert.True(rc == 0, stdout + "\n" + stderr);
        // The root is not /: the action would go to the machine behind it, not to this host.
        Assert.Contains($"poweroff requested (final_action); not executed: echo o > {root.Dir}/proc/sysrq-trigger", stdout.ToString(), StringComparison.Ordinal);
        string dir = Directory.GetDirectories(Path.Combine(_dir, "crash")).Single();
        Assert.True(File.Exists(Path.Combine(dir, "vmcore")));
        Assert.True(File.Exists(Path.Combine(dir, "vmcore-dmesg.txt")));
    }

    /// <summary>With a dump to save, an unusable kdump.conf still ends in a failure action (kdump-utils' default, reboot); --error-handler too.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_bad_config_exits_1_naming_the_line_and_runs_the_default_failure_action(bool errorHandler)
    {
        using var root = SyntheticRoot.Kdump();
        string conf = Path.Combine(_dir, "kdump.conf");
        File.WriteAllText(conf, "path /var/crash\nbogus 1\n");
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int rc = FadumpCommand.Run(["collect", "--root", root.Dir, "--config", conf, "--print-actions", .. (errorHandler ? new[] { "--error-handler" } : [])], stdout, stderr);

        Assert.Equal(1, rc);
        Assert.Equal(
            $"fadump: {conf}:2: unknown kdump config option 'bogus'\n" +
            "fadump: kdump.conf is unusable: the dump is not saved; executing kdump-utils' default failure_action reboot\n",
            stderr.ToString());
        Assert.Contains($"reboot requested (failure_action, the default); not executed: echo b > {root.Dir}/proc/sysrq-trigger", stdout.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_config_with_no_dump_to_save_only_exits_1()
    {
        string conf = Path.Combine(_dir, "kdump.conf");
        File.WriteAllBytes(conf, [0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]);
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int rc = FadumpCommand.Run(["collect", "--root", _dir, "--config", conf, "--print-actions"], stdout, stderr);

        Assert.Equal(1, rc);
        Assert.Contains("control characters are not allowed", stderr.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("requested", stdout.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_config_given_explicitly_is_an_error()
    {
        var stderr = new StringWriter();

        int rc = FadumpCommand.Run(["collect", "--root", _dir, "--config", Path.Combine(_dir, "none.conf")], new StringWriter(), stderr);

        Assert.Equal(1, rc);
        Assert.Contains("none.conf: no such file", stderr.ToString(), StringComparison.Ordinal);
    }
}
