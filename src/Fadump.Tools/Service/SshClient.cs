using System.ComponentModel;
using System.Diagnostics;

namespace Fadump.Tools.Service;

/// <summary>
/// The system's OpenSSH client, run as kdump-utils runs it (dump_ssh: <c>ssh -i KEY -o BatchMode=yes -o
/// StrictHostKeyChecking=yes user@host CMD</c>). Extra options come first: ssh keeps the first value it is
/// given for each option, so a test's <c>StrictHostKeyChecking=no</c> or <c>Port=N</c> wins. Keepalives are
/// added (kdump-utils has none) so that a network that vanishes without a reset ends the transfer instead
/// of hanging the capture, and a connect timeout (OpenSSH applies ConnectTimeout to the TCP connect, the
/// banner exchange and the key exchange) so that a server that accepts and never speaks ends it too.
/// </summary>
public sealed class SshClient
{
    private readonly SshDestination _destination;
    private readonly string? _key;
    private readonly IReadOnlyList<string> _extraOptions;

    public SshClient(SshDestination destination, string? keyPath, IReadOnlyList<string>? extraOptions = null, string program = "ssh")
    {
        ArgumentNullException.ThrowIfNull(destination);
        _destination = destination;
        _key = keyPath;
        _extraOptions = extraOptions ?? [];
        Program = program;
    }

    public string Program { get; }

    /// <summary>ssh -o ConnectTimeout: seconds for the connection, the banner and the key exchange.</summary>
    public const int ConnectTimeoutSeconds = 30;

    public SshDestination Destination => _destination;

    /// <summary>Quotes a word for the remote POSIX shell.</summary>
    public static string Quote(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    /// <summary>The arguments before the remote command.</summary>
    public IReadOnlyList<string> Arguments()
    {
        var a = new List<string>();
        foreach (var o in _extraOptions)
        {
            a.Add("-o");
            a.Add(o);
        }

        if (_key is not null)
        {
            a.Add("-i");
            a.Add(_key);
        }

        a.AddRange(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=" + ConnectTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]);
        a.Add("--");
        a.Add(_destination.ToString());
        return a;
    }

    /// <summary>Runs a remote command with no input.</summary>
    public RemoteResult Run(string command)
    {
        var (result, _, _) = Upload<bool>(command, null);
        return result;
    }

    /// <summary>
    /// Runs a remote command and feeds its standard input from <paramref name="write"/>. A write that fails
    /// (the connection or the remote command died: EPIPE) is returned, not thrown, beside ssh's own status.
    /// </summary>
    public (RemoteResult Remote, T? Value, IOException? WriteError) Upload<T>(string command, Func<Stream, T>? write)
    {
        var psi = new ProcessStartInfo(Program)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in Arguments())
        {
            psi.ArgumentList.Add(arg);
        }

        psi.ArgumentList.Add(command);
        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new IOException($"could not start {Program}");
        }
        catch (Win32Exception e)
        {
            return (new RemoteResult(127, string.Empty, $"{Program}: {e.Message}"), default, null);
        }

        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            T? value = default;
            IOException? writeError = null;
            try
            {
                if (write is not null)
                {
                    value = write(p.StandardInput.BaseStream);
                }
            }
            catch (IOException e)
            {
                writeError = e;
            }
            finally
            {
                try
                {
                    p.StandardInput.Close();
                }
                catch (IOException e)
                {
                    writeError ??= e;
                }
            }

            p.WaitForExit();
            var result = new RemoteResult(p.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
            return (result, value, writeError);
        }
    }
}
