using System.Diagnostics;
using Xunit;

namespace Fadump.Formats.Tests.Interop;

/// <summary>Runs a real tool. A missing tool fails the test: interop tests must not pass silently.</summary>
internal static class Tool
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";
    }

    /// <summary>Debian's python3 (with python3-libkdumpfile); a pyenv python3 earlier in PATH lacks the module.</summary>
    public static string Python => File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    public static string Require(string name)
    {
        if (name.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(name) ? name : throw Missing(name);
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Concat(["/usr/sbin", "/sbin"]))
        {
            string p = Path.Combine(dir, name);
            if (File.Exists(p))
            {
                return p;
            }
        }

        throw Missing(name);
    }

    private static Xunit.Sdk.XunitException Missing(string name) =>
        new($"{name} is not installed: interop tests need makedumpfile, crash and python3-libkdumpfile (apt-get install makedumpfile crash python3-libkdumpfile)");

    /// <summary>Runs a tool with arguments; stdin from a file, stdout to a file or captured.</summary>
    public static Result Run(string tool, IEnumerable<string> args, string? stdinFile = null, string? stdoutFile = null, int timeoutSeconds = 120)
    {
        var psi = new ProcessStartInfo(Require(tool))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {tool}");
        var stderr = p.StandardError.ReadToEndAsync();
        Task<string> stdout;
        if (stdoutFile is not null)
        {
            stdout = Task.Run(async () =>
            {
                await using var f = File.Create(stdoutFile);
                await p.StandardOutput.BaseStream.CopyToAsync(f);
                return string.Empty;
            });
        }
        else
        {
            stdout = p.StandardOutput.ReadToEndAsync();
        }

        if (stdinFile is not null)
        {
            using var f = File.OpenRead(stdinFile);
            f.CopyTo(p.StandardInput.BaseStream);
        }

        p.StandardInput.Close();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{tool} {string.Join(' ', args)} did not finish in {timeoutSeconds} s");
        }

        return new Result(p.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
    }

    public static Result RunOk(string tool, IEnumerable<string> args, string? stdinFile = null, string? stdoutFile = null)
    {
        var r = Run(tool, args, stdinFile, stdoutFile);
        string cmd = string.Join(' ', args);
        Assert.True(r.ExitCode == 0, $"{tool} {(cmd.Length > 200 ? cmd[..200] + "..." : cmd)} failed: {r}");
        return r;
    }
}
