using Fadump.Formats;
using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Tests.Service;

/// <summary>The ssh target against a real sshd on loopback.</summary>
public sealed class SshCollectTests : IDisposable
{
    private readonly SshServer _server = new();
    private readonly string _remote = Directory.CreateTempSubdirectory("fadump-ssh-target-").FullName;
    private readonly StringWriter _log = new();
    private readonly RecordingActionRunner _actions = new();

    public void Dispose()
    {
        _server.Dispose();
        Directory.Delete(_remote, recursive: true);
    }

    private CollectResult Collect(SyntheticRoot root, string path, IDumpWriter? writer = null)
    {
        var config = KdumpConfigParser.Parse($"path {path}\nssh root@127.0.0.1\nsshkey {_server.ClientKey}\n");
        var options = new CollectOptions
        {
            Actions = _actions,
            Log = _log,
            SshOptions = _server.ClientOptions,
            Writer = writer ?? new ElfCopyDumpWriter(),
        };
        return new CollectService(config, options).Run(new DirectorySysroot(root.Dir));
    }

    [Fact]
    public void Saves_dmesg_and_a_flattened_vmcore_then_renames_it()
    {
        using var root = SyntheticRoot.Fadump(oldNames: false, patternBytes: 8 << 20);

        var r = Collect(root, _remote);

        Assert.True(r.ExitCode == 0, _log + string.Join('\n', _server.Log));
        string dir = Directory.GetDirectories(_remote).Single();
        Assert.StartsWith("synthetic-", Path.GetFileName(dir), StringComparison.Ordinal);
        Assert.Equal($"root@127.0.0.1:{dir}", r.Directory);
        Assert.Equal(["vmcore-dmesg.txt", "vmcore.flat"], Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(SyntheticRoot.ExpectedDmesg, File.ReadAllText(Path.Combine(dir, "vmcore-dmesg.txt")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "vmcore.flat")) & (UnixFileMode)0x1ff);
        using (var saved = DumpFile.Open(Path.Combine(dir, "vmcore.flat")))
        using (var source = DumpFile.Open(Path.Combine(root.Dir, "proc/vmcore")))
        {
            Assert.True(saved.IsFlattened);
            Assert.Equal(source.MemoryRanges(), saved.MemoryRanges());
            var a = new byte[1 << 20];
            var b = new byte[1 << 20];
            Assert.Equal(a.Length, source.ReadPhysical(SyntheticRoot.PatternStart + (3 << 20), a));
            Assert.Equal(b.Length, saved.ReadPhysical(SyntheticRoot.PatternStart + (3 << 20), b));
            Assert.Equal(a, b);
        }

        Assert.Contains("verified root@127.0.0.1:", _log.ToString(), StringComparison.Ordinal);
        Assert.Equal("1\n", root.ReadFile("sys/kernel/fadump/release_mem"));
        Assert.Empty(_actions.Requested);
    }

    [Fact]
    public void Saves_the_opal_core_as_opalcore_beside_the_vmcore_and_releases_it()
    {
        using var root = SyntheticRoot.Fadump(oldNames: false);
        byte[] core = Fadump.Tools.Tests.Synthetic.OpalCoreBuilder.Small().Build();
        root.AddOpalCore(core);

        var r = Collect(root, _remote);

        Assert.True(r.ExitCode == 0, _log + string.Join('\n', _server.Log));
        string dir = Directory.GetDirectories(_remote).Single();
        Assert.Equal(["opalcore", "vmcore-dmesg.txt", "vmcore.flat"], Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(core, File.ReadAllBytes(Path.Combine(dir, "opalcore")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "opalcore")) & (UnixFileMode)0x1ff);
        Assert.Equal($"root@127.0.0.1:{dir}/opalcore", r.OpalCore);
        Assert.Contains($"saving opalcore:/sys/firmware/opal/mpipl/core to root@127.0.0.1:{dir}/opalcore", _log.ToString(), StringComparison.Ordinal);
        Assert.True(r.OpalCoreReleased);
        Assert.Equal("1\n", root.ReadFile("sys/firmware/opal/mpipl/release_core"));
    }

