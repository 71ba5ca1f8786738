using Fadump.Cli.Simulation;
using Spectre.Console;

namespace Fadump.Cli;

/// <summary>
/// A run's live progress on a terminal (Spectre.Console): a line per phase as it ends, with the simulated clock
/// and whether the figure is modelled or measured, and a progress bar while a measured step (the save, the copy
/// of /proc/vmcore) runs.
/// </summary>
public sealed class DemoProgressDisplay(IAnsiConsole console) : IDemoProgress
{
    public static DemoProgressDisplay OnStandardError() =>
        new(AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }));

    private string Done => console.Profile.Capabilities.Unicode ? "✓" : "+";

    public void Begin(string title) => console.MarkupLine($"[bold]{Markup.Escape(title)}[/]");

    public void PhaseDone(TimelinePhase phase, TimeSpan at) =>
        console.MarkupLine($"[green]{Done}[/] {Markup.Escape(Timeline.Seconds(at)),9}  {Markup.Escape(phase.Name)} [grey]({Markup.Escape(Timeline.Seconds(phase.Duration))}, {phase.Kind})[/]");

    public T Measure<T>(string step, Func<IProgress<StepProgress>, T> work)
    {
        T result = default!;
        console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(step), maxValue: 1);
                result = work(new Reporter(p =>
                {
                    task.Value = Math.Clamp(p.Fraction, 0, 1);
                    task.Description = Markup.Escape(step + ": " + p.Detail);
                }));
                task.Value = 1;
            });
        return result;
    }

    /// <summary>Reports on the caller's thread (Progress&lt;T&gt; would post to the thread pool, out of order).</summary>
    private sealed class Reporter(Action<StepProgress> report) : IProgress<StepProgress>
    {
        public void Report(StepProgress value) => report(value);
    }
}
