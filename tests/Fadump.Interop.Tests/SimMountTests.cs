using System.Globalization;
using System.Text;
using Fadump.Formats.IO;
using Fadump.Kernel;
using Fadump.Kernel.Platforms;
using Fadump.Kernel.Platforms.PowerNv;
using Fadump.Kernel.Sysfs;
using Fadump.Tools.Tests.Cli;

namespace Fadump.Interop.Tests;

/// <summary>
/// `fadump sim mount` against ordinary programs (cat, echo through bash, cp, readlink, stat, rm, mkdir), checked
/// against the same machine simulated in this process: every file of the tree with the kernel's mode, size and
/// content, every write with the kernel's errno, through a crash (sysrq c) into the capture kernel and the
/// release and re-registration after it.
/// </summary>
[Trait("Category", "Interop")]
public sealed class SimMountTests
{
    public static TheoryData<string> Platforms => new("pseries", "powernv", "power6", "x86_64");

    /// <summary>The machine `sim mount --platform P --memory 2G --cpus 4` boots, here in-process: the kernel it runs now.</summary>
    private sealed class Mirror
    {
        private readonly Func<LinuxKernel?> _kernel;
        private readonly Action? _afterReboot;

        public Mirror(string platform)
        {
            const ulong memory = 2UL << 30;
            switch (platform)
            {
                case "x86_64":
                    var pc = new X86_64Pc(new PcSpec { MemoryBytes = memory, Cpus = 4 });
                    pc.Boot();
                    Assert.True(pc.LoadCaptureKernel());
                    _kernel = () => pc.Kernel;
                    _afterReboot = () => Assert.True(pc.LoadCaptureKernel());
                    break;
                case "power6":
                    var p6 = new Power6Lpar(new LparSpec { MemoryBytes = memory, Cpus = 4, CommandLine = Power6Lpar.DefaultCommandLine });
                    p6.Boot();
                    _kernel = () => p6.Kernel;
                    break;
                case "powernv":
                    var nv = new PowerNvSystem(new PowerNvSpec { MemoryBytes = memory, Cpus = 4 });
                    nv.Boot();
                    _kernel = () => nv.Kernel;
                    break;
                default:
                    var lpar = new PseriesLpar(new LparSpec { MemoryBytes = memory, Cpus = 4 });
                    lpar.Boot();
                    _kernel = () => lpar.Kernel;
                    break;
            }
        }

        public LinuxKernel Kernel => _kernel()!;

        /// <summary>sysrq b, then what the mount does after a reboot: on x86_64 the kdump service's `kexec -p`.</summary>
        public void Reboot()
        {
            Kernel.Files.WriteText("/proc/sysrq-trigger", "b\n");
            _afterReboot?.Invoke();
        }
    }

    private static string[] Options(string platform) => ["--platform", platform, "--memory", "2G", "--cpus", "4"];

    /// <summary>What `bash -c 'echo VALUE > FILE'` says: "" when the write was taken, else the error bash printed.</summary>
    private static string Echo(string value, string file)
    {
        var r = RealTool.Run("bash", ["-c", "echo \"$1\" > \"$2\"", "echo", value, file]);
        return r.ExitCode == 0 ? "" : r.Stderr.Trim();
    }

    /// <summary>The in-process kernel's answer to the same write: "" or the strerror of its errno.</summary>
    private static string EchoInProcess(LinuxKernel k, string value, string path)
    {
        try
        {
            k.Files.WriteText(path, value + "\n");
            return "";
        }
        catch (KernelFileException e)
        {
            return KernelFileException.Describe(e.Errno);
        }
    }

    /// <summary>The files and links under a directory, not following links.</summary>
    private static IEnumerable<string> Walk(string dir)
    {
        foreach (string e in Directory.EnumerateFileSystemEntries(dir, "*", new EnumerationOptions { AttributesToSkip = 0 }))
        {
            if (new FileInfo(e).LinkTarget is null && Directory.Exists(e))
            {
                foreach (string inner in Walk(e))
                {
                    yield return inner;
                }
            }
            else
            {
                yield return e;
            }
        }
    }