    [Fact]
    public void A_connection_killed_mid_transfer_leaves_only_vmcore_incomplete_and_fails()
    {
        using var root = SyntheticRoot.Fadump(oldNames: false, patternBytes: 48 << 20);
        int killed = 0;
        var writer = new InterceptingWriter(new ElfCopyDumpWriter(), 2 << 20, () => killed = _server.KillSessions());

        var r = Collect(root, _remote, writer);

        Assert.True(killed > 0, "no sshd session was killed");
        Assert.True(r.ExitCode == 1, _log.ToString());
        Assert.Contains(r.Errors, e => e.Contains("saving vmcore", StringComparison.Ordinal));
        Assert.False(r.VmcoreSaved);
        string dir = Directory.GetDirectories(_remote).Single();
        var names = Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["vmcore-dmesg.txt", "vmcore-incomplete"], names);
        Assert.True(new FileInfo(Path.Combine(dir, "vmcore-incomplete")).Length < 48 << 20);
        Assert.Equal([(SystemAction.Reboot, "failure_action")], _actions.Requested);
        Assert.Equal(string.Empty, root.ReadFile("sys/kernel/fadump/release_mem"));
    }

    [Fact]
    public void A_remote_dd_that_fails_on_a_full_disk_leaves_only_vmcore_incomplete_and_fails()
    {
        using var tmpfs = new TmpfsMount("8M");
        using var root = SyntheticRoot.Fadump(oldNames: false, patternBytes: 32 << 20);

        var r = Collect(root, tmpfs.Dir);

        Assert.Equal(1, r.ExitCode);
        string dir = Directory.GetDirectories(tmpfs.Dir).Single();
        Assert.Equal(["vmcore-dmesg.txt", "vmcore-incomplete"], Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal([(SystemAction.Reboot, "failure_action")], _actions.Requested);
        Assert.Equal(string.Empty, root.ReadFile("sys/kernel/fadump/release_mem"));
    }

    [Fact]
    public void A_configured_key_that_does_not_exist_is_an_error()
    {
        using var root = SyntheticRoot.Kdump();
        var config = KdumpConfigParser.Parse($"path {_remote}\nssh root@127.0.0.1\nsshkey /nonexistent/key\n");

        var r = new CollectService(config, new CollectOptions { Actions = _actions, Log = _log, SshOptions = _server.ClientOptions }).Run(new DirectorySysroot(root.Dir));

        Assert.Equal(1, r.ExitCode);
        Assert.Contains(r.Errors, e => e.Contains("sshkey /nonexistent/key does not exist", StringComparison.Ordinal));
        Assert.Empty(Directory.GetFileSystemEntries(_remote));
    }

    [Fact]
    public void Ssh_arguments_put_extra_options_first_and_keep_kdump_utils_defaults()
    {
        var ssh = new SshClient(new SshDestination("kdump", "host"), "/root/.ssh/kdump_id_rsa", ["Port=2222"]);

        Assert.Equal(
            ["-o", "Port=2222", "-i", "/root/.ssh/kdump_id_rsa", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
             "-o", "ConnectTimeout=30", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4", "--", "kdump@host"],
            ssh.Arguments());
        Assert.Equal("'/var/crash/it'\\''s'", SshClient.Quote("/var/crash/it's"));
    }

    /// <summary>Wraps the real writer; after some bytes have gone to ssh, calls an action once (kills the connection).</summary>
    private sealed class InterceptingWriter(IDumpWriter inner, long afterBytes, Action action) : IDumpWriter
    {
        public DumpWriteResult Save(IDump input, string outputPath, CoreCollectorOptions options, Action<ulong>? durableThrough = null, CancellationToken ct = default) =>
            inner.Save(input, outputPath, options, durableThrough, ct);

        public DumpWriteResult Save(IDump input, Stream flattenedOutput, CoreCollectorOptions options, CancellationToken ct = default) =>
            inner.Save(input, new TripStream(flattenedOutput, afterBytes, action), options, ct);
    }

    private sealed class TripStream(Stream inner, long after, Action action) : Stream
    {
        private long _written;
        private bool _tripped;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _written;

        public override long Position { get => _written; set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            _written += buffer.Length;
            if (!_tripped && _written >= after)
            {
                _tripped = true;
                inner.Flush();
                action();
                Thread.Sleep(200); // let the client see the connection drop
            }
        }

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
