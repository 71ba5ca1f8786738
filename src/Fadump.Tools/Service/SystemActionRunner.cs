using System.Diagnostics;

namespace Fadump.Tools.Service;

/// <summary>The real actions, with kdump-utils' commands (kdump.sh FINAL_ACTION / FAILURE_ACTION).</summary>
public sealed class SystemActionRunner(TextWriter log) : IActionRunner
{
    public void Run(SystemAction action, string reason)
    {
        var (file, args) = Command(action);
        log.WriteLine($"executing {action.ToString().ToLowerInvariant()} ({reason}): {file} {string.Join(' ', args)}");
        log.Flush();
        using var p = Process.Start(new ProcessStartInfo(file, args) { UseShellExecute = false })
            ?? throw new IOException($"could not start {file}");
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new IOException($"{file} {string.Join(' ', args)} exited with status {p.ExitCode}");
        }
    }

    /// <summary>reboot: systemctl reboot -f; halt: halt; poweroff: systemctl poweroff -f; shell: sh -i -l.</summary>
    public static (string File, string[] Args) Command(SystemAction action) => action switch
    {
        SystemAction.Reboot => ("systemctl", ["reboot", "-f"]),
        SystemAction.Halt => ("halt", []),
        SystemAction.PowerOff => ("systemctl", ["poweroff", "-f"]),
        SystemAction.Shell => ("/bin/sh", ["-i", "-l"]),
        _ => throw new ArgumentOutOfRangeException(nameof(action)),
    };
}
