using System.ComponentModel;
using System.Diagnostics;

namespace Fadump.Tools.Service;

/// <summary>Mounts a file-system dump target (kdump.conf <c>ext4 /dev/vdb</c>...).</summary>
public interface IMounter
{
    /// <summary>mount -t TYPE DEVICE DIRECTORY; throws an <see cref="IOException"/> with mount's own words when it fails.</summary>
    void Mount(string type, string device, string directory);
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

    public void Mount(string type, string device, string directory)
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
            if (!p.WaitForExit(Timeout))
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit();
                throw new IOException($"{command}: no answer after {Timeout.TotalSeconds:0} s");
            }

            p.WaitForExit();
            string said = (stderr.GetAwaiter().GetResult() + stdout.GetAwaiter().GetResult()).Trim().ReplaceLineEndings(" ");
            if (p.ExitCode != 0)
            {
                throw new IOException($"{command} exited with status {p.ExitCode}" + (said.Length > 0 ? ": " + said : string.Empty));
            }
        }
    }
}