    /// <summary>Every path, mode, size, link target and readable content of the mount equals the in-process kernel's.</summary>
    private static void AssertTreeEquals(LinuxKernel k, SimMount m)
    {
        var files = k.Files.Files.ToList();
        var seen = Walk(m.Dir).Select(p => p[m.Dir.Length..]).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(files.Select(f => f.Path).Order(StringComparer.Ordinal), seen);
        var controls = new List<string>();
        foreach (var f in files)
        {
            string path = m[f.Path];
            var info = new FileInfo(path);
            if (f.LinkTarget is { } target)
            {
                // An absolute target is served relative to the link's directory, so that it resolves inside the mount.
                Assert.Equal(KernelFileSystem.Resolve(f.Path, target), KernelFileSystem.Resolve(f.Path, info.LinkTarget!));
                Assert.False(info.LinkTarget!.StartsWith('/'), $"{f.Path} -> {info.LinkTarget} leaves the mount");
                Assert.True(Path.Exists(path), $"{f.Path} -> {info.LinkTarget} dangles");
                continue;
            }

            Assert.Equal((UnixFileMode)f.Permissions, File.GetUnixFileMode(path));
            long size;
            if (f.Open is not null)
            {
                using var s = f.Open();
                size = s.Length;
            }
            else
            {
                size = f.Path.StartsWith("/sys/", StringComparison.Ordinal) && !f.Path.StartsWith("/sys/kernel/debug/", StringComparison.Ordinal) ? 4096 : 0;
            }

            Assert.True(size == info.Length, $"{f.Path}: size {info.Length}, the kernel's {size}");
            if (f.Read is not null)
            {
                controls.Add(f.Path);
            }
            else if (f.Open is not null && (f.Path.StartsWith("/proc/device-tree/", StringComparison.Ordinal) || f.Path.StartsWith("/sys/firmware/devicetree/", StringComparison.Ordinal)))
            {
                using var s = f.Open();
                var expected = new byte[s.Length];
                s.ReadExactly(0, expected, f.Path);
                Assert.Equal(expected, File.ReadAllBytes(path));
            }
        }

        // cat reads every control file at once (one process); its output is theirs in order.
        var cat = RealTool.Run("bash", ["-c", "for f in \"$@\"; do cat \"$f\"; echo \"<<$?>>\"; done", "cat", .. controls.Select(c => m[c])]);
        var expectedCat = new StringBuilder();
        foreach (string c in controls)
        {
            expectedCat.Append(k.Files.ReadText(c)).Append("<<0>>\n");
        }

        Assert.Equal(expectedCat.ToString(), cat.Stdout);
    }

    /// <summary>
    /// Every writable control file (sysrq-trigger aside) takes the same writes through the mount and in-process,
    /// garbage first, with the same result each time; then both trees are compared again.
    /// </summary>
    private static void AssertWritesAgree(Mirror mirror, SimMount m)
    {
        var k = mirror.Kernel;
        foreach (var f in k.Files.Files.Where(f => f.Write is not null && f.Path != "/proc/sysrq-trigger").ToList())
        {
            foreach (string value in (string[])["garbage", "0x0 0x0", "2", "0", "1"])
            {
                string expected = EchoInProcess(mirror.Kernel, value, f.Path);
                string actual = Echo(value, m[f.Path]);
                Assert.True(expected.Length == 0 ? actual.Length == 0 : actual.EndsWith(expected, StringComparison.Ordinal),
                    $"echo {value} > {f.Path}: through the mount '{actual}', in-process '{expected}'");
            }
        }

        AssertTreeEquals(mirror.Kernel, m);
    }

    [Theory]
    [MemberData(nameof(Platforms))]
    public void The_mounted_tree_is_the_kernel_s_through_boot_crash_and_release(string platform)
    {
        var mirror = new Mirror(platform);
        using var m = new SimMount(FadumpProcess.Jit, Options(platform));
        AssertTreeEquals(mirror.Kernel, m);
        AssertWritesAgree(mirror, m);

        // sysrq c: the machine crashes, the firmware (or kexec) boots the next kernel, and the tree is its own.
        var before = mirror.Kernel;
        Assert.Equal("", Echo("c", m["/proc/sysrq-trigger"]));
        mirror.Kernel.Files.WriteText("/proc/sysrq-trigger", "c\n");
        Assert.NotSame(before, mirror.Kernel);
        AssertTreeEquals(mirror.Kernel, m);
        Assert.Contains(platform == "power6" ? "fadump: the kernel is up with the phyp dump held in memory" : "fadump: the capture kernel is up: proc/vmcore is ", m.Stderr, StringComparison.Ordinal);

        // The capture kernel's controls: release_mem, release_region, release_core, registration, as the kernel takes them.
        AssertWritesAgree(mirror, m);

        // sysrq b: a reboot, and the tree is the new first kernel's.
        Assert.Equal("", Echo("b", m["/proc/sysrq-trigger"]));
        mirror.Reboot();
        AssertTreeEquals(mirror.Kernel, m);
    }

