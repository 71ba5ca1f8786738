using System.Diagnostics;
using System.Globalization;
using Fadump.Formats;
using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Tests.Service;

/// <summary>
/// kdump.conf <c>core_collector cp</c> and <c>scp</c> (kdump.conf(5) ex1 and ex7; issue 12 point 4): /proc/vmcore
/// saved byte for byte, locally (cp, as kdump-utils' dump_fs runs it) and to an ssh target (scp, named vmcore and
/// not vmcore.flat, as kdump-utils' dump_ssh names it), with the rules of every dump file.
/// </summary>
public sealed class CopyCollectorTests : IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private static readonly DateTimeOffset CaptureTime = new(2025, 3, 7, 14, 5, 9, TimeSpan.Zero);
    private readonly string _target = Directory.CreateTempSubdirectory("fadump-cp-target-").FullName;
    private readonly StringWriter _log = new();
    private readonly RecordingActionRunner _actions = new();

    public void Dispose() => Directory.Delete(_target, recursive: true);

    private string Dir => Path.Combine(_target, "synthetic-2025-03-07-14:05:09");

    private CollectResult Collect(SyntheticRoot root, string config, IReadOnlyList<string>? sshOptions = null) =>
        new CollectService(KdumpConfigParser.Parse(config, "test.conf"), new CollectOptions
        {
            Actions = _actions,
            Log = _log,
            Now = () => CaptureTime,
            SshOptions = sshOptions ?? [],
        }).Run(new DirectorySysroot(root.Dir));

    private static byte[] Vmcore(SyntheticRoot root) => File.ReadAllBytes(Path.Combine(root.Dir, "proc", "vmcore"));

    [Fact]
    public void Cp_saves_a_byte_identical_ELF_vmcore_and_releases_the_memory()
    {
        using var root = SyntheticRoot.Fadump(oldNames: false, patternBytes: 6 << 20);

        var r = Collect(root, $"path {_target}\ncore_collector cp\n");

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Equal(Dir, r.Directory);
        Assert.Equal(["vmcore", "vmcore-dmesg.txt"], Directory.GetFiles(Dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        string vmcore = Path.Combine(Dir, "vmcore");
        Assert.Equal(vmcore, r.Vmcore);
        Assert.Equal(Vmcore(root), File.ReadAllBytes(vmcore));
        Assert.Equal(Private, File.GetUnixFileMode(vmcore));
        Assert.Equal(SyntheticRoot.ExpectedDmesg, File.ReadAllText(Path.Combine(Dir, "vmcore-dmesg.txt")));
        Assert.Equal(0, r.Write!.DumpLevelUsed);
        Assert.Contains($"verified {Path.Combine(Dir, "vmcore-incomplete")}: ", _log.ToString(), StringComparison.Ordinal);
        Assert.Equal("1\n", root.ReadFile("sys/kernel/fadump/release_mem"));
        Assert.Empty(_actions.Requested);
    }

    /// <summary>cp --sparse=always (kdump.conf(5) ex1): the same bytes, the synthetic kernel's zero pages left as holes.</summary>
    [Fact]
    public void Cp_sparse_always_leaves_zeros_as_holes()
    {
        using var root = SyntheticRoot.Kdump();

        var r = Collect(root, $"path {_target}\ncore_collector cp --sparse=always\n");

        Assert.True(r.ExitCode == 0, _log.ToString());
        string vmcore = Path.Combine(Dir, "vmcore");
        byte[] source = Vmcore(root);
        Assert.Equal(source, File.ReadAllBytes(vmcore));
        long zeroBlocks = Enumerable.Range(0, source.Length / 4096).Count(i => !source.AsSpan(i * 4096, 4096).ContainsAnyExcept((byte)0));
        Assert.True(zeroBlocks > 0, "the synthetic vmcore has no zero block to leave out");
        Assert.True(AllocatedBytes(vmcore) <= source.Length - (zeroBlocks * 4096) + (64 << 10),
            $"{AllocatedBytes(vmcore)} bytes allocated for {source.Length} bytes of which {zeroBlocks * 4096} are zero blocks");
    }

    [Fact]
    public void Cp_on_a_full_disk_leaves_only_vmcore_incomplete_and_runs_the_failure_action()
    {
        using var tmpfs = new TmpfsMount("8M");
        using var root = SyntheticRoot.Fadump(oldNames: false, patternBytes: 16 << 20);

        var r = Collect(root, $"path {tmpfs.Dir}\ncore_collector cp\n");

        Assert.Equal(1, r.ExitCode);
        Assert.False(r.VmcoreSaved);
        string dir = Directory.GetDirectories(tmpfs.Dir).Single();
        Assert.Equal(["vmcore-dmesg.txt", "vmcore-incomplete"], Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        string partial = Path.Combine(dir, "vmcore-incomplete");
        Assert.Equal(Private, File.GetUnixFileMode(partial));
        Assert.Equal(Path.Combine(dir, "vmcore-incomplete"), r.Vmcore);
        // As cp leaves it: the bytes that fitted, not flagged; the readers see the cut (here a PT_LOAD past the end).
        Assert.True(new FileInfo(partial).Length < Vmcore(root).Length);
        Assert.Equal(Vmcore(root)[..(int)new FileInfo(partial).Length], File.ReadAllBytes(partial));
        var e = Assert.Throws<DumpFormatException>(() => DumpFile.Open(partial).Dispose());
        Assert.Contains("the dump is truncated (incomplete)", e.Message, StringComparison.Ordinal);

        Assert.Contains(r.Errors, e => e.StartsWith($"saving vmcore to {dir} failed: ", StringComparison.Ordinal));
        Assert.Equal([(SystemAction.Reboot, "failure_action")], _actions.Requested);
        Assert.Equal(string.Empty, root.ReadFile("sys/kernel/fadump/release_mem"));
    }

    /// <summary>kdump-utils runs "scp /proc/vmcore DIR/vmcore-incomplete" for a local target, which scp does as a local copy.</summary>
    [Fact]
    public void Scp_with_a_local_target_copies_locally_and_says_so()
    {
        using var root = SyntheticRoot.Kdump();

        var r = Collect(root, $"path {_target}\ncore_collector scp\n");

        Assert.True(r.ExitCode == 0, _log.ToString());
        Assert.Equal(Vmcore(root), File.ReadAllBytes(Path.Combine(Dir, "vmcore")));
        Assert.Contains("core_collector scp with a local target: /proc/vmcore is copied as it is (as kdump-utils' scp between two local paths does)\n",
            _log.ToString().ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }

    [Fact]
    public void Scp_to_an_ssh_target_saves_a_byte_identical_vmcore_named_vmcore()
    {
        using var server = new SshServer();
        using var root = SyntheticRoot.Fadump(oldNames: false, patternBytes: 6 << 20);

        var r = Collect(root, $"path {_target}\nssh root@127.0.0.1\nsshkey {server.ClientKey}\ncore_collector scp -q\n", server.ClientOptions);

        Assert.True(r.ExitCode == 0, _log + string.Join('\n', server.Log));
        Assert.Equal(["vmcore", "vmcore-dmesg.txt"], Directory.GetFiles(Dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        string vmcore = Path.Combine(Dir, "vmcore");
        Assert.Equal($"root@127.0.0.1:{vmcore}", r.Vmcore);
        Assert.Equal(Vmcore(root), File.ReadAllBytes(vmcore));
        Assert.Equal(Private, File.GetUnixFileMode(vmcore) & (UnixFileMode)0x1ff);
        string log = _log.ToString().ReplaceLineEndings("\n");
        Assert.Contains("core_collector scp: -q ignored (kdump-utils runs scp -q with its own ssh options only)\n", log, StringComparison.Ordinal);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"verified root@127.0.0.1:{Path.Combine(Dir, "vmcore-incomplete")}: {Vmcore(root).Length} bytes, SHA-256 "), log, StringComparison.Ordinal);
        Assert.Equal("1\n", root.ReadFile("sys/kernel/fadump/release_mem"));
    }

    /// <summary>st_blocks * 512, as stat(1) reports it.</summary>
    private static long AllocatedBytes(string path)
    {
        var psi = new ProcessStartInfo("stat", ["-c", "%b", path]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        string blocks = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return long.Parse(blocks, CultureInfo.InvariantCulture) * 512;
    }
}
