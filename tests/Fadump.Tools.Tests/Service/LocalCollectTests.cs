using Fadump.Formats;
using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Tests.Service;

/// <summary>The whole service on synthetic roots, saving to a local directory.</summary>
public sealed class LocalCollectTests : IDisposable
{
    private static readonly DateTimeOffset CaptureTime = new(2025, 3, 7, 14, 5, 9, TimeSpan.Zero);
    private readonly string _target = Directory.CreateTempSubdirectory("fadump-target-").FullName;
    private readonly StringWriter _log = new();
    private readonly RecordingActionRunner _actions = new();
    private readonly string _hooks = Directory.CreateTempSubdirectory("fadump-hook-").FullName;

    public void Dispose()
    {
        Directory.Delete(_target, recursive: true);
        Directory.Delete(_hooks, recursive: true);
    }

    private CollectResult Collect(ISysroot root, string config = "")
    {
        // The synthetic vmcores carry no struct pages: filter zero pages only (-d 31 needs mem_map, as for makedumpfile).
        string collector = config.Contains("core_collector", StringComparison.Ordinal) ? string.Empty : "core_collector makedumpfile -l -d 1\n";
        var cfg = KdumpConfigParser.Parse($"path {_target}\n" + collector + config, "test.conf");
        return new CollectService(cfg, new CollectOptions { Actions = _actions, Log = _log, Now = () => CaptureTime }).Run(root);
    }

    [Fact]
    public void Kdump_saves_dmesg_and_vmcore_then_reboots_as_configured()
    {
        using var root = SyntheticRoot.Kdump();

        var r = Collect(new DirectorySysroot(root.Dir));

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Equal(DumpMechanism.Kdump, r.Mechanism);
        string dir = Path.Combine(_target, "synthetic-2025-03-07-14:05:09");
        Assert.Equal(dir, r.Directory);
        Assert.Equal(["vmcore", "vmcore-dmesg.txt"], Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(SyntheticRoot.ExpectedDmesg, File.ReadAllText(Path.Combine(dir, "vmcore-dmesg.txt")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "vmcore")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "vmcore-dmesg.txt")));
        using (var saved = DumpFile.Open(Path.Combine(dir, "vmcore")))
        using (var source = DumpFile.Open(Path.Combine(root.Dir, "proc/vmcore")))
        {
            Assert.Equal(source.MemoryRanges(), saved.MemoryRanges());
            Assert.Equal(SyntheticRoot.ExpectedDmesg, SyntheticRoot.Dmesg(saved));
        }

