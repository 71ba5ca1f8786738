using Fadump.Formats.IO;
using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;
using Fadump.Tools.Tests.Synthetic;

namespace Fadump.Tools.Tests.Service;

/// <summary>`fadump collect` on a PowerNV capture kernel's root: the OPAL core saved as opalcore, then release_core and release_mem.</summary>
public sealed class OpalCoreCollectTests : IDisposable
{
    private static readonly DateTimeOffset CaptureTime = new(2025, 3, 7, 14, 5, 9, TimeSpan.Zero);
    private readonly string _target = Directory.CreateTempSubdirectory("fadump-opal-target-").FullName;
    private readonly StringWriter _log = new();
    private readonly RecordingActionRunner _actions = new();
    private readonly byte[] _core = OpalCoreBuilder.Small(threads: 4).Build();

    public void Dispose() => Directory.Delete(_target, recursive: true);

    private string DumpDir => Path.Combine(_target, "synthetic-2025-03-07-14:05:09");

    private CollectResult Collect(ISysroot root)
    {
        var cfg = KdumpConfigParser.Parse($"path {_target}\ncore_collector makedumpfile -l -d 1\n", "test.conf");
        return new CollectService(cfg, new CollectOptions { Actions = _actions, Log = _log, Now = () => CaptureTime }).Run(root);
    }

    private List<string> LogLines => [.. _log.ToString().Split('\n')];

