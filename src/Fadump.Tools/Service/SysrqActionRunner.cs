using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Service;

/// <summary>
/// The actions for a root that is not this machine's own (`collect --root DIR`, a mounted simulated machine, say):
/// they act on the machine behind the root through its /proc/sysrq-trigger, never on the host that runs the
/// service. reboot writes 'b' (sysrq_handle_reboot), halt and poweroff 'o' (sysrq_handle_poweroff); shell starts
/// the host's shell, as it is for the person at the console.
/// </summary>
public sealed class SysrqActionRunner(ISysroot root, TextWriter log) : IActionRunner
{
    public const string Trigger = "/proc/sysrq-trigger";

    public void Run(SystemAction action, string reason)
    {
        if (action == SystemAction.Shell)
        {
            new SystemActionRunner(log).Run(action, reason);
            return;
        }

        log.WriteLine($"executing {action.ToString().ToLowerInvariant()} ({reason}): {Command(root.Description, action)}");
        log.Flush();
        root.WriteText(Trigger, Key(action) + "\n");
    }

    private static string Key(SystemAction action) => action == SystemAction.Reboot ? "b" : "o";

    /// <summary>What an action runs for the root at <paramref name="rootDir"/>: "echo b > DIR/proc/sysrq-trigger" (shell: the host's).</summary>
    public static string Command(string rootDir, SystemAction action)
    {
        if (action == SystemAction.Shell)
        {
            var (file, args) = SystemActionRunner.Command(action);
            return $"{file} {string.Join(' ', args)}";
        }

        return $"echo {Key(action)} > {rootDir.TrimEnd('/')}{Trigger}";
    }
}
