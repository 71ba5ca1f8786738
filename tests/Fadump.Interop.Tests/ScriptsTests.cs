namespace Fadump.Interop.Tests;

/// <summary>The README's first commands: scripts/install puts fadump on the PATH, scripts/install-test-deps gets what the tests need.</summary>
public sealed class ScriptsTests
{
    private static string Root
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "Fadump.slnx")))
                {
                    return d.FullName;
                }
            }

            throw new InvalidOperationException("no Fadump.slnx above " + AppContext.BaseDirectory);
        }
    }

    [Fact]
    public void Install_puts_a_working_fadump_under_the_prefix()
    {
        using var dir = new RealTool.TempDir();
        var r = RealTool.Run(Path.Combine(Root, "scripts/install"), ["--prefix", dir.Path], 600);
        Assert.True(r.ExitCode == 0, r.All);
        string exe = Path.Combine(dir.Path, "bin", "fadump");
        var version = RealTool.Run(exe, ["--version"]);
        Assert.True(version.ExitCode == 0, version.All);
        Assert.Contains($"installed: {exe} ({version.Stdout.Trim()})\n", r.Stdout, StringComparison.Ordinal);
        Assert.Contains($"note: {dir.Path}/bin is not on your PATH: add it (export PATH=\"{dir.Path}/bin:$PATH\")\n", r.Stdout, StringComparison.Ordinal);
        var demo = RealTool.Run(exe, ["demo", "--memory", "1G", "--cpus", "2"], 300);
        Assert.True(demo.ExitCode == 0, demo.All);
        Assert.StartsWith("Simulated pSeries LPAR, FADump over RTAS: 1 GiB RAM, 2 CPUs", demo.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Install_refuses_an_unknown_argument()
    {
        var r = RealTool.Run(Path.Combine(Root, "scripts/install"), ["--frobnicate"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("scripts/install: unknown argument '--frobnicate' (usage: scripts/install [--native] [--prefix PREFIX])\n", r.Stderr);
    }

    [Fact]
    public void Test_deps_are_installed_and_a_second_run_does_nothing()
    {
        // scripts/test ran it before this suite: every package is there, so it neither calls apt nor prints.
        var r = RealTool.Run(Path.Combine(Root, "scripts/install-test-deps"), []);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal(string.Empty, r.All);
        Assert.Contains("scripts/install-test-deps", File.ReadAllText(Path.Combine(Root, "scripts/test")), StringComparison.Ordinal);
    }
}
