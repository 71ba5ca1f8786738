using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Tests.Service;

/// <summary>
/// kdump.conf file-system targets (<c>ext4 /dev/vdb</c>): the service mounts the device and saves under
/// <c>path</c> on it; a target that cannot be mounted (the disk is missing) ends in the failure action, and
/// dump_to_rootfs then saves to the root file system. The real guest does the same (RealCrashTests).
/// </summary>
public sealed class FileSystemTargetTests : IDisposable
{
    private static readonly DateTimeOffset CaptureTime = new(2025, 3, 7, 14, 5, 9, TimeSpan.Zero);
    private readonly string _work = Directory.CreateTempSubdirectory("fadump-fstarget-").FullName;
    private readonly StringWriter _log = new();
    private readonly RecordingActionRunner _actions = new();

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private string MountRoot => Path.Combine(_work, "kdumproot");

    private string RootFs => Path.Combine(_work, "sysroot");

    private CollectResult Collect(SyntheticRoot root, string config, IMounter mounter, string? rootFs = null, CancellationToken? ct = null) =>
        new CollectService(
            KdumpConfigParser.Parse(config + "core_collector makedumpfile -l -d 1\n", "test.conf"),
            new CollectOptions { Actions = _actions, Log = _log, Now = () => CaptureTime, Mounter = mounter, MountRoot = MountRoot, RootFs = rootFs ?? RootFs, CancellationToken = ct ?? CancellationToken.None })
        .Run(new DirectorySysroot(root.Dir));

