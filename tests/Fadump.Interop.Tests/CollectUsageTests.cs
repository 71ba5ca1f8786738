using Fadump.Cli;

namespace Fadump.Interop.Tests;

/// <summary>`fadump collect` with a wrong size on its command line: a usage error before anything runs.</summary>
public sealed class CollectUsageTests
{
    [Theory]
    [InlineData("--release-chunk", "0", "--release-chunk 0: expected a size above 0")]
    [InlineData("--sync-every", "0K", "--sync-every 0K: expected a size above 0")]
    [InlineData("--sync-every", "1x", "'1x' is not a size")]
    [InlineData("--release-chunk", "-1", "'-1' is not a size")]
    public void A_bad_size_is_a_usage_error_and_no_action_runs(string option, string value, string message)
    {
        using var dir = new RealTool.TempDir();
        // An unusable kdump.conf would run the failure action: the usage error must come first.
        var (code, o, e) = InProcessCli.Run("collect", "--root", dir.Path, "--config", dir.File("missing.conf"), "--print-actions", option, value);
        Assert.Equal(FadumpCommand.ExitUsage, code);
        Assert.Contains(message, e, StringComparison.Ordinal);
        Assert.DoesNotContain("reboot", o, StringComparison.Ordinal);
    }
}
