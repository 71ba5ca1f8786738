using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Tests.Service;

/// <summary>Where the final and failure actions go: this host's systemctl for /, the root's sysrq-trigger otherwise.</summary>
public sealed class ActionRunnerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fadump-actions-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(SystemAction.Reboot, "b\n")]
    [InlineData(SystemAction.PowerOff, "o\n")]
    [InlineData(SystemAction.Halt, "o\n")]
    public void A_root_s_actions_write_its_sysrq_trigger(SystemAction action, string written)
    {
        Directory.CreateDirectory(Path.Combine(_dir, "proc"));
        string trigger = Path.Combine(_dir, "proc/sysrq-trigger");
        File.WriteAllText(trigger, "");
        var log = new StringWriter();
        new SysrqActionRunner(new DirectorySysroot(_dir), log).Run(action, "final_action");
        Assert.Equal(written, File.ReadAllText(trigger));
        Assert.Equal($"executing {action.ToString().ToLowerInvariant()} (final_action): echo {written.Trim()} > {_dir}/proc/sysrq-trigger\n", log.ToString());
    }

    [Fact]
    public void A_missing_sysrq_trigger_fails_the_action_not_the_host()
    {
        var e = Assert.ThrowsAny<IOException>(() => new SysrqActionRunner(new DirectorySysroot(_dir), TextWriter.Null).Run(SystemAction.Reboot, "final_action"));
        Assert.Contains("sysrq-trigger", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Printed_actions_name_the_host_s_command_or_the_root_s()
    {
        var host = new StringWriter();
        new PrintingActionRunner(host).Run(SystemAction.Reboot, "final_action");
        Assert.Equal("reboot requested (final_action); not executed: systemctl reboot -f\n", host.ToString());
        var root = new StringWriter();
        new PrintingActionRunner(root, a => SysrqActionRunner.Command("/mnt/machine/", a)).Run(SystemAction.Reboot, "final_action");
        Assert.Equal("reboot requested (final_action); not executed: echo b > /mnt/machine/proc/sysrq-trigger\n", root.ToString());
    }
}