    [Fact]
    public void Files_fail_as_the_kernel_s_own_file_systems_fail()
    {
        using var m = new SimMount(FadumpProcess.Jit, Options("pseries"));
        string Bash(string command)
        {
            var r = RealTool.Run("bash", ["-c", command]);
            Assert.NotEqual(0, r.ExitCode);
            return r.Stderr.Trim();
        }

        // sysfs: an open for an access the attribute lacks is refused (kernfs), even for root.
        Assert.EndsWith("Permission denied", Bash($"echo 1 > {m["/sys/kernel/fadump/enabled"]}"), StringComparison.Ordinal);
        // proc: the read or write a file does not implement fails with EIO (pde_read, pde_write).
        Assert.EndsWith("Input/output error", Bash($"cat {m["/proc/sysrq-trigger"]}"), StringComparison.Ordinal);
        Assert.EndsWith("Input/output error", Bash($"echo 1 > {m["/proc/cmdline"]}"), StringComparison.Ordinal);
        // debugfs: EINVAL (vfs_write without a write method).
        Assert.EndsWith("Invalid argument", Bash($"echo 1 > {m["/sys/kernel/debug/powerpc/fadump_region"]}"), StringComparison.Ordinal);
        // A store that refuses the value: its errno.
        Assert.EndsWith("Invalid argument", Bash($"echo 2 > {m["/sys/kernel/fadump/registered"]}"), StringComparison.Ordinal);
        // No creating, removing or renaming.
        Assert.EndsWith("Permission denied", Bash($"touch {m["/sys/kernel/new"]}"), StringComparison.Ordinal);
        Assert.EndsWith("Operation not permitted", Bash($"rm {m["/sys/kernel/fadump_enabled"]}"), StringComparison.Ordinal);
        Assert.EndsWith("Operation not permitted", Bash($"mkdir {m["/proc/new"]}"), StringComparison.Ordinal);
        Assert.EndsWith("Operation not permitted", Bash($"mv {m["/proc/cmdline"]} {m["/proc/cmdline2"]}"), StringComparison.Ordinal);
        Assert.EndsWith("Operation not permitted", Bash($"ln -s cmdline {m["/proc/link"]}"), StringComparison.Ordinal);
        Assert.EndsWith("Operation not permitted", Bash($"ln {m["/proc/cmdline"]} {m["/proc/hardlink"]}"), StringComparison.Ordinal);
        Assert.EndsWith("No such file or directory", Bash($"cat {m["/proc/vmcore"]}"), StringComparison.Ordinal);
        // The old names are links, as compat_only_sysfs_link_entry_to_kobj makes them.
        Assert.Equal("fadump/registered", RealTool.Run("readlink", [m["/sys/kernel/fadump_registered"]]).Stdout.Trim());
        var ls = RealTool.Run("ls", ["-l", m["/sys/kernel/fadump"]]).Stdout;
        Assert.Contains("-rw-r--r-- 1 root root 4096 ", ls, StringComparison.Ordinal);
        Assert.StartsWith("total 0", ls, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("pseries")]
    [InlineData("x86_64")]
    public void Cp_of_the_mounted_vmcore_equals_sim_run_vmcore_out(string platform)
    {
        using var dir = new RealTool.TempDir();
        string[] machine = ["--platform", platform, "--memory", "1G", "--cpus", "4"];
        using var m = new SimMount(FadumpProcess.Jit, machine);
        Assert.Equal("", Echo("c", m["/proc/sysrq-trigger"]));
        var cp = RealTool.Run("cp", [m["/proc/vmcore"], dir.File("mounted")], 600);
        Assert.True(cp.ExitCode == 0, cp.All);
        var (code, _, err) = InProcessCli.Run(["sim", "run", .. machine, "--crash", "sysrq", "--vmcore-out", dir.File("run")]);
        Assert.True(code == 0, err);
        var cmp = RealTool.Run("cmp", [dir.File("mounted"), dir.File("run")], 600);
        Assert.True(cmp.ExitCode == 0, cmp.All);
        Assert.True(new FileInfo(dir.File("run")).Length > 512L << 20);
    }

    [Fact]
    public void Release_and_re_registration_show_live()
    {
        using var m = new SimMount(FadumpProcess.Jit, Options("pseries"));
        long MemTotal() => long.Parse(File.ReadAllLines(m["/proc/meminfo"])[0].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        long production = MemTotal();
        Assert.Equal("", Echo("c", m["/proc/sysrq-trigger"]));
        Assert.True(File.Exists(m["/proc/vmcore"]));
        Assert.Equal("0", File.ReadAllText(m["/sys/kernel/fadump/registered"]).Trim());
        long capture = MemTotal();
        Assert.True(capture < production, $"capture kernel MemTotal {capture} kB, production {production} kB");
        Assert.Equal("", Echo("1", m["/sys/kernel/fadump/release_mem"]));
        Assert.False(File.Exists(m["/proc/vmcore"]));
        Assert.True(MemTotal() > capture, "release_mem gave no memory back");
        Assert.Equal("", Echo("1", m["/sys/kernel/fadump/registered"]));
        Assert.Equal("1", File.ReadAllText(m["/sys/kernel/fadump/registered"]).Trim());
    }
}

/// <summary>`fadump collect --root DIR`, the dump service, on each mounted platform after `echo c > DIR/proc/sysrq-trigger`.</summary>
[Trait("Category", "Interop")]
public sealed class SimMountCollectTests
{
    public static TheoryData<string> Platforms => SimMountTests.Platforms;

    [Theory]
    [MemberData(nameof(Platforms))]
    public void Collect_saves_releases_and_re_arms_the_mounted_machine(string platform)
    {
        using var m = new SimMount(FadumpProcess.Jit, "--platform", platform, "--memory", "2G", "--cpus", "4");
        using var dir = new RealTool.TempDir();
        string crashDir = dir.File("crash"), conf = dir.File("kdump.conf");
        Directory.CreateDirectory(crashDir);
        File.WriteAllText(conf, $"path {crashDir}\ncore_collector makedumpfile -l --message-level 7 -d 31\n");
        var crash = RealTool.Run("bash", ["-c", $"echo c > {m["/proc/sysrq-trigger"]}"]);
        Assert.True(crash.ExitCode == 0, crash.All + m.Stderr);

        var r = FadumpProcess.Run(FadumpProcess.Jit, ["collect", "--root", m.Dir, "--config", conf], timeoutSeconds: 600);
        Assert.True(r.ExitCode == 0, $"collect exited {r.ExitCode}\n{r.Stdout}\n{r.Stderr}\n{m.Stderr}");
        string saved = Directory.GetDirectories(crashDir).Single();
        Assert.True(File.Exists(Path.Combine(saved, "vmcore-dmesg.txt")), r.Stdout);
        var info = FadumpProcess.Run(FadumpProcess.Jit, ["info", "--json", Path.Combine(saved, "vmcore")]);
        Assert.True(info.ExitCode == 0, info.Stdout + info.Stderr);
        Assert.Contains("\"dumped_pages\"", info.Stdout, StringComparison.Ordinal);
        TestContext.Current.TestOutputHelper?.WriteLine(r.Stdout + r.Stderr);

        // The memory is back and the machine armed for the next crash, as the tree shows it now.
        Assert.False(File.Exists(m["/proc/vmcore"]), "proc/vmcore is still there after collect");
        switch (platform)
        {
            case "x86_64":
                Assert.Equal("1", File.ReadAllText(m["/sys/kernel/kexec_crash_loaded"]).Trim());
                break;
            case "power6":
                Assert.Equal("1", File.ReadAllText(m["/sys/kernel/phyp_dump_active"]).Trim());
                break;
            default:
                Assert.Equal("1", File.ReadAllText(m["/sys/kernel/fadump/registered"]).Trim());
                break;
        }
    }
}

/// <summary>How a `fadump sim mount` ends, on the JIT and the Native AOT build: every way leaves no mount behind.</summary>
[Trait("Category", "Interop")]
public sealed class SimMountLifecycleTests
{
    public static TheoryData<string> Builds => FadumpProcess.Builds;

    private static readonly string[] Small = ["--memory", "1G", "--cpus", "2"];

    [Theory]
    [MemberData(nameof(Builds))]
    public void Sigint_and_sigterm_unmount_cleanly(string build)
    {
        foreach (var (signal, name) in (ReadOnlySpan<(string, string)>)[("INT", "SIGINT"), ("TERM", "SIGTERM"), ("HUP", "SIGHUP")])
        {
            using var m = new SimMount(build, Small);
            Assert.Equal("1", File.ReadAllText(m["/sys/kernel/fadump/registered"]).Trim());
            Assert.Equal(0, m.Signal(signal));
            Assert.False(m.IsMounted, $"{m.Dir} is still mounted after {name}");
            Assert.Contains($"fadump: unmounted {m.Dir} ({name})", m.Stderr, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(Builds))]
    public void Fusermount3_u_ends_the_server(string build)
    {
        using var m = new SimMount(build, Small);
        var u = RealTool.Run("fusermount3", ["-u", m.Dir]);
        Assert.True(u.ExitCode == 0, u.All);
        Assert.Equal(0, m.WaitForExit());
        Assert.False(m.IsMounted);
        Assert.Contains($"fadump: unmounted {m.Dir}\n", m.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Builds))]
    public void Sysrq_o_powers_the_machine_off_and_ends_the_mount(string build)
    {
        using var m = new SimMount(build, Small);
        var r = RealTool.Run("bash", ["-c", $"echo o > {m["/proc/sysrq-trigger"]}"]);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal(0, m.WaitForExit());
        Assert.False(m.IsMounted);
        Assert.Contains($"fadump: the machine powered off (sysrq o); unmounting\nfadump: unmounted {m.Dir} (powered off)\n", m.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Builds))]
    public void A_killed_server_leaves_no_stale_mount(string build)
    {
        using var m = new SimMount(build, Small);
        // A reader holds a file open while the server dies.
        using var open = File.OpenRead(m["/proc/cmdline"]);
        Assert.NotEqual(0, m.Signal("KILL"));
        Assert.True(m.WaitUnmounted(10), $"{m.Dir} is still mounted 10 s after the server was killed (auto_unmount)");
    }

    [Theory]
    [MemberData(nameof(Builds))]
    public void A_second_mount_on_a_busy_or_unfit_directory_fails_clearly(string build)
    {
        using var m = new SimMount(build, Small);
        var again = FadumpProcess.Run(build, ["sim", "mount", m.Dir, .. Small]);
        Assert.Equal(1, again.ExitCode);
        Assert.Equal($"fadump: sim mount: {m.Dir} is already a mount point; unmount it first (fusermount3 -u {m.Dir}, or fusermount3 -u -z {m.Dir} if its server is gone)\n", again.Stderr);
        Assert.True(m.IsMounted, "the failed second mount disturbed the first");
        Assert.Equal("1", File.ReadAllText(m["/sys/kernel/fadump/registered"]).Trim());

        using var dir = new RealTool.TempDir();
        File.WriteAllText(dir.File("file"), "x");
        var full = FadumpProcess.Run(build, ["sim", "mount", dir.Path]);
        Assert.Equal((1, $"fadump: sim mount: {dir.Path} is not empty: the mount would hide what is in it\n"), (full.ExitCode, full.Stderr));
        var notDir = FadumpProcess.Run(build, ["sim", "mount", dir.File("file")]);
        Assert.Equal((1, $"fadump: sim mount: {dir.File("file")}: Not a directory\n"), (notDir.ExitCode, notDir.Stderr));
        var missing = FadumpProcess.Run(build, ["sim", "mount", dir.File("none")]);
        Assert.Equal((1, $"fadump: sim mount: {dir.File("none")}: No such file or directory\n"), (missing.ExitCode, missing.Stderr));
        var usage = FadumpProcess.Run(build, ["sim", "mount"]);
        Assert.Equal(2, usage.ExitCode);
    }

    [Fact]
    public void The_native_build_serves_the_vmcore_as_the_jit_build_does()
    {
        string[] machine = ["--platform", "x86_64", "--memory", "1G", "--cpus", "2"];
        using var a = new SimMount(FadumpProcess.Jit, machine);
        using var b = new SimMount(FadumpProcess.Native, machine);
        foreach (var m in (SimMount[])[a, b])
        {
            var crash = RealTool.Run("bash", ["-c", $"echo c > {m["/proc/sysrq-trigger"]}"]);
            Assert.True(crash.ExitCode == 0, crash.All + m.Stderr);
        }

        var cmp = RealTool.Run("cmp", [a["/proc/vmcore"], b["/proc/vmcore"]], 600);
        Assert.True(cmp.ExitCode == 0, cmp.All);
    }
}

/// <summary>Real readers of the mounted x86_64 capture kernel's /proc/vmcore: Debian's makedumpfile at every level, and mmap.</summary>
[Trait("Category", "Interop")]
public sealed class SimMountVmcoreTests
{
    private static readonly string[] Machine = ["--platform", "x86_64", "--memory", "1G", "--cpus", "4", "--cmdline", "root=/dev/sda2 ro quiet crashkernel=256M"];

