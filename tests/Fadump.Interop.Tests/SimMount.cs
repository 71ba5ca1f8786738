using System.Diagnostics;
using System.Text;
using Fadump.Tools.Tests.Cli;

namespace Fadump.Interop.Tests;

/// <summary>
/// `fadump sim mount DIR OPTIONS` as a child process, for a test: started on a fresh empty directory, ready once it
/// prints "fadump: mounted". Disposing it ends it (SIGTERM), and whatever happened, leaves no mount behind
/// (fusermount3 -u -z after a server that did not unmount) and removes the directory. Needs /dev/fuse and
/// fusermount3 (Debian's fuse3, which .ci/run installs): without them the test fails, it does not skip.
/// </summary>
internal sealed class SimMount : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly ManualResetEventSlim _mounted = new();
    private readonly string _parent;

    public SimMount(string build, params string[] options)
        : this(build, options, null)
    {
    }

    /// <summary>Mounts on <paramref name="dir"/> (created when null) with the machine options.</summary>
    public SimMount(string build, string[] options, string? dir)
    {
        Assert.True(File.Exists("/dev/fuse"), "/dev/fuse is missing: `fadump sim mount` needs the fuse module (modprobe fuse)");
        RealTool.Require("fusermount3");
        _parent = Directory.CreateTempSubdirectory("fadump-mount-").FullName;
        Dir = dir ?? Path.Combine(_parent, "machine");
        Directory.CreateDirectory(Dir);
        _process = Process.Start(FadumpProcess.StartInfo(build, ["sim", "mount", Dir, .. options]))!;
        _process.StandardInput.Close();
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _mounted.Set();
                return;
            }

            lock (_stderr)
            {
                _stderr.AppendLine(e.Data);
            }

            if (e.Data.StartsWith("fadump: mounted", StringComparison.Ordinal))
            {
                _mounted.Set();
            }
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        if (!_mounted.Wait(TimeSpan.FromSeconds(120)) || !IsMounted)
        {
            Dispose();
            Assert.Fail($"fadump sim mount {Dir} did not mount: {Stderr}");
        }
    }

    public string Dir { get; }

    public int Pid => _process.Id;

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>DIR/relative.</summary>
    public string this[string relative] => Path.Combine(Dir, relative.TrimStart('/'));

    public bool IsMounted => MountedOn(Dir);

    public bool HasExited => _process.HasExited;

    /// <summary>Whether a mount point is in this mount namespace's table.</summary>
    public static bool MountedOn(string dir) =>
        File.ReadLines("/proc/self/mountinfo").Any(l => l.Split(' ') is { Length: > 4 } f && f[4] == dir);

    /// <summary>Sends a signal (by name: INT, TERM, KILL) and waits for the process to end; its exit code.</summary>
    public int Signal(string name, int timeoutSeconds = 30)
    {
        var kill = RealTool.Run("kill", ["-s", name, Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.True(kill.ExitCode == 0, kill.All);
        return WaitForExit(timeoutSeconds);
    }

    public int WaitForExit(int timeoutSeconds = 30)
    {
        Assert.True(_process.WaitForExit(TimeSpan.FromSeconds(timeoutSeconds)), $"fadump sim mount did not end within {timeoutSeconds} s: {Stderr}");
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>Waits (a bounded time) until the mount is gone; false if it is still there.</summary>
    public bool WaitUnmounted(int timeoutSeconds = 10)
    {
        var sw = Stopwatch.StartNew();
        while (IsMounted && sw.Elapsed.TotalSeconds < timeoutSeconds)
        {
            Thread.Sleep(50);
        }

        return !IsMounted;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                RealTool.Run("kill", ["-s", "TERM", Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                if (!_process.WaitForExit(TimeSpan.FromSeconds(20)))
                {
                    _process.Kill();
                    _process.WaitForExit();
                }
            }

            if (IsMounted)
            {
                RealTool.Run("fusermount3", ["-u", "-z", Dir]);
            }
        }
        finally
        {
            _process.Dispose();
            try
            {
                Directory.Delete(_parent, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
