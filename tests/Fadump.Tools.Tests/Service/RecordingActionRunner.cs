using Fadump.Tools.Service;

namespace Fadump.Tools.Tests.Service;

/// <summary>Records the actions the service asks for instead of running them.</summary>
internal sealed class RecordingActionRunner : IActionRunner
{
    public List<(SystemAction Action, string Reason)> Requested { get; } = [];

    public IEnumerable<SystemAction> Actions => Requested.Select(r => r.Action);

    public void Run(SystemAction action, string reason) => Requested.Add((action, reason));
}
