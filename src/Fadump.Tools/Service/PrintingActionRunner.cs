namespace Fadump.Tools.Service;

/// <summary>Prints what would run instead of running it (<c>fadump collect --print-actions</c>).</summary>
public sealed class PrintingActionRunner(TextWriter output) : IActionRunner
{
    public void Run(SystemAction action, string reason)
    {
        var (file, args) = SystemActionRunner.Command(action);
        output.WriteLine($"{action.ToString().ToLowerInvariant()} requested ({reason}); not executed: {file} {string.Join(' ', args)}");
    }
}
