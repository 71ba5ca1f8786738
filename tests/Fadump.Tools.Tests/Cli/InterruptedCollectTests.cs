using System.Diagnostics;
using Fadump.Formats;
using Fadump.Tools.Tests.Service;

namespace Fadump.Tools.Tests.Cli;

/// <summary>
/// `fadump collect` killed in the middle of the save (SIGKILL, SIGTERM, SIGINT, SIGHUP), then run again, as a
/// capture kernel that restarts its dump service would (issue 7 item 11): the first run leaves nothing under the
/// name vmcore and does not release the memory; FADump still holds the dump, and the second run saves it
/// completely, verifies it, releases and re-registers. SIGTERM, SIGINT and SIGHUP (systemd's KillSignal for
/// kdump-capture.service) stop the save and run the failure action, exit 128 + the signal; after SIGKILL,
/// `collect --error-handler` (what systemd's OnFailure= starts) runs it.
/// </summary>
public sealed class InterruptedCollectTests : IDisposable
{
    private readonly SyntheticRoot _root = SyntheticRoot.Fadump(oldNames: false, patternBytes: 256 << 20);
    private readonly string _target = Directory.CreateTempSubdirectory("fadump-cli-collect-sig-").FullName;
    private readonly string _conf;

    public InterruptedCollectTests()
    {
        _conf = Path.Combine(_target, "kdump.conf");
        File.WriteAllText(_conf, $"path {Path.Combine(_target, "crash")}\ncore_collector makedumpfile -c -d 1 --num-threads 1\n");
    }

    public void Dispose()
    {
        _root.Dispose();
        Directory.Delete(_target, recursive: true);
    }

    public static MatrixTheoryData<string, string> BuildsAndSignals => new([FadumpProcess.Jit, FadumpProcess.Native], ["KILL", "TERM", "INT", "HUP"]);

    [Theory]
    [MemberData(nameof(BuildsAndSignals))]
    public async Task A_killed_collect_releases_nothing_and_the_next_run_saves_the_dump_completely(string build, string signal)
    {
        string crash = Path.Combine(_target, "crash");
        using (var p = Process.Start(FadumpProcess.StartInfo(build, ["collect", "--root", _root.Dir, "--config", _conf, "--print-actions"]))!)
        {
            p.StandardInput.Close();
            var stdout = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            WaitForSave(crash, p);

            FadumpProcess.Signal(p.Id, signal);
            Assert.True(p.WaitForExit(60_000), "fadump collect did not stop after SIG" + signal);
            string output = await stdout + await stderr;
            int number = signal switch { "KILL" => 9, "TERM" => 15, "INT" => 2, _ => 1 };
            Assert.True(p.ExitCode == 128 + number, $"exit {p.ExitCode}: {output}");
            if (signal == "KILL")
            {
                Assert.DoesNotContain("failure_action", output, StringComparison.Ordinal);
            }
            else
            {
                Assert.Contains($"saving vmcore to {crash}", output, StringComparison.Ordinal);
                Assert.Contains("interrupted by a signal", output, StringComparison.Ordinal);
                Assert.Contains("reboot requested (failure_action)", output, StringComparison.Ordinal);
            }
        }

        if (signal == "KILL")
        {
            // systemd: kdump-capture.service failed, OnFailure= starts the error handler.
            var handler = FadumpProcess.Run(build, ["collect", "--root", _root.Dir, "--config", _conf, "--print-actions", "--error-handler"]);
            Assert.True(handler.ExitCode == 1, handler.Stdout + handler.Stderr);
            Assert.Contains("the dump service did not finish (kdump error handler)", handler.Stderr, StringComparison.Ordinal);
            Assert.Contains("reboot requested (failure_action)", handler.Stdout, StringComparison.Ordinal);
            Assert.Single(Directory.GetDirectories(crash)); // the handler saves nothing to the target

            // The killed save's hidden .vmcore-incomplete.part-PID now has kdump-utils' visible name.
            string dir = Directory.GetDirectories(crash).Single();
            Assert.Empty(Directory.GetFiles(dir, ".vmcore-incomplete.part-*"));
            string visible = Path.Combine(dir, "vmcore-incomplete");
            Assert.Contains($"the interrupted save left {visible} (", handler.Stdout, StringComparison.Ordinal);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(visible));
            using (var partial = DumpFile.Open(visible))
            {
                Assert.True(partial.IsIncomplete || partial.IncompleteReason is not null);
            }
        }

        // Nothing looks complete, nothing was given back.
        string first = Directory.GetDirectories(crash).Single();
        Assert.False(File.Exists(Path.Combine(first, "vmcore")), "an interrupted save left a file named vmcore");
        Assert.Equal(string.Empty, _root.ReadFile("sys/kernel/fadump/release_mem"));
        Assert.Equal("0\n", _root.ReadFile("sys/kernel/fadump/registered"));

        // The service runs again (a second capture-kernel boot, or systemd restarting it). The dump directory is
        // named after the capture time, so wait for the clock to move on.
        Thread.Sleep(1100);
        var again = FadumpProcess.Run(build, ["collect", "--root", _root.Dir, "--config", _conf, "--print-actions"], timeoutSeconds: 300);

        Assert.True(again.ExitCode == 0, again.Stdout + again.Stderr);
        Assert.Contains("sampled pages match the source", again.Stdout, StringComparison.Ordinal);
        string second = Directory.GetDirectories(crash).Single(d => d != first);
        using (var saved = DumpFile.Open(Path.Combine(second, "vmcore")))
        using (var source = DumpFile.Open(Path.Combine(_root.Dir, "proc", "vmcore")))
        {
            Assert.False(saved.IsIncomplete);
            Assert.Equal(source.MemoryRanges(), saved.MemoryRanges());
            var a = new byte[1 << 20];
            var b = new byte[1 << 20];
            ulong at = SyntheticRoot.PatternStart + (200UL << 20);
            Assert.Equal(a.Length, source.ReadPhysical(at, a));
            Assert.Equal(b.Length, saved.ReadPhysical(at, b));
            Assert.Equal(a, b);
        }

        Assert.Equal("1\n", _root.ReadFile("sys/kernel/fadump/release_mem"));
        Assert.Equal("1\n", _root.ReadFile("sys/kernel/fadump/registered"));
    }

    /// <summary>Waits until the vmcore being saved has 1 MiB in it.</summary>
    private static void WaitForSave(string crash, Process p)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            var part = Directory.Exists(crash)
                ? Directory.EnumerateFiles(crash, "*", SearchOption.AllDirectories).FirstOrDefault(f => Path.GetFileName(f).Contains("vmcore-incomplete", StringComparison.Ordinal))
                : null;
            if (part is not null && new FileInfo(part).Length >= 1 << 20)
            {
                return;
            }

            Assert.False(p.HasExited, "fadump collect exited before the save was under way");
            Thread.Sleep(20);
        }

        Assert.Fail("the save did not start within 60 s");
    }
}
