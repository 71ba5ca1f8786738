using System.Diagnostics;
using Fadump.Cli;
using Fadump.Formats;
using Fadump.Formats.IO;
using Fadump.Tools.Tests.Service;

namespace Fadump.Tools.Tests.Cli;

/// <summary>The synthetic kernel's 5 MiB vmcore (SyntheticRoot), shared by a test class.</summary>
public sealed class SmallVmcore : IDisposable
{
    private readonly SyntheticRoot _root = SyntheticRoot.Kdump();

    public string Path => System.IO.Path.Combine(_root.Dir, "proc", "vmcore");

    public void Dispose() => _root.Dispose();
}

/// <summary>
/// What `fadump save`, `convert` and `info` do with bad targets and inputs, pipes, signals, SIGKILL and power loss
/// (issue 7 items 3, 4, 6, 9, 11, 12). In-process where that shows it, a child process where only a process does.
/// </summary>
public sealed class OutputFileCliTests(SmallVmcore small) : IClassFixture<SmallVmcore>, IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly string _dir = Directory.CreateTempSubdirectory("fadump-cli-out-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Input => small.Path;

    private string P(string name) => Path.Combine(_dir, name);

    private string EmptyConfig()
    {
        File.WriteAllText(P("kdump.conf"), string.Empty);
        return P("kdump.conf");
    }

    private static (int Rc, string Out, string Err) Fadump(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int rc = FadumpCommand.Run(args, o, e);
        return (rc, o.ToString(), e.ToString());
    }

    [Fact]
    public void Convert_refuses_an_existing_file_without_f_as_makedumpfile_does()
    {
        File.WriteAllText(P("out"), "keep me");

        var (rc, _, err) = Fadump("convert", Input, P("out"));

        Assert.Equal(1, rc);
        Assert.Equal($"fadump: {P("out")}: File exists (give -f to overwrite it)\n", err);
        Assert.Equal("keep me", File.ReadAllText(P("out")));

        var (rc2, _, err2) = Fadump("convert", "-f", Input, P("out"));
        Assert.True(rc2 == 0, err2);
        using var d = DumpFile.Open(P("out"));
        Assert.False(d.IsIncomplete);
    }

    [Theory]
    [InlineData("fifo")]
    [InlineData("chardev")]
    public void Convert_onto_a_fifo_or_a_device_refuses_and_leaves_it_alone(string kind)
    {
        string target = P(kind);
        var (mrc, mout) = kind == "fifo" ? TmpfsMount.Run("mkfifo", target) : TmpfsMount.Run("mknod", target, "c", "1", "3");
        Assert.True(mrc == 0, mout);
        var before = PosixFile.Kind(target, followSymlinks: false);

        var (rc, _, err) = Fadump("convert", Input, target);

        Assert.Equal(1, rc);
        Assert.StartsWith($"fadump: {target}: is a ", err, StringComparison.Ordinal);
        Assert.Contains("not a regular file", err, StringComparison.Ordinal);
        Assert.Equal(before, PosixFile.Kind(target, followSymlinks: false));
        Assert.Equal([target], Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void Convert_into_a_directory_names_it_and_leaks_no_temporary_file()
    {
        string dir = Directory.CreateDirectory(P("dir")).FullName;

        var (rc, _, err) = Fadump("convert", Input, dir);

        Assert.Equal(1, rc);
        Assert.Equal($"fadump: {dir}: Is a directory (expected the name of the dump file to write)\n", err);
        Assert.Empty(Directory.GetFileSystemEntries(dir));
        Assert.Equal([dir], Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void Save_never_writes_through_a_symbolic_link()
    {
        File.CreateSymbolicLink(P("link"), P("target"));

        var (rc, _, err) = Fadump("save", "-d", "1", Input, P("link"));

        Assert.Equal(1, rc);
        Assert.Contains($"{P("link")}: is a symbolic link", err, StringComparison.Ordinal);
        Assert.False(File.Exists(P("target")));
        Assert.NotNull(new FileInfo(P("link")).LinkTarget);
    }

    [Fact]
    public void A_temporary_name_taken_by_a_symbolic_link_is_not_followed()
    {
        // Someone plants .out.part-PID -> target for the PID fadump will get: the stale-file cleanup sees a link
        // of a dead PID and leaves it, and the writer's own name is created O_EXCL.
        File.CreateSymbolicLink(P(".out.part-99999999"), P("target"));

        var (rc, _, err) = Fadump("convert", Input, P("out"));

        Assert.True(rc == 0, err);
        Assert.False(File.Exists(P("target")));
        Assert.Equal(Private, File.GetUnixFileMode(P("out")));
    }

    [Fact]
    public void Stale_temporary_files_of_dead_writers_are_removed()
    {
        File.WriteAllText(P(".out.part-99999999"), "left by a SIGKILLed fadump");
        File.WriteAllText(P(".out.part-1"), "pid 1 is alive: not ours to remove");
        File.WriteAllText(P(".other.part-99999999"), "another name");

        var (rc, _, err) = Fadump("convert", Input, P("out"));

        Assert.True(rc == 0, err);
        Assert.False(File.Exists(P(".out.part-99999999")));
        Assert.True(File.Exists(P(".out.part-1")));
        Assert.True(File.Exists(P(".other.part-99999999")));
    }

    [Fact]
    public void A_size_limit_below_the_header_leaves_no_stub()
    {
        var (rc, _, err) = Fadump("save", "-d", "1", "-L", "100", Input, P("out"));

        Assert.Equal(1, rc);
        Assert.Contains("size limit of 100 bytes", err, StringComparison.Ordinal);
        Assert.Contains("nothing was kept", err, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Theory]
    [InlineData("")]
    [InlineData("-E")]
    public void A_size_limit_above_the_header_keeps_a_flagged_file_that_info_calls_incomplete(string elf)
    {
        string[] args = elf.Length > 0 ? ["save", elf, "-d", "1", "-L", "1M", Input, P("out")] : ["save", "-d", "1", "-L", "1M", Input, P("out")];
        var (rc, _, err) = Fadump(args);

        Assert.Equal(1, rc);
        Assert.Contains($"{P("out")}: the dump is incomplete (flagged in the file)", err, StringComparison.Ordinal);
        var (irc, info, ierr) = Fadump("info", P("out"));
        Assert.Equal(1, irc);
        Assert.Contains("Complete:     no (flagged incomplete by its writer", info, StringComparison.Ordinal);
        Assert.Contains("the dump is incomplete", ierr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("kdump", 2)]
    [InlineData("kdump", 4)]
    [InlineData("kdump", 100)]
    [InlineData("elf", 2)]
    [InlineData("elf", 4)]
    [InlineData("elf", 100)]
    public void Info_calls_a_truncated_file_incomplete_and_exits_1(string format, int divisor)
    {
        // A power loss or a copy cut short: the file ends early, no flag in it.
        var (rc0, _, err0) = Fadump("convert", "--format", format, Input, P("out"));
        Assert.True(rc0 == 0, err0);
        Assert.Equal(0, Fadump("info", P("out")).Rc);
        long full = new FileInfo(P("out")).Length;
        using (var f = File.OpenHandle(P("out"), FileMode.Open, FileAccess.ReadWrite))
        {
            RandomAccess.SetLength(f, full - (full / divisor));
        }

        var (rc, info, err) = Fadump("info", P("out"));

        Assert.True(rc == 1, info + err);
        Assert.Contains($"fadump: {P("out")}", err, StringComparison.Ordinal);
        Assert.Contains("incomplete", err, StringComparison.Ordinal);
        Assert.Contains("truncated", info + err, StringComparison.Ordinal);
    }

    [Fact]
    public void Save_refuses_a_truncated_input_before_it_writes_anything()
    {
        Assert.Equal(0, Fadump("convert", Input, P("in")).Rc);
        using (var f = File.OpenHandle(P("in"), FileMode.Open, FileAccess.ReadWrite))
        {
            RandomAccess.SetLength(f, RandomAccess.GetLength(f) / 2);
        }

        var (rc, _, err) = Fadump("save", "-d", "1", P("in"), P("out"));

        Assert.Equal(1, rc);
        Assert.StartsWith($"fadump: {P("in")}: the input dump is incomplete: truncated: ", err, StringComparison.Ordinal);
        Assert.Equal([P("in")], Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void Info_cut_inside_the_bitmaps_is_an_error_saying_truncated()
    {
        Assert.Equal(0, Fadump("convert", Input, P("out")).Rc);
        using (var f = File.OpenHandle(P("out"), FileMode.Open, FileAccess.ReadWrite))
        {
            RandomAccess.SetLength(f, 4096 * 2 + 10);
        }

        var (rc, _, err) = Fadump("info", P("out"));

        Assert.Equal(1, rc);
        Assert.Contains("truncated", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_inputs_get_the_path_and_the_reason()
    {
        Directory.CreateDirectory(P("dir"));
        File.WriteAllBytes(P("empty"), []);
        Assert.Equal(0, TmpfsMount.Run("mkfifo", P("fifo")).ExitCode);

        Assert.Equal($"fadump: {P("dir")}: Is a directory (expected a dump file)\n", Fadump("info", P("dir")).Err);
        Assert.Equal($"fadump: {P("none")}: No such file or directory\n", Fadump("info", P("none")).Err);
        Assert.StartsWith($"fadump: {P("empty")}: at offset 0x0: unknown dump format", Fadump("info", P("empty")).Err, StringComparison.Ordinal);
        Assert.StartsWith("fadump: /dev/null: is a character device, not a regular file", Fadump("info", "/dev/null").Err, StringComparison.Ordinal);

        // A FIFO must not hang the reader (nobody writes to it).
        var ct = TestContext.Current.CancellationToken;
        var fifo = Task.Run(() => Fadump("save", "-d", "1", P("fifo"), P("out")), ct);
        Assert.True(await Task.WhenAny(fifo, Task.Delay(TimeSpan.FromSeconds(30), ct)) == fifo, "fadump save hung on a FIFO input");
        var (rc, _, err) = await fifo;
        Assert.Equal(1, rc);
        Assert.StartsWith($"fadump: {P("fifo")}: is a FIFO, not a regular file", err, StringComparison.Ordinal);
        Assert.False(File.Exists(P("out")));
    }

    [Fact]
    public void Collect_with_a_missing_root_fails_naming_it()
    {
        string root = P("nonexistent");

        var (rc, _, err) = Fadump("collect", "--root", root, "--config", EmptyConfig(), "--print-actions");

        Assert.Equal(1, rc);
        Assert.Equal($"fadump: {root}: No such file or directory\n", err);
    }

    [Theory]
    [MemberData(nameof(FadumpProcess.Builds), MemberType = typeof(FadumpProcess))]
    public void Sim_run_saves_to_a_relative_directory_under_the_working_directory(string build)
    {
        var r = FadumpProcess.Run(build, ["sim", "run", "--memory", "1G", "--save-to", "rel"], workingDirectory: _dir);

        Assert.True(r.ExitCode == 0, r.Stderr);
        string saved = Directory.GetDirectories(P("rel")).Single();
        Assert.True(File.Exists(Path.Combine(saved, "vmcore")));
        Assert.Equal(Private, File.GetUnixFileMode(Path.Combine(saved, "vmcore-dmesg.txt")));
    }

    [Theory]
    [MemberData(nameof(FadumpProcess.Builds), MemberType = typeof(FadumpProcess))]
    public async Task Save_F_into_a_pipe_whose_reader_stops_fails_with_broken_pipe(string build)
    {
        using var big = SyntheticRoot.Kdump(32 << 20);
        using var p = Process.Start(FadumpProcess.StartInfo(build, ["save", "-F", "-d", "0", Path.Combine(big.Dir, "proc", "vmcore")]))!;
        var err = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        var buf = new byte[1000];
        p.StandardOutput.BaseStream.ReadExactly(buf);
        p.StandardOutput.Close();             // the reader stops, as `| head -c 1000` does
        Assert.True(p.WaitForExit(120_000), "fadump save -F did not end after its reader went away");

        Assert.Equal(1, p.ExitCode);
        string stderr = await err;
        Assert.Contains("fadump: standard output: Broken pipe", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Completed", stderr, StringComparison.Ordinal);
    }

    public static MatrixTheoryData<string, string> BuildsAndCommands => new([FadumpProcess.Jit, FadumpProcess.Native], ["info", "dmesg"]);

    [Theory]
    [MemberData(nameof(BuildsAndCommands))]
    public void Standard_output_on_a_full_device_is_an_error(string build, string command)
    {
        // The write error at exit is checked, not lost in a flush nobody looks at.
        using var p = Process.Start(new ProcessStartInfo("/bin/sh")
        {
            ArgumentList = { "-c", "exec \"$0\" \"$1\" \"$2\" > /dev/full", FadumpProcess.Executable(build), command, Input },
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();

        Assert.Equal(1, p.ExitCode);
        Assert.Contains("fadump: standard output: No space left on device", err, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(FadumpProcess.Builds), MemberType = typeof(FadumpProcess))]
    public void Files_are_0600_under_umask_000(string build)
    {
        var r = FadumpProcess.Run(build, ["convert", Input, P("out")], umask: "000");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var d = FadumpProcess.Run(build, ["save", "--dump-dmesg", Input, P("dmesg.txt")], umask: "000");
        Assert.True(d.ExitCode == 0, d.Stderr);
        var flat = FadumpProcess.Run(build, ["convert", "--format", "flat", Input, P("flat")], umask: "000");
        Assert.True(flat.ExitCode == 0, flat.Stderr);

        Assert.Equal(Private, File.GetUnixFileMode(P("out")));
        Assert.Equal(Private, File.GetUnixFileMode(P("dmesg.txt")));
        Assert.Equal(Private, File.GetUnixFileMode(P("flat")));
    }

    [Theory]
    [MemberData(nameof(FadumpProcess.Builds), MemberType = typeof(FadumpProcess))]
    public void Commit_fsyncs_the_directory_after_the_rename(string build)
    {
        string log = P("strace.log");
        var (rc, output) = TmpfsMount.Run("strace", "-f", "-o", log, "-e", "trace=rename,renameat,renameat2,openat,open,fsync",
            FadumpProcess.Executable(build), "convert", Input, P("out"));
        Assert.True(rc == 0, output);

        var lines = File.ReadAllLines(log);
        int rename = Array.FindLastIndex(lines, l => l.Contains("rename", StringComparison.Ordinal) && l.Contains(P("out") + "\"", StringComparison.Ordinal));
        Assert.True(rename >= 0, "no rename to the final name in the trace");
        var open = lines.Skip(rename).Select(l => System.Text.RegularExpressions.Regex.Match(l, "open(at)?\\(.*\"" + System.Text.RegularExpressions.Regex.Escape(_dir) + "\", O_RDONLY[^)]*O_DIRECTORY[^)]*\\) = (\\d+)")).FirstOrDefault(m => m.Success);
        Assert.True(open is not null, "the directory is not opened after the rename:\n" + string.Join('\n', lines.Skip(rename).Take(10)));
        Assert.Contains(lines.Skip(rename), l => l.Contains($"fsync({open.Groups[2].Value})", StringComparison.Ordinal));
    }
}
