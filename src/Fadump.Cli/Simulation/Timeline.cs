using System.Globalization;

namespace Fadump.Cli.Simulation;

/// <summary>One phase of the lifecycle: how long it took, and whether that figure is modelled or measured.</summary>
public sealed record TimelinePhase(string Name, TimeSpan Duration, bool Measured, string Detail)
{
    public string Kind => Measured ? "measured" : "modelled";
}

/// <summary>The phases of a demo run in order, with the simulated clock at the end of each.</summary>
public sealed class Timeline
{
    public List<(TimelinePhase Phase, TimeSpan At)> Phases { get; } = [];

    public TimeSpan Total => Phases.Count == 0 ? TimeSpan.Zero : Phases[^1].At;

    /// <summary>Called with each phase as it is added: the demo's live progress.</summary>
    public Action<TimelinePhase, TimeSpan>? Added { get; set; }

    public void Add(TimelinePhase phase, TimeSpan at)
    {
        Phases.Add((phase, at));
        Added?.Invoke(phase, at);
    }

    /// <summary>When the crash happened: the start of the first phase named for it (every runner's starts "crash").</summary>
    public TimeSpan? CrashAt => Phases.Where(p => p.Phase.Name.StartsWith("crash", StringComparison.Ordinal)).Select(p => (TimeSpan?)(p.At - p.Phase.Duration)).FirstOrDefault();

    public static string Seconds(TimeSpan t) => t.TotalSeconds.ToString(t.TotalSeconds < 10 ? "0.000" : "0.0", CultureInfo.InvariantCulture) + " s";
}