        // kdump's capture kernel cannot give the memory back: the final action (reboot) runs.
        Assert.Equal([SystemAction.Reboot], _actions.Actions);
        Assert.False(r.RebootSkipped);
        Assert.False(r.MemoryReleased);
        var lines = _log.ToString().Split('\n').ToList();
        Assert.True(lines.IndexOf("saving vmcore-dmesg.txt") < lines.IndexOf("saving vmcore"), "vmcore-dmesg.txt is saved first");
    }

    /// <summary>core_collector makedumpfile -c -l: makedumpfile keeps the last (lzo) and so does collect, saying what it dropped.</summary>
    [Fact]
    public void Two_compressions_in_core_collector_keep_the_last_and_say_so()
    {
        using var root = SyntheticRoot.Kdump();

        var r = Collect(new DirectorySysroot(root.Dir), "core_collector makedumpfile -c -l -d 1\n");

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Contains("core_collector: -c (-l comes after it: the last compression given wins, as in makedumpfile) ignored\n", _log.ToString().ReplaceLineEndings("\n"), StringComparison.Ordinal);
        using var saved = DumpFile.Open(Path.Combine(_target, "synthetic-2025-03-07-14:05:09", "vmcore"));
        Assert.Equal(DumpFormat.KdumpCompressed, saved.Format);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Fadump_releases_and_reregisters_and_does_not_reboot(bool oldNames)
    {
        using var root = SyntheticRoot.Fadump(oldNames);

        var r = Collect(new DirectorySysroot(root.Dir));

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Equal(DumpMechanism.Fadump, r.Mechanism);
        Assert.True(r.VmcoreSaved);
        Assert.Equal("1\n", root.ReadFile(oldNames ? "sys/kernel/fadump_release_mem" : "sys/kernel/fadump/release_mem"));
        Assert.Equal("1\n", root.ReadFile(oldNames ? "sys/kernel/fadump_registered" : "sys/kernel/fadump/registered"));
        Assert.True(r.MemoryReleased);
        Assert.True(r.Reregistered);
        Assert.True(r.RebootSkipped);
        Assert.Empty(_actions.Requested);
    }

    [Theory]
    [InlineData("halt", SystemAction.Halt)]
    [InlineData("poweroff", SystemAction.PowerOff)]
    public void Fadump_still_runs_an_explicit_halt_or_poweroff(string action, SystemAction expected)
    {
        using var root = SyntheticRoot.Fadump(oldNames: false);

        var r = Collect(new DirectorySysroot(root.Dir), $"final_action {action}\n");

        Assert.Equal(0, r.ExitCode);
        Assert.Equal([expected], _actions.Actions);
    }

    [Fact]
    public void Fadump_release_refused_keeps_the_dump_and_reboots()
    {
        using var root = SyntheticRoot.Fadump(oldNames: false);
        File.Delete(Path.Combine(root.Dir, "sys/kernel/fadump/release_mem"));
        Directory.CreateDirectory(Path.Combine(root.Dir, "sys/kernel/fadump/release_mem")); // exists, but cannot be written
        var sysroot = new DirectorySysroot(root.Dir);

        var r = Collect(sysroot);

        Assert.Equal(1, r.ExitCode);
        Assert.True(r.VmcoreSaved);
        Assert.False(r.MemoryReleased);
        Assert.Equal([SystemAction.Reboot], _actions.Actions);
        Assert.Contains(r.Errors, e => e.Contains("release_mem", StringComparison.Ordinal));
    }

    [Fact]
    public void Nothing_to_collect_exits_zero_and_does_nothing()
    {
        using var root = SyntheticRoot.Empty();

        var r = Collect(new DirectorySysroot(root.Dir));

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(DumpMechanism.None, r.Mechanism);
        Assert.Empty(_actions.Requested);
        Assert.Empty(Directory.GetFileSystemEntries(_target));
    }

    [Fact]
    public void Kdump_pre_failing_skips_the_dump_and_runs_the_final_action()
    {
        using var root = SyntheticRoot.Fadump(oldNames: false);
        string pre = Script("pre.sh", "#!/bin/sh\necho refusing\nexit 3\n");

        var r = Collect(new DirectorySysroot(root.Dir), $"kdump_pre {pre}\n");

        Assert.Equal(1, r.ExitCode);
        Assert.Empty(Directory.GetFileSystemEntries(_target));
        Assert.Equal([SystemAction.Reboot], _actions.Actions);
        Assert.Equal("0\n", root.ReadFile("sys/kernel/fadump/registered"));
        Assert.Contains("pre.sh: refusing", _log.ToString(), StringComparison.Ordinal);
        Assert.Contains(r.Errors, e => e.Contains("exited with status 3", StringComparison.Ordinal));
    }

    [Fact]
    public void Kdump_post_gets_the_dump_status_and_its_failure_is_only_logged()
    {
        using var root = SyntheticRoot.Fadump(oldNames: false);
        string marker = Path.Combine(_target, "post-args");
        string pre = Script("pre.sh", "#!/bin/sh\nexit 0\n");
        string post = Script("post.sh", $"#!/bin/sh\necho \"$#:$1\" > {marker}\nexit 5\n");

        var r = Collect(new DirectorySysroot(root.Dir), $"kdump_pre {pre}\nkdump_post {post}\n");

        Assert.Equal(0, r.ExitCode);
        Assert.Equal("1:0\n", File.ReadAllText(marker));
        Assert.Contains("exited with status 5", _log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_dump_that_cannot_be_opened_runs_kdump_post_with_1_and_the_failure_action()
    {
        using var root = SyntheticRoot.Fadump(oldNames: false);
        File.WriteAllText(Path.Combine(root.Dir, "proc/vmcore"), "not a dump at all");
        string marker = Path.Combine(_target, "post-args");
        string post = Script("post.sh", $"#!/bin/sh\necho \"$1\" > {marker}\n");

        var r = Collect(new DirectorySysroot(root.Dir), $"kdump_post {post}\nfailure_action halt\nfinal_action poweroff\n");

        Assert.Equal(1, r.ExitCode);
        Assert.Equal("1\n", File.ReadAllText(marker));
        Assert.Equal([SystemAction.Halt], _actions.Actions);
        Assert.Equal("0\n", root.ReadFile("sys/kernel/fadump/registered"));
        Assert.Equal(string.Empty, root.ReadFile("sys/kernel/fadump/release_mem"));
    }

    [Fact]
    public void Failure_shell_is_followed_by_the_final_action()
    {
        using var root = SyntheticRoot.Kdump();
        File.WriteAllText(Path.Combine(root.Dir, "proc/vmcore"), "garbage");

        var r = Collect(new DirectorySysroot(root.Dir), "failure_action shell\nfinal_action poweroff\n");

        Assert.Equal(1, r.ExitCode);
        Assert.Equal([SystemAction.Shell, SystemAction.PowerOff], _actions.Actions);
    }

    [Fact]
    public void Two_captures_in_the_same_second_get_separate_directories()
    {
        using var root = SyntheticRoot.Kdump();

        var first = Collect(new DirectorySysroot(root.Dir));
        var second = Collect(new DirectorySysroot(root.Dir));

        Assert.Equal(0, first.ExitCode);
        Assert.Equal(0, second.ExitCode);
        Assert.Equal(first.Directory + "-2", second.Directory);
    }

    [Fact]
    public void Host_falls_back_to_the_running_hostname_then_to_127_0_0_1()
    {
        using var root = SyntheticRoot.Empty();
        using var dump = Fadump.Formats.Elf.ElfDump.Open(new Fadump.Formats.IO.MemorySource(Fadump.Tools.Tests.Synthetic.SyntheticScenarios.Ppc64WithLog(false).Kernel.ToElf()));
        var sysroot = new DirectorySysroot(root.Dir);

        Assert.Equal("synthetic", DumpDirectoryName.Host(dump, sysroot));
        using var noInfo = new PhypDumpImage(new Fadump.Formats.IO.MemorySource(new byte[1 << 20]), ReleaseRegionListing.Parse("CPU:0x0-0x0: HPTE:0x0-0x0: DUMP:0x80000-0x10000, 0x10000-0x10000:"), DumpMachine.Ppc64);
        Assert.Equal("127.0.0.1", DumpDirectoryName.Host(noInfo, sysroot));
        root.WriteFile("proc/sys/kernel/hostname", "lpar 7\n");
        Assert.Equal("lpar_7", DumpDirectoryName.Host(noInfo, sysroot));
        Assert.Equal("2025-03-07-14:05:09", DumpDirectoryName.Timestamp(CaptureTime));
    }

    private string Script(string name, string text)
    {
        string p = Path.Combine(_hooks, name);
        File.WriteAllText(p, text);
        File.SetUnixFileMode(p, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return p;
    }
}
