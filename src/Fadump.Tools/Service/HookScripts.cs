using System.ComponentModel;
using System.Diagnostics;

namespace Fadump.Tools.Service;

/// <summary>
/// Runs kdump_pre and kdump_post as kdump-utils does (kdump.sh do_kdump_pre/do_kdump_post): the configured
/// path is executed directly, kdump_post with the dump's exit status as its only argument. A program that
/// cannot be started gets the shell's statuses: 127 when it does not exist, 126 when it cannot be executed.
/// </summary>
public static class HookScripts
{
    public const int NotFound = 127;
    public const int NotExecutable = 126;

    public static int Run(string path, IReadOnlyList<string> args, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(log);
        if (!File.Exists(path))
        {
            log.WriteLine($"{path}: No such file or directory");
            return NotFound;
        }

        var psi = new ProcessStartInfo(path) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new Win32Exception();
        }
        catch (Win32Exception e)
        {
            log.WriteLine($"{path}: {e.Message}");
            return NotExecutable;
        }

        using (p)
        {
            // Both pipes drained at once: a chatty script must not block on a full pipe.
            var stderr = p.StandardError.ReadToEndAsync();
            string stdout = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            foreach (var line in (stdout + stderr.GetAwaiter().GetResult()).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                log.WriteLine($"{Path.GetFileName(path)}: {line}");
            }

            return p.ExitCode;
        }
    }
}
