using System.Diagnostics;

namespace Fadump.Interop.Tests;

/// <summary>
/// Runs a real tool (gdb-multiarch, crash, makedumpfile, python3 with libkdumpfile). A missing tool
/// fails the test loudly: .ci/run installs them, and a silent skip would hide a broken CI.
/// </summary>
internal static class RealTool
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string All => Stdout + Stderr;
    }

    public static string Require(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin"]))
        {
            var p = Path.Combine(dir, name);
            if (File.Exists(p))
            {
                return p;
            }
        }

        Assert.Fail($"{name} is not installed: .ci/run installs it (Debian package); this interop test cannot run without it");
        return name;
    }

    public static Result Run(string name, IEnumerable<string> args, int timeoutSeconds = 120, string? stdin = null)
    {
        var psi = new ProcessStartInfo(Require(name))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }

        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{name} {string.Join(' ', args)} did not finish in {timeoutSeconds} s");
        }

        p.WaitForExit();
        return new Result(p.ExitCode, so.Result, se.Result);
    }

    /// <summary>A scratch directory under the system temp dir, removed by Dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public TempDir()
        {
            Path = Directory.CreateTempSubdirectory("fadump-interop-").FullName;
        }

        public string Path { get; }

        public string File(string name) => System.IO.Path.Combine(Path, name);

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
