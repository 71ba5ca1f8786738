using System.Diagnostics;
using Fadump.Tools.Tests.Cli;

namespace Fadump.Interop.Tests;

/// <summary>
/// The Native AOT binary ($FADUMP_EXE, published by scripts/publish-native) against the JIT build, both as child
/// processes on the real QEMU dumps and the simulator: the same exit status, standard output, standard error
/// (less the timed progress lines) and the same bytes in every file written, for each command and codec. What
/// trimming or AOT compilation could change (an option the parser no longer binds, a JSON field, a codec
/// whose native library is not found from a native binary) shows here. Fails without FADUMP_EXE.
/// </summary>
[Trait("Category", "Interop")]
public sealed class NativeCliTests
{
    private static readonly Dictionary<string, string[]> Cases = new()
    {
        ["version"] = ["--version"],
        ["help"] = ["--help"],
        ["save help"] = ["save", "--help"],
        ["usage error"] = ["save", "--no-such-option"],
        ["missing file"] = ["info", "/nonexistent/vmcore"],
        ["info elf"] = ["info", "{elf}"],
        ["info json flattened"] = ["info", "--json", "{flat}"],
        ["regs"] = ["regs", "{elf}"],
        ["dmesg zlib kdump"] = ["dmesg", "{kdump}"],
        ["read physical"] = ["read", "-p", "{elf}", "0x100000", "4K"],
        ["save lzo"] = ["save", "-l", "-d", "31", "{elf}", "out"],
        ["save zlib 2 threads"] = ["save", "-c", "-d", "31", "--num-threads", "2", "{elf}", "out"],
        ["save snappy"] = ["save", "-p", "-d", "31", "{elf}", "out"],
        ["save zstd from zlib kdump"] = ["save", "-z", "-d", "31", "{kdump}", "out"],
        ["save elf from flattened"] = ["save", "-E", "-d", "31", "{flat}", "out"],
        ["save dmesg"] = ["save", "--dump-dmesg", "{flat}", "dmesg.txt"],
        ["convert flat"] = ["convert", "--format", "flat", "-d", "31", "{kdump}", "out"],
        ["sim run pseries"] = ["sim", "run", "--memory", "1G", "--json"],
        ["sim run x86_64"] = ["sim", "run", "--platform", "x86_64", "--memory", "1G", "--cpus", "2", "--json"],
        ["sim run powernv"] = ["sim", "run", "--platform", "powernv", "--memory", "2G", "--cpus", "4", "--json"],
        ["info opal core"] = ["info", "--json", "{opalcore}"],
        ["regs opal core"] = ["regs", "{opalcore}"],
        ["dmesg opal core"] = ["dmesg", "{opalcore}"],
    };

    /// <summary>A synthetic OPAL core (create_opalcore's layout), written once for the cases that read one.</summary>
    private static readonly Lazy<string> OpalCoreFile = new(() =>
    {
        string path = Path.Combine(Path.GetTempPath(), FormattableString.Invariant($"fadump-native-opalcore-{Environment.ProcessId}"));
        var b = Fadump.Tools.Tests.Synthetic.OpalCoreBuilder.Standard();
        b.Console.Append("[    1.000000000,5] DUMP: Crashing PIR = 0x0\n");
        File.WriteAllBytes(path, b.Build());
        return path;
    });

    public static TheoryData<string> Names => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public async Task The_native_binary_does_what_the_jit_build_does(string name)
    {
        string native = FadumpProcess.Executable(FadumpProcess.Native);
        string jit = FadumpProcess.Executable(FadumpProcess.Jit);
        string[] args = [.. Cases[name].Select(a => a switch
        {
            "{elf}" => Fixtures.Require(QemuDumps.Elf),
            "{flat}" => Fixtures.Require(QemuDumps.Flattened),
            "{kdump}" => Fixtures.Require(QemuDumps.Rearranged),
            "{opalcore}" => OpalCoreFile.Value,
            _ => a,
        })];

        using var nd = new RealTool.TempDir();
        using var jd = new RealTool.TempDir();
        var n = await RunAsync(native, args, nd.Path);
        var j = await RunAsync(jit, args, jd.Path);

        Assert.True(n.Code == j.Code, $"exit {n.Code} native, {j.Code} jit: {n.Stderr}");
        Assert.Equal(j.Stdout, n.Stdout);
        Assert.Equal(Untimed(j.Stderr), Untimed(n.Stderr));
        string[] files = [.. Directory.GetFiles(jd.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];
        Assert.Equal(files, Directory.GetFiles(nd.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (string f in files)
        {
            byte[] jb = await File.ReadAllBytesAsync(Path.Combine(jd.Path, f), TestContext.Current.CancellationToken);
            byte[] nb = await File.ReadAllBytesAsync(Path.Combine(nd.Path, f), TestContext.Current.CancellationToken);
            Assert.True(jb.AsSpan().SequenceEqual(nb), $"{f} differs ({nb.Length} bytes native, {jb.Length} jit)");
        }
    }

    /// <summary>The native binary starts without the .NET host: no libhostfxr, no libcoreclr, nothing of the SDK.</summary>
    [Fact]
    public void The_native_binary_needs_only_libc_and_libm()
    {
        string native = FadumpProcess.Executable(FadumpProcess.Native);
        var ldd = RealTool.Run("ldd", [native]);
        Assert.True(ldd.ExitCode == 0, ldd.All);
        var libs = ldd.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split(' ')[0])
            .Where(l => !l.StartsWith("linux-vdso", StringComparison.Ordinal) && !l.Contains("ld-linux", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);
        Assert.Equal(["libc.so.6", "libm.so.6"], libs);
    }

    private static string Untimed(string stderr) =>
        string.Join('\n', stderr.Split('\n').Where(l => !l.Contains(" MiB/s", StringComparison.Ordinal)));

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string exe, string[] args, string dir)
    {
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = dir,
        };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var so = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var se = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(300));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw;
        }

        return (p.ExitCode, await so, await se);
    }
}
