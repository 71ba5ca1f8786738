using System.Diagnostics;

namespace Fadump.Tools.Tests.Service;

/// <summary>A small tmpfs (mount -t tmpfs -o size=N), for a real ENOSPC. Needs root, as the test suite runs.</summary>
internal sealed class TmpfsMount : IDisposable
{
    public TmpfsMount(string size)
    {
        Dir = Directory.CreateTempSubdirectory("fadump-tmpfs-").FullName;
        var (rc, output) = Run("mount", "-t", "tmpfs", "-o", $"size={size},mode=0755", "tmpfs", Dir);
        if (rc != 0)
        {
            Directory.Delete(Dir);
            throw new InvalidOperationException($"mount -t tmpfs failed ({rc}): {output} - these tests need root");
        }
    }

    public string Dir { get; }

    public void Dispose()
    {
        Run("umount", Dir);
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public static (int ExitCode, string Output) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output + err.GetAwaiter().GetResult());
    }
}