    [Fact]
    public void A_target_already_mounted_is_used_as_it_is()
    {
        using var root = SyntheticRoot.Kdump();
        var mounter = new FakeMounter { Mounted = true };

        var r = Collect(root, "ext4 /dev/vdb\npath /var/crash\n", mounter);

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Empty(mounter.Calls);
        Assert.Contains($"{MountRoot} is already mounted: saving there", _log.ToString(), StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(MountRoot, "var/crash", "synthetic-2025-03-07-14:05:09", "vmcore")));
    }

    [Fact]
    public void A_signal_while_mount_runs_stops_it_and_the_failure_action_runs()
    {
        using var root = SyntheticRoot.Kdump();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        var r = Collect(root, "nfs dumps.example.com:/export\npath /var/crash\nfailure_action poweroff\n", new FakeMounter { BlockUntilCancelled = true }, ct: cts.Token);

        Assert.Equal(1, r.ExitCode);
        Assert.Contains(r.Errors, e => e.Contains("mounting the dump target nfs dumps.example.com:/export on", StringComparison.Ordinal) && e.EndsWith("was interrupted by a signal", StringComparison.Ordinal));
        Assert.Equal([SystemAction.PowerOff], _actions.Actions);
    }

    /// <summary>mount(8) that does not answer (an NFS server gone) is killed at once by the signal, not after the 90 s timeout.</summary>
    [Fact]
    public void The_real_mounter_kills_a_hanging_mount_when_cancelled()
    {
        string hang = Path.Combine(_work, "hanging-mount");
        File.WriteAllText(hang, "#!/bin/sh\nexec sleep 60\n");
        File.SetUnixFileMode(hang, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var sw = System.Diagnostics.Stopwatch.StartNew();

        Assert.ThrowsAny<OperationCanceledException>(() => new SystemMounter { Program = hang }.Mount("nfs", "h:/e", MountRoot, cts.Token));

        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), $"took {sw.Elapsed}");
        var timedOut = Assert.Throws<IOException>(() => new SystemMounter { Program = hang, Timeout = TimeSpan.FromMilliseconds(300) }.Mount("nfs", "h:/e", MountRoot, TestContext.Current.CancellationToken));
        Assert.EndsWith("no answer after 0.3 s", timedOut.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Dump_to_rootfs_on_a_root_that_is_not_there_says_so_and_runs_the_final_action()
    {
        using var root = SyntheticRoot.Kdump();
        string missing = Path.Combine(_work, "sysroot-not-mounted");

        var r = Collect(root, "ext4 /dev/vdz\npath /var/crash\nfailure_action dump_to_rootfs\nfinal_action poweroff\n", new FakeMounter { Error = "no such device" }, rootFs: missing);

        Assert.False(r.VmcoreSaved);
        Assert.Contains(r.Errors, e => e == $"dump_to_rootfs: {missing}: No such directory (the root file system is not mounted)");
        Assert.False(Directory.Exists(missing));
        Assert.Equal([SystemAction.PowerOff], _actions.Actions);
    }

    [Fact]
    public void The_device_is_mounted_and_the_dump_goes_under_path_on_it()
    {
        using var root = SyntheticRoot.Kdump();
        var mounter = new FakeMounter();

        var r = Collect(root, "ext4 UUID=0b4a4ca5\npath /var/crash\n", mounter);

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Equal([("ext4", "UUID=0b4a4ca5", MountRoot)], mounter.Calls);
        string dir = Path.Combine(MountRoot, "var/crash", "synthetic-2025-03-07-14:05:09");
        Assert.Equal(dir, r.Directory);
        Assert.True(File.Exists(Path.Combine(dir, "vmcore")));
        Assert.True(File.Exists(Path.Combine(dir, "vmcore-dmesg.txt")));
        Assert.Contains($"mounted the dump target ext4 UUID=0b4a4ca5 on {MountRoot}", _log.ToString(), StringComparison.Ordinal);
        Assert.Equal([SystemAction.Reboot], _actions.Actions); // kdump: final_action
    }

    [Theory]
    [InlineData("poweroff", SystemAction.PowerOff)]
    [InlineData("halt", SystemAction.Halt)]
    public void A_target_that_cannot_be_mounted_ends_in_the_failure_action(string failure, SystemAction expected)
    {
        using var root = SyntheticRoot.Kdump();

        var r = Collect(root, $"ext4 /dev/vdz\npath /var/crash\nfailure_action {failure}\n", new FakeMounter { Error = "mount: /kdumproot: special device /dev/vdz does not exist." });

        Assert.Equal(1, r.ExitCode);
        Assert.False(r.VmcoreSaved);
        Assert.Contains(r.Errors, e => e.Contains("cannot mount the dump target ext4 /dev/vdz", StringComparison.Ordinal) && e.Contains("does not exist", StringComparison.Ordinal));
        Assert.Equal([expected], _actions.Actions);
        Assert.Empty(Directory.EnumerateFileSystemEntries(MountRoot));
    }

    [Fact]
    public void With_dump_to_rootfs_a_missing_target_is_saved_to_the_root_file_system_with_its_dmesg()
    {
        using var root = SyntheticRoot.Kdump();
        Directory.CreateDirectory(RootFs);

        var r = Collect(root, "ext4 /dev/vdz\npath /var/crash\nfailure_action dump_to_rootfs\nfinal_action poweroff\n", new FakeMounter { Error = "no such device" });

        Assert.True(r.VmcoreSaved, _log.ToString());
        Assert.True(r.SavedToRootfs);
        Assert.Equal(1, r.ExitCode); // the configured target failed
        string dir = Path.Combine(RootFs, "var/crash", "synthetic-2025-03-07-14:05:09");
        Assert.Equal(dir, r.Directory);
        Assert.Equal(["vmcore", "vmcore-dmesg.txt"], Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal([SystemAction.PowerOff], _actions.Actions);
    }

    /// <summary>mount(8) itself, on a device that is not there (as root, as the suite runs): its words reach the error.</summary>
    [Fact]
    public void The_real_mount_reports_a_missing_device()
    {
        using var root = SyntheticRoot.Kdump();

        var r = Collect(root, "ext4 /dev/fadump-no-such-disk\npath /var/crash\n", new SystemMounter());
        Assert.DoesNotContain("  ", r.Errors.Single(e => e.Contains("cannot mount", StringComparison.Ordinal)), StringComparison.Ordinal);

        Assert.Equal(1, r.ExitCode);
        string error = Assert.Single(r.Errors, e => e.Contains("cannot mount", StringComparison.Ordinal));
        Assert.Contains($"mount -t ext4 /dev/fadump-no-such-disk {MountRoot} exited with status", error, StringComparison.Ordinal);
        Assert.Equal([SystemAction.Reboot], _actions.Actions);
    }

    private sealed class FakeMounter : IMounter
    {
        public string? Error { get; init; }

        public bool Mounted { get; init; }

        public bool BlockUntilCancelled { get; init; }

        public List<(string Type, string Device, string Directory)> Calls { get; } = [];

        public bool IsMounted(string directory) => Mounted;

        public void Mount(string type, string device, string directory, CancellationToken ct)
        {
            Calls.Add((type, device, directory));
            if (BlockUntilCancelled)
            {
                ct.WaitHandle.WaitOne(TimeSpan.FromSeconds(30));
                ct.ThrowIfCancellationRequested();
            }

            if (Error is not null)
            {
                throw new IOException(Error);
            }
        }
    }
}
