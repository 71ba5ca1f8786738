using System.Diagnostics;

namespace Fadump.Tools.Tests.Cli;

/// <summary>SIGINT or SIGTERM while `fadump demo` saves: the save stops as the dump service's does, and the scratch directory goes.</summary>
public sealed class InterruptedDemoTests : IDisposable
{
    private readonly string _tmp = Directory.CreateTempSubdirectory("fadump-demo-sig-").FullName;

    public void Dispose() => Directory.Delete(_tmp, recursive: true);

    public static MatrixTheoryData<string, string> BuildsAndSignals => new([FadumpProcess.Jit, FadumpProcess.Native], ["INT", "TERM"]);

    [Theory]
    [MemberData(nameof(BuildsAndSignals))]
    public async Task A_signal_stops_the_demo_and_removes_its_temporary_directory(string build, string signal)
    {
        var psi = FadumpProcess.StartInfo(build, ["demo", "--memory", "32G", "--cpus", "2"]);
        psi.Environment["TMPDIR"] = _tmp;
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var err = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        var output = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var sw = Stopwatch.StartNew();
        // The save writes a hidden part file under the dump directory (renamed when whole).
        while (!Directory.EnumerateFiles(_tmp, ".vmcore*.part-*", SearchOption.AllDirectories).Any(f => new FileInfo(f).Length > 1 << 20))
        {
            Assert.False(p.HasExited, "the demo ended before its save was under way");
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(120), "no .vmcore*.part-* after 120 s");
            Thread.Sleep(20);
        }

        FadumpProcess.Signal(p.Id, signal);
        Assert.True(p.WaitForExit(60_000), "fadump demo did not stop after SIG" + signal);
        Assert.Equal(128 + (signal == "INT" ? 2 : 15), p.ExitCode);
        Assert.Contains("failed: interrupted by a signal; the partial dump keeps its -incomplete name", await err, StringComparison.Ordinal);
        Assert.Contains("  no dump   the dump service failed: ", await output, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_tmp, "fadump-demo-*")); // (the runtime's own diagnostic pipes may be there)
    }
}