    [Fact]
    public void The_opal_core_is_saved_byte_identical_0600_between_dmesg_and_vmcore_then_released()
    {
        using var root = SyntheticRoot.Fadump(oldNames: false);
        root.AddOpalCore(_core);

        var r = Collect(new DirectorySysroot(root.Dir));

        Assert.True(r.ExitCode == 0, _log.ToString());
        string saved = Path.Combine(DumpDir, "opalcore");
        Assert.Equal(["opalcore", "vmcore", "vmcore-dmesg.txt"], Directory.GetFiles(DumpDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(_core, File.ReadAllBytes(saved));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(saved));
        Assert.Equal(saved, r.OpalCore);
        Assert.True(r.OpalCoreSaved);
        Assert.True(r.OpalCoreReleased);
        Assert.True(r.MemoryReleased);
        Assert.Equal("1\n", root.ReadFile("sys/firmware/opal/mpipl/release_core"));
        Assert.Equal("1\n", root.ReadFile("sys/kernel/fadump/release_mem"));
        var lines = LogLines;
        int start = lines.IndexOf($"saving opalcore:/sys/firmware/opal/mpipl/core to {saved}");
        Assert.True(start >= 0, _log.ToString());
        Assert.True(lines.IndexOf("saving vmcore-dmesg.txt complete") < start);
        Assert.True(start < lines.IndexOf("saving opalcore complete"));
        Assert.True(lines.IndexOf("saving opalcore complete") < lines.IndexOf("saving vmcore"));
        Assert.Contains("released the OPAL core (/sys/firmware/opal/mpipl/release_core)", lines);
        Assert.Empty(_actions.Requested);
    }

    [Fact]
    public void An_old_kernel_with_only_sys_firmware_opal_core_is_saved_and_nothing_is_written_to_release_core()
    {
        using var root = SyntheticRoot.Fadump(oldNames: false);
        root.AddOpalCore(_core, oldNameOnly: true);

        var r = Collect(new DirectorySysroot(root.Dir));

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Equal(_core, File.ReadAllBytes(Path.Combine(DumpDir, "opalcore")));
        Assert.Contains($"saving opalcore:/sys/firmware/opal/core to {DumpDir}/opalcore", LogLines);
        Assert.False(r.OpalCoreReleased);
        Assert.False(File.Exists(Path.Combine(root.Dir, "sys/firmware/opal/mpipl/release_core")));
        Assert.True(r.MemoryReleased);
    }

    [Fact]
    public void Without_an_opal_core_nothing_changes()
    {
        using var root = SyntheticRoot.Fadump(oldNames: false);

        var r = Collect(new DirectorySysroot(root.Dir));

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Equal(["vmcore", "vmcore-dmesg.txt"], Directory.GetFiles(DumpDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Null(r.OpalCore);
        Assert.False(r.OpalCoreReleased);
        Assert.DoesNotContain("opalcore", _log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Release_core_is_written_before_release_mem_and_registered()
    {
        using var root = SyntheticRoot.Fadump(oldNames: false);
        root.AddOpalCore(_core);
        var recording = new RecordingSysroot(new DirectorySysroot(root.Dir));

        var r = Collect(recording);

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Equal(["/sys/firmware/opal/mpipl/release_core", "/sys/kernel/fadump/release_mem", "/sys/kernel/fadump/registered"], recording.Writes);
    }

    [Fact]
    public void EPERM_from_release_core_is_logged_and_release_mem_still_runs()
    {
        using var root = SyntheticRoot.Fadump(oldNames: false);
        root.AddOpalCore(_core);
        var refusing = new RecordingSysroot(new DirectorySysroot(root.Dir))
        {
            Refuse = p => p == "/sys/firmware/opal/mpipl/release_core" ? new IOException($"{p}: Operation not permitted", 1) : null,
        };

        var r = Collect(refusing);

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.True(r.OpalCoreSaved);
        Assert.False(r.OpalCoreReleased);
        Assert.True(r.MemoryReleased);
        Assert.Contains(LogLines, l => l.StartsWith("writing 1 to /sys/firmware/opal/mpipl/release_core failed: /sys/firmware/opal/mpipl/release_core: Operation not permitted", StringComparison.Ordinal));
        Assert.Empty(r.Errors);
    }

    [Theory]
    [InlineData("directory")]
    [InlineData("fifo")]
    public void An_opal_core_that_cannot_be_read_fails_the_save_and_nothing_is_released(string kind)
    {
        using var root = SyntheticRoot.Fadump(oldNames: false);
        root.AddOpalCore(_core);
        string core = Path.Combine(root.Dir, "sys/firmware/opal/mpipl/core");
        File.Delete(core);
        if (kind == "directory")
        {
            Directory.CreateDirectory(core);
        }
        else
        {
            Assert.Equal(0, TmpfsMount.Run("mkfifo", core).ExitCode);
        }

        var r = Collect(new DirectorySysroot(root.Dir));

        Assert.Equal(1, r.ExitCode);
        Assert.Contains(r.Errors, e => e.StartsWith($"saving opalcore failed: {core}: ", StringComparison.Ordinal));
        Assert.Contains(r.Errors, e => e.Contains("nothing is released", StringComparison.Ordinal));
        Assert.False(r.VmcoreSaved);
        Assert.True(File.Exists(Path.Combine(DumpDir, "vmcore")), "the vmcore is still saved, as kdump-utils goes on to it");
        Assert.False(File.Exists(Path.Combine(DumpDir, "opalcore")));
        Assert.Empty(Directory.GetFiles(DumpDir, ".opalcore*"));
        Assert.Equal(string.Empty, root.ReadFile("sys/firmware/opal/mpipl/release_core"));
        Assert.Equal(string.Empty, root.ReadFile("sys/kernel/fadump/release_mem"));
        Assert.False(r.MemoryReleased);
        Assert.Equal([SystemAction.Reboot], _actions.Actions);
    }

    [Fact]
    public void A_core_shorter_than_it_claims_fails_the_save()
    {
        using var root = SyntheticRoot.Fadump(oldNames: false);
        root.AddOpalCore(_core);
        var shrinking = new RecordingSysroot(new DirectorySysroot(root.Dir)) { Shorten = "/sys/firmware/opal/mpipl/core" };

        var r = Collect(shrinking);

        Assert.Equal(1, r.ExitCode);
        Assert.Contains(r.Errors, e => e.StartsWith("saving opalcore failed: ", StringComparison.Ordinal) && e.Contains("OPAL core: unexpected end of file", StringComparison.Ordinal));
        Assert.False(File.Exists(Path.Combine(DumpDir, "opalcore")));
        Assert.Equal(string.Empty, root.ReadFile("sys/kernel/fadump/release_mem"));
    }

    /// <summary>A root that records writes, can refuse one with an IOException, and can serve a file that ends early.</summary>
    private sealed class RecordingSysroot(ISysroot inner) : ISysroot
    {
        public List<string> Writes { get; } = [];

        public Func<string, IOException?> Refuse { get; init; } = _ => null;

        public string? Shorten { get; init; }

        public string Description => inner.Description;

        public bool Exists(string path) => inner.Exists(path);

        public string ReadText(string path) => inner.ReadText(path);

        public void WriteText(string path, string text)
        {
            Writes.Add(path);
            if (Refuse(path) is { } e)
            {
                throw e;
            }

            inner.WriteText(path, text);
        }

        public IRandomAccessSource OpenRead(string path) => path == Shorten ? new ShortSource(inner.OpenRead(path)) : inner.OpenRead(path);
    }

    /// <summary>Says it is 1 MiB longer than the data it gives (a file that shrank while it was read).</summary>
    private sealed class ShortSource(IRandomAccessSource inner) : IRandomAccessSource
    {
        public string Name => inner.Name;

        public long Length => inner.Length + (1 << 20);

        public int Read(long offset, Span<byte> buffer) => inner.Read(offset, buffer);

        public void Dispose() => inner.Dispose();
    }
}
