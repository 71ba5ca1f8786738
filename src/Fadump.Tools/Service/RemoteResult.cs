namespace Fadump.Tools.Service;

/// <summary>The end of one ssh command: its exit status and what it printed.</summary>
public sealed record RemoteResult(int ExitCode, string Stdout, string Stderr)
{
    public bool Ok => ExitCode == 0;

    /// <summary>The first line of stderr, for messages.</summary>
    public string Why => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? $"exit status {ExitCode}";
}
