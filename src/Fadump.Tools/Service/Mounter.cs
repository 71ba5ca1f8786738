using System.ComponentModel;
using System.Diagnostics;

namespace Fadump.Tools.Service;

/// <summary>Mounts a file-system dump target (kdump.conf <c>ext4 /dev/vdb</c>...).</summary>
public interface IMounter
{
    /// <summary>
    /// mount -t TYPE DEVICE DIRECTORY; throws an <see cref="IOException"/> with mount's own words when it fails,
    /// and <see cref="OperationCanceledException"/> (the mount killed) when <paramref name="ct"/> is cancelled.
    /// </summary>
    void Mount(string type, string device, string directory, CancellationToken ct);

    /// <summary>True when something is mounted on the directory (kdump-utils' is_mounted: then it is used as it is).</summary>
    bool IsMounted(string directory);
}

/// <summary>
/// mount(8): it resolves UUID=, LABEL= and PARTUUID=, and knows each file system's helper (mount.nfs). A mount
/// that has not finished after <see cref="Timeout"/> (an NFS server that does not answer) is killed and counts
/// as failed, as kdump-utils' initramfs gives up on its target after systemd's timeout.
/// </summary>
public sealed class SystemMounter : IMounter
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(90);

    public string Program { get; init; } = "mount";

    public bool IsMounted(string directory)
    {
        string want = Path.GetFullPath(directory).TrimEnd('/');
        try
        {
            // /proc/self/mountinfo: the 5th field is the mount point, with blanks as octal escapes.
            foreach (string line in File.ReadLines("/proc/self/mountinfo"))
            {
                string[] f = line.Split(' ');
                if (f.Length > 4 && Unescape(f[4]).TrimEnd('/') == want)
                {
                    return true;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        return false;
    }

    public void Mount(string type, string device, string directory, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(Program)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList = { "-t", type, device, directory },
        };
        string command = $"{Program} -t {type} {device} {directory}";
        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new IOException($"{command}: could not start {Program}");
        }
        catch (Win32Exception e)
        {
            throw new IOException($"{command}: {e.Message}", e);
        }

        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            var deadline = DateTime.UtcNow + Timeout;
            while (!p.WaitForExit(100))
            {
                if (ct.IsCancellationRequested || DateTime.UtcNow >= deadline)
                {
                    p.Kill(entireProcessTree: true);
                    p.WaitForExit();
                    ct.ThrowIfCancellationRequested();
                    throw new IOException($"{command}: no answer after {Timeout.TotalSeconds:0.#} s");
                }
            }

            p.WaitForExit();
            string said = string.Join(' ', (stderr.GetAwaiter().GetResult() + " " + stdout.GetAwaiter().GetResult())
                .Split((char[])[' ', '\t', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries));
            if (p.ExitCode != 0)
            {
                throw new IOException($"{command} exited with status {p.ExitCode}" + (said.Length > 0 ? ": " + said : string.Empty));
            }
        }
    }

    private static string Unescape(string field) =>
        field.Replace("\\040", " ", StringComparison.Ordinal).Replace("\\011", "\t", StringComparison.Ordinal)
            .Replace("\\012", "\n", StringComparison.Ordinal).Replace("\\134", "\\", StringComparison.Ordinal);
}
