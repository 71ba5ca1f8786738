using System.Diagnostics;
using Fadump.Tools.Tests.Service;

namespace Fadump.Tools.Tests.Cli;

/// <summary>
/// The dump service and the x86_64 simulator (kexec purgatory digests) hash with managed SHA-256: neither
/// loads OpenSSL, which a capture initramfs seldom holds and without which .NET's own hashes abort the process
/// before the failure action. The dynamic loader's own trace (LD_DEBUG=files) lists every library the process
/// opens, dlopen included.
/// </summary>
public sealed class NoOpenSslCliTests : IDisposable
{
    private readonly SyntheticRoot _root = SyntheticRoot.Kdump(patternBytes: 4 << 20);
    private readonly string _target = Directory.CreateTempSubdirectory("fadump-cli-nossl-").FullName;

    public void Dispose()
    {
        _root.Dispose();
        Directory.Delete(_target, recursive: true);
    }

    public static MatrixTheoryData<string, string> BuildsAndCommands => new([FadumpProcess.Jit, FadumpProcess.Native], ["collect", "sim x86_64"]);

    [Theory]
    [MemberData(nameof(BuildsAndCommands))]
    public async Task No_OpenSSL_library_is_loaded(string build, string command)
    {
        string conf = Path.Combine(_target, "kdump.conf");
        File.WriteAllText(conf, $"path {Path.Combine(_target, "crash")}\ncore_collector makedumpfile -l -d 1\n");
        string[] args = command == "collect"
            ? ["collect", "--root", _root.Dir, "--config", conf, "--print-actions"]
            : ["sim", "run", "--platform", "x86_64", "--memory", "1G", "--cpus", "2"];
        var psi = FadumpProcess.StartInfo(build, args);
        psi.Environment["LD_DEBUG"] = "files";
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var so = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var se = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        Assert.True(p.WaitForExit(180_000), $"fadump {command} did not finish");
        p.WaitForExit();
        string stdout = await so, stderr = await se;

        Assert.True(p.ExitCode == 0, stdout + stderr);
        Assert.Contains("file=libc.so.6", stderr, StringComparison.Ordinal); // the trace works
        Assert.Contains(command == "collect" ? "sampled pages match the source" : "purgatory", stdout, StringComparison.Ordinal);
        foreach (string lib in new[] { "libssl", "libcrypto", "OpenSsl" })
        {
            Assert.False(stderr.Contains(lib, StringComparison.Ordinal), $"fadump {command} loaded {lib}:\n" +
                string.Join('\n', stderr.Split('\n').Where(l => l.Contains(lib, StringComparison.Ordinal)).Take(5)));
        }
    }
}
