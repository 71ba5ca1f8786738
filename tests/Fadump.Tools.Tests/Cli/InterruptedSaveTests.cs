using System.Diagnostics;
using Fadump.Cli;
using Fadump.Formats;
using Fadump.Tools.Tests.Service;

namespace Fadump.Tools.Tests.Cli;

/// <summary>A 256 MiB vmcore: large enough that `save -c --num-threads 1` is still writing when the signal comes.</summary>
public sealed class BigVmcore : IDisposable
{
    private readonly SyntheticRoot _root = SyntheticRoot.Kdump(256 << 20);

    public string Path => System.IO.Path.Combine(_root.Dir, "proc", "vmcore");

    public void Dispose() => _root.Dispose();
}

/// <summary>
/// SIGINT, SIGTERM and SIGKILL in the middle of `fadump save` (issue 7 items 6 and 11): what survives, what `info`
/// says of it, and a second run.
/// </summary>
public sealed class InterruptedSaveTests(BigVmcore big) : IClassFixture<BigVmcore>, IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly string _dir = Directory.CreateTempSubdirectory("fadump-cli-sig-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Out => Path.Combine(_dir, "vmcore");

    private static (int Rc, string Out, string Err) Info(string path)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int rc = FadumpCommand.Run(["info", path], o, e);
        return (rc, o.ToString(), e.ToString());
    }

    public static MatrixTheoryData<string, string> BuildsAndSignals => new([FadumpProcess.Jit, FadumpProcess.Native], ["INT", "TERM"]);

    private Process StartSave(string build, string umask = "022") =>
        Process.Start(FadumpProcess.StartInfo(build, ["save", "-c", "-d", "0", "--num-threads", "1", big.Path, Out], umask))!;

    [Theory]
    [MemberData(nameof(BuildsAndSignals))]
    public async Task A_signal_stops_the_save_flags_the_file_and_exits_128_plus_the_signal(string build, string signal)
    {
        int exitCode = 128 + (signal == "INT" ? 2 : 15);
        using var p = StartSave(build);
        var err = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        FadumpProcess.WaitForPart(_dir, "vmcore", 1 << 20, p);

        FadumpProcess.Signal(p.Id, signal);
        Assert.True(p.WaitForExit(60_000), "fadump save did not stop after SIG" + signal);

        Assert.Equal(exitCode, p.ExitCode);
        Assert.Contains($"interrupted by SIG{signal}: {Out}: the dump is incomplete (flagged in the file)", await err, StringComparison.Ordinal);
        Assert.Equal([Out], Directory.GetFileSystemEntries(_dir));     // no hidden .part left
        Assert.Equal(Private, File.GetUnixFileMode(Out));
        var (rc, text, ierr) = Info(Out);
        Assert.True(rc == 1, text + ierr);
        Assert.Contains("Complete:     no (flagged incomplete by its writer (status 0x8))", text, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(FadumpProcess.Builds), MemberType = typeof(FadumpProcess))]
    public void After_SIGKILL_the_part_file_is_private_and_incomplete_and_the_next_save_removes_it(string build)
    {
        string part;
        using (var p = StartSave(build, umask: "000"))
        {
            part = FadumpProcess.WaitForPart(_dir, "vmcore", 1 << 20, p);
            p.Kill();
            p.WaitForExit();
        }

        // What a power loss or the OOM killer leaves: a hidden file, never the final name.
        Assert.False(File.Exists(Out));
        Assert.Equal(Private, File.GetUnixFileMode(part));
        var (rc, text, ierr) = Info(part);
        Assert.True(rc == 1, text + ierr);
        Assert.Contains("incomplete", ierr, StringComparison.Ordinal);

        var again = FadumpProcess.Run(build, ["save", "-l", "-d", "1", big.Path, Out]);
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Equal([Out], Directory.GetFileSystemEntries(_dir));     // the stale .part is gone
        Assert.Equal(0, Info(Out).Rc);
    }

    [Fact]
    public void Power_loss_at_any_point_of_the_temporary_file_reads_as_incomplete()
    {
        // Cut a finished save at points through the file, as a power loss before the rename leaves it.
        var r = FadumpProcess.Run(FadumpProcess.Jit, ["save", "-l", "-d", "1", big.Path, Out]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        byte[] whole = File.ReadAllBytes(Out);
        foreach (double at in (double[])[0.001, 0.1, 0.5, 0.9, 0.999])
        {
            string cut = Path.Combine(_dir, FormattableString.Invariant($"cut-{at}"));
            File.WriteAllBytes(cut, whole.AsSpan(0, (int)(whole.Length * at)).ToArray());
            var (rc, text, ierr) = Info(cut);
            Assert.True(rc == 1, $"cut at {at}: {text}{ierr}");
            Assert.Contains("incomplete", text + ierr, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(FadumpProcess.Builds), MemberType = typeof(FadumpProcess))]
    public void A_save_from_start_to_finish_is_complete(string build)
    {
        // The control for the tests above: the same save, uninterrupted, is complete.
        var r = FadumpProcess.Run(build, ["save", "-l", "-d", "1", big.Path, Out]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var d = DumpFile.Open(Out);
        Assert.False(d.IsIncomplete);
    }
}
