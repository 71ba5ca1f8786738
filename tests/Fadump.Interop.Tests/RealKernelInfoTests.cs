using System.Text.Json;
using Fadump.Cli;

namespace Fadump.Interop.Tests;

/// <summary>
/// `fadump info` on Debian's real 6.1 kernel dumped by QEMU reports the release that the real crash 8.0.2
/// reports for the same file (run now, not only the cached crash-osrelease.txt).
/// </summary>
[Trait("Category", "Interop")]
public sealed class RealKernelInfoTests
{
    [Theory]
    [MemberData(nameof(QemuDumps.Names), MemberType = typeof(QemuDumps))]
    public void Info_reports_the_release_crash_reports(string name)
    {
        string path = Fixtures.Require(name);
        string cached = File.ReadAllText(Fixtures.Require("crash-osrelease.txt")).Trim();

        var crash = RealTool.Run("crash", ["--osrelease", path]);
        Assert.True(crash.ExitCode == 0, $"crash --osrelease {name} failed ({crash.ExitCode}): {crash.All}");
        string theirs = crash.Stdout.Trim();
        Assert.Equal(cached, theirs);

        var (code, text, err) = Fadump("info", path);
        Assert.True(code == 0, $"fadump info {name} failed ({code}): {err}");
        string? line = text.Split('\n').FirstOrDefault(l => l.StartsWith("OS release:", StringComparison.Ordinal));
        Assert.NotNull(line);
        Assert.Equal(theirs, line["OS release:".Length..].Trim());

        var (jcode, json, jerr) = Fadump("info", "--json", path);
        Assert.True(jcode == 0, $"fadump info --json {name} failed ({jcode}): {jerr}");
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(theirs, doc.RootElement.GetProperty("osrelease").GetString());
        Assert.Equal(name == QemuDumps.Elf ? "elf" : "kdump", doc.RootElement.GetProperty("format").GetString());
        Assert.Equal(name == QemuDumps.Flattened, doc.RootElement.GetProperty("flattened").GetBoolean());
        Assert.Equal("x86_64", doc.RootElement.GetProperty("arch").GetString());
        Assert.Equal(2, doc.RootElement.GetProperty("cpus").GetInt32());
    }

    internal static (int Code, string Stdout, string Stderr) Fadump(params string[] args)
    {
        using var o = new StringWriter();
        using var e = new StringWriter();
        int code = FadumpCommand.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }
}
