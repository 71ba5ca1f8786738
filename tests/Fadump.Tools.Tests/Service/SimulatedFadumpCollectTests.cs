using Fadump.Cli.Simulation;
using Fadump.Formats;
using Fadump.Kernel;
using Fadump.Tools.Service;
using Fadump.Kernel.Platforms;
using Fadump.Kernel.Fadump;

namespace Fadump.Tools.Tests.Service;

/// <summary>
/// The dump service on the simulated pSeries LPAR, in-process: boot and register, panic, the firmware copies
/// boot memory and the capture kernel serves /proc/vmcore and /sys/kernel/fadump; collect saves, verifies,
/// releases and re-registers through those files only.
/// </summary>
public sealed class SimulatedFadumpCollectTests : IDisposable
{
    private readonly string _target = Directory.CreateTempSubdirectory("fadump-sim-target-").FullName;

    public void Dispose() => Directory.Delete(_target, recursive: true);

    [Fact]
    public void Collect_saves_releases_reregisters_and_does_not_reboot()
    {
        var lpar = new PseriesLpar(new LparSpec { MemoryBytes = 1UL << 30, Cpus = 4, Workload = "idle" });
        var first = lpar.Boot();
        Assert.True(first.Fadump.Dump.Registered);
        Assert.True(lpar.Crash(CrashKind.Panic));
        var capture = lpar.Kernel!;
        Assert.NotSame(first, capture);
        var root = new SimulatedSysroot(lpar);
        Assert.True(root.Exists("/proc/vmcore"), string.Join("\n", capture.Fadump.VmcoreLog));
        var log = new StringWriter();
        var actions = new RecordingActionRunner();
        var config = KdumpConfigParser.Parse($"path {_target}\n", "kdump.conf");

        var r = new CollectService(config, new CollectOptions { Actions = actions, Log = log }).Run(root);

        Assert.True(r.ExitCode == 0, log.ToString());
        Assert.Equal(DumpMechanism.Fadump, r.Mechanism);
        Assert.StartsWith(Path.Combine(_target, "lpar1-"), r.Directory, StringComparison.Ordinal);
        string dir = r.Directory!;
        Assert.Equal(["vmcore", "vmcore-dmesg.txt"], Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        string dmesg = File.ReadAllText(Path.Combine(dir, "vmcore-dmesg.txt"));
        Assert.Contains("Kernel panic - not syncing", dmesg, StringComparison.Ordinal);
        using (var saved = DumpFile.Open(Path.Combine(dir, "vmcore")))
        {
            Assert.Equal(DumpMachine.Ppc64le, saved.Machine);
            Assert.Equal(4, saved.CpuStates().Count);
            Assert.False(saved.IsIncomplete);
            Assert.Equal(dmesg, SyntheticRoot.Dmesg(saved));
        }

        // Released: /proc/vmcore is gone and the memory is back; registered again.
        Assert.True(capture.Fadump.Dump.Released);
        Assert.True(capture.Fadump.Dump.ReleasedBytes > 0);
        Assert.False(root.Exists("/proc/vmcore"));
        Assert.Equal("1\n", root.ReadText("/sys/kernel/fadump/registered"));
        Assert.True(r.MemoryReleased);
        Assert.True(r.Reregistered);

        // final_action reboot is not executed after a successful FADump save.
        Assert.True(r.RebootSkipped);
        Assert.Empty(actions.Requested);
        Assert.Same(capture, lpar.Kernel);
    }
}
