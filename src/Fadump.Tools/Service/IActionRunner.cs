namespace Fadump.Tools.Service;

/// <summary>
/// Carries out failure and final actions. Injected so that tests and <c>--print-actions</c> observe
/// "reboot requested" without rebooting anything; <see cref="SystemActionRunner"/> is the real one.
/// </summary>
public interface IActionRunner
{
    /// <summary>Runs the action. Reboot, halt and poweroff do not return on a real system.</summary>
    void Run(SystemAction action, string reason);
}