    private static SimMount Crashed()
    {
        var m = new SimMount(FadumpProcess.Jit, Machine);
        var crash = RealTool.Run("bash", ["-c", $"echo c > {m["/proc/sysrq-trigger"]}"]);
        Assert.True(crash.ExitCode == 0, crash.All + m.Stderr);
        return m;
    }

    [Fact]
    public void Makedumpfile_on_the_mounted_vmcore_excludes_what_fadump_save_excludes_at_every_dump_level()
    {
        using var m = Crashed();
        using var dir = new RealTool.TempDir();
        var table = MakedumpfileLevels.CompareEveryLevel(m["/proc/vmcore"], dir.File, TestContext.Current.CancellationToken);
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join('\n', table));
    }

    [Fact]
    public void Mmap_of_the_mounted_vmcore_reads_what_read_reads()
    {
        using var m = Crashed();
        // makedumpfile maps /proc/vmcore (MAP_PRIVATE, PROT_READ) in 4 MiB windows; here every 64th MiB, and the tail.
        var r = RealTool.Run("python3", ["-c", """
            import mmap, os, sys, hashlib
            fd = os.open(sys.argv[1], os.O_RDONLY)
            size = os.fstat(fd).st_size
            a = hashlib.sha256(); b = hashlib.sha256()
            for off in list(range(0, size - (4 << 20), 64 << 20)) + [size - (size % mmap.PAGESIZE) - (4 << 20)]:
                m = mmap.mmap(fd, 4 << 20, mmap.MAP_PRIVATE, mmap.PROT_READ, offset=off)
                a.update(m[:]); m.close()
                b.update(os.pread(fd, 4 << 20, off))
            print(size, a.hexdigest() == b.hexdigest())
            """, m["/proc/vmcore"]], 300);
        Assert.True(r.ExitCode == 0, r.All);
        Assert.EndsWith(" True", r.Stdout.Trim(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_new_capture_kernel_s_vmcore_is_read_fresh_not_from_the_page_cache()
    {
        using var m = Crashed();
        string Sum(string command) => RealTool.Run("bash", ["-c", command], 300).Stdout.Split(' ')[0];
        string first = Sum($"cat {m["/proc/vmcore"]} | md5sum");
        Assert.Equal(first, Sum($"cat {m["/proc/vmcore"]} | md5sum"));
        foreach (string key in (string[])["b", "c"])
        {
            Assert.Equal(0, RealTool.Run("bash", ["-c", $"echo {key} > {m["/proc/sysrq-trigger"]}"]).ExitCode);
        }

        string second = Sum($"cat {m["/proc/vmcore"]} | md5sum");
        Assert.NotEqual(first, second);
        Assert.Equal(second, Sum($"dd if={m["/proc/vmcore"]} iflag=direct bs=1M status=none | md5sum"));
    }
}
