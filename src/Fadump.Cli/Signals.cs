using System.Runtime.InteropServices;

namespace Fadump.Cli;

/// <summary>
/// SIGINT, SIGTERM and SIGHUP for the commands that can stop cleanly (save, convert): the first signal cancels
/// <see cref="Token"/>, the save stops, flags or removes its output, and the process exits 128 + the signal
/// number (130, 143, 129) as a shell reports a process killed by it. A second signal, or a signal while no
/// such command runs, takes the default action (the process ends at once).
/// </summary>
internal static class Signals
{
    private static readonly CancellationTokenSource Cts = new();
    private static readonly List<PosixSignalRegistration> Registrations = [];
    private static int _signal;
    private static int _cooperating;

    public static CancellationToken Token => Cts.Token;

    /// <summary>The signal that interrupted a cooperating command (2, 15, 1), or 0.</summary>
    public static int Received => Volatile.Read(ref _signal);

    public static string Name(int signal) => signal switch
    {
        1 => "SIGHUP",
        2 => "SIGINT",
        15 => "SIGTERM",
        _ => $"signal {signal}",
    };

    /// <summary>Installs the handlers; the process's entry point only (tests run commands in-process without them).</summary>
    public static void Install()
    {
        if (OperatingSystem.IsWindows() || Registrations.Count > 0)
        {
            return;
        }

        foreach (var (signal, number) in (ReadOnlySpan<(PosixSignal, int)>)[(PosixSignal.SIGINT, 2), (PosixSignal.SIGTERM, 15), (PosixSignal.SIGHUP, 1)])
        {
            Registrations.Add(PosixSignalRegistration.Create(signal, ctx => Handle(ctx, number)));
        }
    }

    /// <summary>While the returned scope lives, the first signal cancels <see cref="Token"/> instead of ending the process.</summary>
    public static IDisposable Cooperate()
    {
        Interlocked.Increment(ref _cooperating);
        return new Scope();
    }

    private static void Handle(PosixSignalContext ctx, int number)
    {
        if (Volatile.Read(ref _cooperating) == 0 || Interlocked.CompareExchange(ref _signal, number, 0) != 0)
        {
            return;
        }

        ctx.Cancel = true;
        Cts.Cancel();
    }

    private sealed class Scope : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Decrement(ref _cooperating);
            }
        }
    }
}
