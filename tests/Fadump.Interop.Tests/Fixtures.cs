namespace Fadump.Interop.Tests;

/// <summary>
/// The real-kernel dumps made by tests/fixtures/qemu/make-dumps.sh (scripts/test runs it before the
/// suite). Missing fixtures fail the test: CI builds them, and a skip would hide a broken setup.
/// </summary>
internal static class Fixtures
{
    public static string Directory =>
        Environment.GetEnvironmentVariable("FADUMP_FIXTURES")
        ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "fadump", "fixtures");

    public static string Require(string name)
    {
        string path = Path.Combine(Directory, name);
        if (!File.Exists(path))
        {
            Assert.Fail($"real-kernel fixture {path} is missing: run tests/fixtures/qemu/make-dumps.sh (scripts/test does)");
        }

        return path;
    }
}
