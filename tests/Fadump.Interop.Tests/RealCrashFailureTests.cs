using Fadump.Formats;
using Fadump.Formats.Kdump;

namespace Fadump.Interop.Tests;

/// <summary>
/// Failures inside the real capture kernel of tests/fixtures/qemu/make-crash.sh, after the good run: each with
/// its own kdump.conf, observed in the guest (exit status, what the systemctl shim was asked to do, the files
/// on the target with `fadump info` of each) and on the host (the target disks copied out with debugfs).
/// Every one ends in its configured failure action, leaves nothing named vmcore that is not complete, and
/// keeps vmcore-dmesg.txt.
/// </summary>
[Trait("Category", "Interop")]
public sealed class RealCrashFailureTests
{
    private static string Dir(string scenario) => Path.GetDirectoryName(Fixtures.Require($"realcrash/scenario-{scenario}/rc"))!;

    private static string Text(string scenario, string file) => File.ReadAllText(Fixtures.Require($"realcrash/scenario-{scenario}/{file}"));

    /// <summary>"SIZE MODE /relative/path" lines of the guest's listing.</summary>
    private static List<(long Size, string Mode, string Path)> Files(string scenario) =>
        [.. Text(scenario, "files.txt").Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', 3)).Select(p => (long.Parse(p[0], System.Globalization.CultureInfo.InvariantCulture), p[1], p[2]))];

    private static string Log(string scenario) => Text(scenario, "collect.log");

    private static void NothingLooksComplete(string scenario)
    {
        var files = Files(scenario);
        Assert.DoesNotContain(files, f => Path.GetFileName(f.Path) == "vmcore");
        Assert.All(files, f => Assert.Equal("600", f.Mode));
        var dmesg = Assert.Single(files, f => Path.GetFileName(f.Path) == "vmcore-dmesg.txt");
        Assert.True(dmesg.Size > 10_000, $"vmcore-dmesg.txt has {dmesg.Size} bytes");
    }

    private static string SavedDmesg => File.ReadAllText(Fixtures.Require("realcrash/saved/vmcore-dmesg.txt"));

    private static string HostFile(string scenario, string name) =>
        Directory.EnumerateFiles(Path.Combine(Dir(scenario), "disk"), name, SearchOption.AllDirectories).Single();

    [Fact]
    public void The_capture_initramfs_holds_no_OpenSSL_and_runs_the_native_binary()
    {
        Assert.Equal(string.Empty, File.ReadAllText(Fixtures.Require("realcrash/openssl-files.txt")).Trim());
        Assert.StartsWith("native ", File.ReadAllText(Fixtures.Require("realcrash/fadump-binary.txt")), StringComparison.Ordinal);
    }

    [Fact]
    public void A_full_disk_ends_in_failure_action_poweroff_with_the_dmesg_saved_and_the_vmcore_flagged()
    {
        string log = Log("full");
        Assert.True(Text("full", "rc").Trim() == "1", log);
        Assert.Equal("poweroff -f", Text("full", "action").Trim());
        Assert.Contains("mounted the dump target ext4 /dev/vdb on /kdumproot", log, StringComparison.Ordinal);
        Assert.Contains("No space left on device", log, StringComparison.Ordinal);
        Assert.Contains("executing failure_action: poweroff", log, StringComparison.Ordinal);
        NothingLooksComplete("full");
        Assert.Contains(Files("full"), f => f.Path.EndsWith("/vmcore-incomplete", StringComparison.Ordinal));
        Assert.Contains("Complete:     no", Text("full", "info.txt"), StringComparison.Ordinal);
        Assert.Contains("info exit 1", Text("full", "info.txt"), StringComparison.Ordinal);

        // On the host: the small disk's files.
        Assert.Equal(SavedDmesg, File.ReadAllText(HostFile("full", "vmcore-dmesg.txt")));
        using var partial = KdumpCompressedDump.Open(HostFile("full", "vmcore-incomplete"));
        Assert.True(partial.IsIncomplete);
    }

    [Fact]
    public void A_missing_target_disk_ends_in_dump_to_rootfs_with_a_complete_dump_there()
    {
        string log = Log("missing");
        Assert.True(Text("missing", "rc").Trim() == "1", log); // the configured target failed
        Assert.Contains("cannot mount the dump target ext4 /dev/vdz on /kdumproot: mount -t ext4 /dev/vdz /kdumproot exited with status", log, StringComparison.Ordinal);
        Assert.Contains("executing failure action dump_to_rootfs", log, StringComparison.Ordinal);
        Assert.Equal("poweroff -f", Text("missing", "action").Trim()); // then final_action poweroff
        var files = Files("missing");
        Assert.Equal(["vmcore", "vmcore-dmesg.txt"], files.Select(f => Path.GetFileName(f.Path)).Order(StringComparer.Ordinal));
        Assert.Contains("info exit 0", Text("missing", "info.txt"), StringComparison.Ordinal);

        Assert.Equal(SavedDmesg, File.ReadAllText(HostFile("missing", "vmcore-dmesg.txt")));
        using var again = KdumpCompressedDump.Open(HostFile("missing", "vmcore"));
        using var first = KdumpCompressedDump.Open(Fixtures.Require("realcrash/saved/vmcore"));
        Assert.False(again.IsIncomplete);
        Assert.Equal(first.DumpedRanges(), again.DumpedRanges());
    }

    [Fact]
    public void After_SIGKILL_mid_save_the_error_handler_runs_the_failure_action()
    {
        Assert.Equal("137", Text("killed", "rc").Trim());
        Assert.Equal("none", Text("killed", "action").Trim()); // a killed process asks for nothing
        string handler = Text("killed", "handler.log");
        Assert.Equal("1", Text("killed", "handler.rc").Trim());
        Assert.Contains("the dump service did not finish (kdump error handler)", handler, StringComparison.Ordinal);
        Assert.Equal("reboot -f", Text("killed", "handler-action").Trim());
        Assert.Contains("the interrupted save left /mnt/dump-killed/", handler, StringComparison.Ordinal);
        NothingLooksComplete("killed");
        var part = Assert.Single(Files("killed"), f => f.Path.Contains("vmcore-incomplete", StringComparison.Ordinal));
        Assert.True(part.Path.EndsWith("/vmcore-incomplete", StringComparison.Ordinal), part.Path + ": the error handler gives the hidden part file its visible name");
        Assert.True(part.Size >= 4 << 20, $"{part.Path}: {part.Size} bytes");
        Assert.Contains("info exit 1", Text("killed", "info.txt"), StringComparison.Ordinal);
        Assert.Equal(SavedDmesg, File.ReadAllText(HostFile("killed", "vmcore-dmesg.txt")));
    }

    [Fact]
    public void SIGTERM_mid_save_stops_the_save_and_collect_runs_the_failure_action_itself()
    {
        string log = Log("term");
        Assert.True(Text("term", "rc").Trim() == "143", log);
        Assert.Contains("interrupted by a signal", log, StringComparison.Ordinal);
        Assert.Contains("executing failure_action: reboot", log, StringComparison.Ordinal);
        Assert.Equal("reboot -f", Text("term", "action").Trim());
        NothingLooksComplete("term");
        Assert.Contains(Files("term"), f => f.Path.EndsWith("/vmcore-incomplete", StringComparison.Ordinal));
        Assert.Contains("Complete:     no", Text("term", "info.txt"), StringComparison.Ordinal);

        using var partial = DumpFile.Open(HostFile("term", "vmcore-incomplete"));
        Assert.True(partial.IsIncomplete);
        Assert.Equal(SavedDmesg, File.ReadAllText(HostFile("term", "vmcore-dmesg.txt")));
    }
}
