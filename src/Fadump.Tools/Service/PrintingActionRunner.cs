namespace Fadump.Tools.Service;

/// <summary>
/// Prints what would run instead of running it (<c>fadump collect --print-actions</c>): kdump-utils' command, or
/// <paramref name="command"/>'s when the actions would go elsewhere (a root's sysrq-trigger).
/// </summary>
public sealed class PrintingActionRunner(TextWriter output, Func<SystemAction, string>? command = null) : IActionRunner
{
    public void Run(SystemAction action, string reason)
    {
        string what = command?.Invoke(action) ?? Host(action);
        output.WriteLine($"{action.ToString().ToLowerInvariant()} requested ({reason}); not executed: {what}");
    }

    private static string Host(SystemAction action)
    {
        var (file, args) = SystemActionRunner.Command(action);
        return $"{file} {string.Join(' ', args)}";
    }
}
