using System.Diagnostics;

namespace Fadump.Tools.Tests.Cli;

/// <summary>
/// The real `fadump` executable as a child process, for what only a process shows (a closed pipe, signals,
/// the umask, SIGKILL). Each such test runs against both builds (<see cref="Builds"/>): the apphost that the
/// Fadump.Cli project reference copies next to the tests (JIT), and the Native AOT binary named by
/// $FADUMP_EXE, which scripts/test publishes with scripts/publish-native and sets. Without FADUMP_EXE the
/// native cases fail (as a missing fixture does), never skip or run the apphost in its place.
/// </summary>
internal static class FadumpProcess
{
    /// <summary>The apphost (fadump next to the tests, on the JIT).</summary>
    public const string Jit = "jit";

    /// <summary>The Native AOT binary of $FADUMP_EXE.</summary>
    public const string Native = "native";

    public const string NativeVariable = "FADUMP_EXE";

    public static TheoryData<string> Builds => new(Jit, Native);

    /// <summary>The executable of a build; fails the test for <see cref="Native"/> when $FADUMP_EXE is unset.</summary>
    public static string Executable(string build)
    {
        if (build == Native)
        {
            string? exe = Environment.GetEnvironmentVariable(NativeVariable);
            if (string.IsNullOrEmpty(exe))
            {
                Assert.Fail($"${NativeVariable} is not set: scripts/test publishes the Native AOT binary (FADUMP_EXE=$(scripts/publish-native)) and sets it");
            }

            Assert.True(File.Exists(exe), $"${NativeVariable}={exe} does not exist");
            return Path.GetFullPath(exe);
        }

        Assert.Equal(Jit, build);
        string path = Path.Combine(AppContext.BaseDirectory, "fadump");
        Assert.True(File.Exists(path), $"{path} is missing: the Fadump.Cli project reference copies it");
        return path;
    }

    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>
    /// Starts a build of fadump as a shell would for a foreground command: SIGINT, SIGQUIT and SIGPIPE at their
    /// defaults, the umask when given. A test run from a background job of a non-interactive shell (a CI runner,
    /// `cmd &`) inherits SIGINT and SIGQUIT ignored, and sh cannot reset an ignored signal; python3 (.ci/run
    /// installs it) can, and execv keeps the defaults for fadump.
    /// </summary>
    public static ProcessStartInfo StartInfo(string build, IEnumerable<string> args, string? umask = null)
    {
        var psi = new ProcessStartInfo("python3");
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(
            "import os, signal, sys\n" +
            "for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE): signal.signal(s, signal.SIG_DFL)\n" +
            "if sys.argv[1]: os.umask(int(sys.argv[1], 8))\n" +
            "os.execv(sys.argv[2], sys.argv[2:])\n");
        psi.ArgumentList.Add(umask ?? string.Empty);
        psi.ArgumentList.Add(Executable(build));
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.RedirectStandardInput = true;
        psi.UseShellExecute = false;
        return psi;
    }

    public static Result Run(string build, IEnumerable<string> args, string? umask = null, int timeoutSeconds = 120, string? workingDirectory = null)
    {
        var psi = StartInfo(build, args, umask);
        if (workingDirectory is not null)
        {
            psi.WorkingDirectory = workingDirectory;
        }

        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"fadump {string.Join(' ', args)} did not finish in {timeoutSeconds} s");
        }

        p.WaitForExit();
        return new Result(p.ExitCode, so.Result, se.Result);
    }

    /// <summary>kill -SIGNAL pid (.NET has no API to send a signal other than SIGKILL).</summary>
    public static void Signal(int pid, string signal)
    {
        using var k = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture) }, UseShellExecute = false })!;
        k.WaitForExit();
        Assert.Equal(0, k.ExitCode);
    }

    /// <summary>Waits until path exists with at least minBytes (the save is under way), or fails.</summary>
    public static string WaitForPart(string dir, string name, long minBytes, Process p, int timeoutSeconds = 60)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(timeoutSeconds))
        {
            string? part = Directory.GetFiles(dir, "." + name + ".part-*").FirstOrDefault();
            if (part is not null && new FileInfo(part).Length >= minBytes)
            {
                return part;
            }

            if (p.HasExited)
            {
                Assert.Fail($"fadump exited ({p.ExitCode}) before the save was under way");
            }

            Thread.Sleep(20);
        }

        Assert.Fail($"no .{name}.part-* of {minBytes} bytes in {dir} after {timeoutSeconds} s");
        return string.Empty;
    }
}
