using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Fadump.Tools.Tests.Service;

/// <summary>
/// A real OpenSSH server on loopback for the ssh target's tests: <c>/usr/sbin/sshd -D -f CONFIG</c> with a
/// generated host key and an authorized client key for root, on a free port. .ci/run installs
/// openssh-server; the tests run as root.
/// </summary>
internal sealed class SshServer : IDisposable
{
    public const string Sshd = "/usr/sbin/sshd";

    private readonly Process _sshd;

    public SshServer()
    {
        if (!File.Exists(Sshd))
        {
            throw new InvalidOperationException($"{Sshd} is missing: install openssh-server (.ci/run does)");
        }

        Dir = Directory.CreateTempSubdirectory("fadump-sshd-").FullName;
        Keygen(Path.Combine(Dir, "host_key"));
        Keygen(ClientKey);
        File.Copy(ClientKey + ".pub", Path.Combine(Dir, "authorized_keys"));

        // sshd's privilege separation directory (Debian creates it from the systemd unit, which is not running here).
        Directory.CreateDirectory("/run/sshd");
        Port = FreePort();
        string config = Path.Combine(Dir, "sshd_config");
        File.WriteAllText(config, string.Join('\n',
            $"Port {Port.ToString(CultureInfo.InvariantCulture)}",
            "ListenAddress 127.0.0.1",
            $"HostKey {Path.Combine(Dir, "host_key")}",
            $"PidFile {Path.Combine(Dir, "sshd.pid")}",
            $"AuthorizedKeysFile {Path.Combine(Dir, "authorized_keys")}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "MaxStartups 50",
            "LogLevel ERROR",
            string.Empty));
        var psi = new ProcessStartInfo(Sshd) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-D", "-e", "-f", config })
        {
            psi.ArgumentList.Add(a);
        }

        _sshd = Process.Start(psi)!;
        _sshd.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (Log) { Log.Add(e.Data); } } };
        _sshd.BeginErrorReadLine();
        WaitUntilListening();
    }

    public string Dir { get; }

    public int Port { get; }

    public string ClientKey => Path.Combine(Dir, "client_key");

    public List<string> Log { get; } = [];

    /// <summary>ssh -o options for the client: this port, and no known_hosts (a fresh host key each run).</summary>
    public IReadOnlyList<string> ClientOptions =>
        [$"Port={Port.ToString(CultureInfo.InvariantCulture)}", "StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR"];

    /// <summary>Kills every process sshd forked for a connection (SIGKILL): the connection drops mid-transfer.</summary>
    public int KillSessions()
    {
        int killed = 0;
        foreach (int pid in Descendants(_sshd.Id))
        {
            try
            {
                using var p = Process.GetProcessById(pid);
                p.Kill();
                killed++;
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Already gone.
            }
        }

        return killed;
    }

    public void Dispose()
    {
        KillSessions();
        try
        {
            _sshd.Kill();
            _sshd.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }

        _sshd.Dispose();
        Directory.Delete(Dir, recursive: true);
    }

    private static void Keygen(string path)
    {
        var (rc, output) = TmpfsMount.Run("ssh-keygen", "-q", "-t", "ed25519", "-N", string.Empty, "-f", path);
        if (rc != 0)
        {
            throw new InvalidOperationException($"ssh-keygen failed: {output}");
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private void WaitUntilListening()
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (_sshd.HasExited)
            {
                throw new InvalidOperationException($"sshd exited with {_sshd.ExitCode}: {string.Join('\n', Log)}");
            }

            try
            {
                using var c = new TcpClient();
                c.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                Thread.Sleep(50);
            }
        }

        throw new TimeoutException($"sshd did not listen on port {Port}: {string.Join('\n', Log)}");
    }

    /// <summary>Every process below pid, from /proc/*/stat (field 4 is the parent).</summary>
    private static List<int> Descendants(int pid)
    {
        var parent = new Dictionary<int, int>();
        foreach (var d in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out int p))
            {
                continue;
            }

            try
            {
                string stat = File.ReadAllText(Path.Combine(d, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                parent[p] = int.Parse(fields[1], CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
            }
        }

        var result = new List<int>();
        var queue = new Queue<int>([pid]);
        while (queue.Count > 0)
        {
            int cur = queue.Dequeue();
            foreach (var (child, par) in parent)
            {
                if (par == cur)
                {
                    result.Add(child);
                    queue.Enqueue(child);
                }
            }
        }

        return result;
    }
}
