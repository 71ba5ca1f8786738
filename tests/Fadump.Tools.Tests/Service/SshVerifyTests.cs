using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Tests.Service;

/// <summary>
/// The ssh target's read-back check, tested failing: a real sshd on loopback, reached through an ssh that
/// damages the vmcore upload on its way (one byte changed, or the last byte lost). The service must see the
/// size or SHA-256 mismatch, leave vmcore.flat unmade, not release and not re-register, and run the failure
/// action.
/// </summary>
public sealed class SshVerifyTests : IDisposable
{
    private readonly SshServer _server = new();
    private readonly string _remote = Directory.CreateTempSubdirectory("fadump-ssh-verify-").FullName;
    private readonly string _bin = Directory.CreateTempSubdirectory("fadump-ssh-bin-").FullName;
    private readonly StringWriter _log = new();
    private readonly RecordingActionRunner _actions = new();

    public void Dispose()
    {
        _server.Dispose();
        Directory.Delete(_remote, recursive: true);
        Directory.Delete(_bin, recursive: true);
    }

    [Theory]
    [InlineData("flip", "SHA-256")]
    [InlineData("truncate", "bytes were sent")]
    [InlineData("none", null)]
    public void A_damaged_upload_is_caught_by_the_read_back(string damage, string? expected)
    {
        using var root = SyntheticRoot.Fadump(oldNames: false, patternBytes: 4 << 20);
        var config = KdumpConfigParser.Parse($"path {_remote}\nssh root@127.0.0.1\nsshkey {_server.ClientKey}\nfailure_action shell\n");
        var options = new CollectOptions
        {
            Actions = _actions,
            Log = _log,
            SshOptions = _server.ClientOptions,
            SshProgram = DamagingSsh(damage),
            Writer = new ElfCopyDumpWriter(),
        };

        var r = new CollectService(config, options).Run(new DirectorySysroot(root.Dir));

        string dir = Directory.GetDirectories(_remote).Single();
        Assert.True(File.Exists(Path.Combine(_bin, "used")), "the damaging ssh did not see the vmcore upload");
        if (expected is null)
        {
            // The control: the same wrapper without damage passes.
            Assert.True(r.ExitCode == 0, _log.ToString());
            Assert.True(File.Exists(Path.Combine(dir, "vmcore.flat")));
            Assert.Equal("1\n", root.ReadFile("sys/kernel/fadump/release_mem"));
            return;
        }

        Assert.Equal(1, r.ExitCode);
        Assert.Contains(expected, _log.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(dir, "vmcore.flat")), "a damaged upload was renamed");
        Assert.True(File.Exists(Path.Combine(dir, "vmcore-incomplete")));
        Assert.Equal(string.Empty, root.ReadFile("sys/kernel/fadump/release_mem"));
        Assert.Equal("0\n", root.ReadFile("sys/kernel/fadump/registered"));
        Assert.Equal([SystemAction.Shell, SystemAction.Reboot], _actions.Actions);
    }

    /// <summary>
    /// A server that accepts the connection and never speaks (ConnectTimeout ends it), or sends its banner and
    /// then nothing (the keepalives end it): the service reports it and runs the failure action instead of
    /// hanging.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_silent_server_ends_in_the_failure_action_not_a_hang(bool sendsBanner)
    {
        using var root = SyntheticRoot.Fadump(oldNames: false);
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var accepted = new List<System.Net.Sockets.Socket>();
        using var stop = new CancellationTokenSource();
        _ = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var c = await listener.AcceptSocketAsync(stop.Token);
                if (sendsBanner)
                {
                    c.Send("SSH-2.0-OpenSSH_9.2p1\r\n"u8);
                }

                accepted.Add(c);
            }
        }, TestContext.Current.CancellationToken);
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        var config = KdumpConfigParser.Parse($"path /var/crash\nssh root@127.0.0.1\nsshkey {_server.ClientKey}\nfailure_action halt\n");
        var options = new CollectOptions
        {
            Actions = _actions,
            Log = _log,
            // Short versions of the service's own ConnectTimeout=30 (before the banner) and keepalives (15 s × 4,
            // which OpenSSH also applies during the key exchange).
            SshOptions = [$"Port={port}", "ConnectTimeout=3", "ServerAliveInterval=1", "ServerAliveCountMax=2", "StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null"],
        };

        var run = Task.Run(() => new CollectService(config, options).Run(new DirectorySysroot(root.Dir)), TestContext.Current.CancellationToken);
        bool finished = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken)) == run;
        stop.Cancel();
        listener.Stop();
        accepted.ForEach(c => c.Dispose());

        Assert.True(finished, "collect hung on a silent ssh server");
        var r = await run;
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("timed out", _log.ToString(), StringComparison.Ordinal);
        Assert.Equal([SystemAction.Halt], _actions.Actions);
        Assert.Equal(string.Empty, root.ReadFile("sys/kernel/fadump/release_mem"));
    }

    /// <summary>An ssh that passes everything to the real one, but alters the vmcore upload's standard input.</summary>
    private string DamagingSsh(string damage)
    {
        string py = damage switch
        {
            "flip" => "d=bytearray(sys.stdin.buffer.read()); d[len(d)//2]^=0x20; sys.stdout.buffer.write(d)",
            "truncate" => "d=sys.stdin.buffer.read(); sys.stdout.buffer.write(d[:-1])",
            _ => "sys.stdout.buffer.write(sys.stdin.buffer.read())",
        };
        string script = Path.Combine(_bin, "ssh");
        File.WriteAllText(script, $$"""
            #!/bin/sh
            for last in "$@"; do :; done
            case "$last" in
            *of=*vmcore-incomplete*)
                touch '{{_bin}}/used'
                python3 -c 'import sys; {{py}}' | exec ssh "$@" ;;
            *)
                exec ssh "$@" ;;
            esac
            """);
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return script;
    }
}
