using Fadump.Cli;
using Fadump.Formats;
using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Tests.Service;

/// <summary>A dump target that fills up: a real 8 MiB tmpfs and a 36 MiB vmcore.</summary>
public sealed class EnospcTests : IDisposable
{
    private readonly TmpfsMount _tmpfs = new("8M");
    private readonly SyntheticRoot _root = SyntheticRoot.Fadump(oldNames: false, patternBytes: 32 << 20);
    private readonly StringWriter _log = new();
    private readonly RecordingActionRunner _actions = new();

    public void Dispose()
    {
        _tmpfs.Dispose();
        _root.Dispose();
    }

    [Fact]
    public void Full_disk_fails_runs_the_failure_action_and_leaves_no_complete_looking_vmcore()
    {
        var config = KdumpConfigParser.Parse($"path {_tmpfs.Dir}\ncore_collector makedumpfile -d 1\nfailure_action reboot\nfinal_action poweroff\n");

        var r = new CollectService(config, new CollectOptions { Actions = _actions, Log = _log }).Run(new DirectorySysroot(_root.Dir));

        Assert.Equal(1, r.ExitCode);
        Assert.False(r.VmcoreSaved);
        Assert.Contains(r.Errors, e => e.Contains("No space left on device", StringComparison.Ordinal));
        Assert.Equal([(SystemAction.Reboot, "failure_action")], _actions.Requested);

        string dir = Directory.GetDirectories(_tmpfs.Dir).Single();
        var names = Directory.GetFiles(dir).Select(Path.GetFileName).ToList();
        Assert.Contains("vmcore-dmesg.txt", names);          // saved first, before the disk filled
        Assert.DoesNotContain("vmcore", names);
        Assert.All(names, n => Assert.True(n is "vmcore-dmesg.txt" or "vmcore-incomplete", n));
        Assert.Equal(Path.Combine(dir, "vmcore-incomplete"), r.Vmcore);
        using (var partial = DumpFile.Open(r.Vmcore!))
        {
            Assert.True(partial.IsIncomplete);
        }

        // The memory holds the only complete copy: not released, not re-registered.
        Assert.Equal(string.Empty, _root.ReadFile("sys/kernel/fadump/release_mem"));
        Assert.Equal("0\n", _root.ReadFile("sys/kernel/fadump/registered"));
    }

    [Fact]
    public void Dump_to_rootfs_saves_on_the_root_file_system_after_a_full_disk()
    {
        string rootfs = Directory.CreateTempSubdirectory("fadump-rootfs-").FullName;
        try
        {
            var config = KdumpConfigParser.Parse($"path {_tmpfs.Dir}\ncore_collector makedumpfile -d 1\nfailure_action dump_to_rootfs\n");

            var r = new CollectService(config, new CollectOptions { Actions = _actions, Log = _log, RootFs = rootfs }).Run(new DirectorySysroot(_root.Dir));

            Assert.Equal(1, r.ExitCode);              // the configured target failed
            Assert.True(r.SavedToRootfs, _log.ToString());
            Assert.StartsWith(Path.Combine(rootfs, _tmpfs.Dir.TrimStart('/')), r.Vmcore, StringComparison.Ordinal);
            Assert.EndsWith("/vmcore", r.Vmcore, StringComparison.Ordinal);
            using (var saved = DumpFile.Open(r.Vmcore!))
            {
                Assert.False(saved.IsIncomplete);
            }

            // Saved after all: released and re-registered, and no reboot.
            Assert.Equal("1\n", _root.ReadFile("sys/kernel/fadump/release_mem"));
            Assert.Equal("1\n", _root.ReadFile("sys/kernel/fadump/registered"));
            Assert.Empty(_actions.Requested);
        }
        finally
        {
            Directory.Delete(rootfs, recursive: true);
        }
    }

    [Theory]
    [InlineData("save", "kdump")]
    [InlineData("save", "elf")]
    [InlineData("convert", "kdump")]
    [InlineData("convert", "flat")]
    public void Save_and_convert_on_a_full_disk_exit_1_and_keep_only_a_flagged_file(string command, string format)
    {
        string vmcore = Path.Combine(_root.Dir, "proc", "vmcore");
        string output = Path.Combine(_tmpfs.Dir, "vmcore");
        string[] args = (command, format) switch
        {
            ("save", "elf") => ["save", "-E", "-d", "1", vmcore, output],
            ("save", _) => ["save", "-d", "1", vmcore, output],
            _ => ["convert", "--format", format, vmcore, output],
        };
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int rc = FadumpCommand.Run(args, stdout, stderr);

        Assert.Equal(1, rc);
        string err = stderr.ToString();
        Assert.Contains("No space left on device", err, StringComparison.Ordinal);
        Assert.Contains($"fadump: {output}: the dump is incomplete (flagged in the file); fadump save Failed.", err, StringComparison.Ordinal);
        Assert.Equal([output], Directory.GetFileSystemEntries(_tmpfs.Dir));    // no temporary file left
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(output));

        var info = new StringWriter();
        var infoErr = new StringWriter();
        int irc = FadumpCommand.Run(["info", output], info, infoErr);
        Assert.Equal(1, irc);
        Assert.Contains("incomplete", infoErr.ToString(), StringComparison.Ordinal);
    }
}
