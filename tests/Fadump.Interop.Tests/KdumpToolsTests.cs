using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Fadump.Kernel;
using Fadump.Kernel.Platforms;
using Fadump.Kernel.Sysfs;

namespace Fadump.Interop.Tests;

/// <summary>
/// Debian 12's kdump-tools (1:1.8.1), unmodified, on the simulated machine: tests/Fadump.Interop.Tests/kdump-tools-harness.sh
/// runs /usr/sbin/kdump-config in a private mount namespace where the machine's proc/ and sys/ are bind-mounted
/// over the real paths (its header lists every mount and its stand-ins for /sbin/kexec, logger and reboot). The machine is
/// either a `fadump sim mount` (FUSE: writes reach the simulated kernel, `echo c > proc/sysrq-trigger` crashes it)
/// or a copy of a kernel's files in a plain directory (only what reads need). A missing kdump-tools, unshare,
/// fusermount3 or /dev/fuse fails the test; nothing is skipped.
/// </summary>
[Trait("Category", "Interop")]
public sealed class KdumpToolsTests
{
    private const string KdumpConfig = "/usr/sbin/kdump-config";

    // ---- pSeries LPAR and PowerNV (FADump), live on the FUSE mount ----

    /// <summary>PowerNV (FADump over OPAL) shows kdump-config the same files, and takes the same path.</summary>
    [Theory]
    [InlineData("pseries", "1G")]
    [InlineData("powernv", "2G")]
    public void On_a_fadump_machine_status_unload_and_load_go_through_the_old_sysfs_names(string platform, string memory)
    {
        using var m = SimMount.Start("--platform", platform, "--memory", memory, "--cpus", "2");
        using var work = new RealTool.TempDir();
        Assert.Equal("1", m.Read("sys/kernel/fadump_enabled"));
        Assert.Equal("1", m.Read("sys/kernel/fadump/registered"));

        // DUMP_MODE is fadump because /sys/kernel/fadump_enabled reads 1 (kdump-config lines 78-81).
        var status = Harness.Run(m.Dir, work.Path, KdumpConfig, "status");
        Assert.True(status.ExitCode == 0, status.All);
        Assert.Equal("current state   : ready to fadump\n", status.Stdout);

        var unload = Harness.Run(m.Dir, work.Path, KdumpConfig, "unload");
        Assert.True(unload.ExitCode == 0, unload.All);
        Assert.Contains("fadump un-registered successfully", unload.Stdout, StringComparison.Ordinal);
        Assert.Equal("0", m.Read("sys/kernel/fadump/registered"));
        Assert.Equal("0", m.Read("sys/kernel/fadump_registered"));
        Assert.Equal("current state   : Not ready to fadump\n", Harness.Run(m.Dir, work.Path, KdumpConfig, "status").Stdout);

        // load: check_fadump_support, then fadump_register: `echo 1 > /sys/kernel/fadump_registered` (lines 448-466).
        var load = Harness.Run(m.Dir, work.Path, KdumpConfig, "load");
        Assert.True(load.ExitCode == 0, load.All);
        Assert.Contains("fadump registered successfully", load.Stdout, StringComparison.Ordinal);
        Assert.Equal("1", m.Read("sys/kernel/fadump/registered"));
        Assert.Equal("1", m.Read("sys/kernel/fadump_registered"));
        Assert.Contains("DUMP", m.Read("sys/kernel/debug/powerpc/fadump_region"), StringComparison.Ordinal);
        Assert.Equal("current state   : ready to fadump\n", Harness.Run(m.Dir, work.Path, KdumpConfig, "status").Stdout);

        // apply_panic_triggers: `sysctl -w kernel.panic_on_oops=1`, into the harness's scratch /proc/sys.
        Assert.Equal("1", File.ReadAllText(Path.Combine(work.Path, "proc-sys/kernel/panic_on_oops")).Trim());
        Assert.Equal(
            "-t kdump-config fadump un-registered successfully\n-t kdump-config fadump registered successfully\n",
            File.ReadAllText(Path.Combine(work.Path, "syslog")));
        Assert.False(File.Exists(Path.Combine(work.Path, "kexec.log")), "fadump mode never runs kexec");
    }

    /// <summary>
    /// The capture kernel after `echo c > proc/sysrq-trigger`: Debian's makedumpfile is the amd64 build, which reads
    /// only x86_64 dumps, so both of its runs on the ppc64le /proc/vmcore fail; kdump-config still reports the vmcore
    /// saved and exits 0, with an empty dump file: it runs `makedumpfile ... | compress > FILE` and takes the status
    /// of the pipeline, i.e. of compress (cat), so its 'cp' fallback never runs (kdump-config lines 812-822).
    /// </summary>
    [Fact]
    public void On_the_pseries_capture_kernel_savecore_runs_makedumpfile_which_cannot_read_ppc64le_and_says_saved()
    {
        using var m = SimMount.Start("--platform", "pseries", "--memory", "1G", "--cpus", "2");
        using var work = new RealTool.TempDir();
        m.Crash();
        Assert.True(File.Exists(m.Path("proc/vmcore")), "no proc/vmcore after the crash");
        Assert.Equal("current state   : Not ready to fadump\n", Harness.Run(m.Dir, work.Path, KdumpConfig, "status").Stdout);

        var save = Harness.Run(m.Dir, work.Path, KdumpConfig, "savecore");
        AssertPseriesSavecore(save, work.Path);
        // kdump-tools has no release_mem step: its init script reboots after savecore (/etc/init.d/kdump-tools).
        Assert.True(File.Exists(m.Path("proc/vmcore")), "the dump's memory is still held");
    }

    /// <summary>
    /// The service as Debian runs it (kdump-tools.service: `/etc/init.d/kdump-tools start`, its lines 27-45): no
    /// /proc/vmcore, so `kdump-config load` registers; after the crash, `kdump-config savecore`, then `date -R` and
    /// `reboot -f` (the harness's stand-in restarts the simulated LPAR). kdump-tools never writes release_mem: the
    /// reboot gives the memory back (the kernel's shutdown invalidates the dump), and the next boot's start registers
    /// again.
    /// </summary>
    [Fact]
    public void On_the_pseries_lpar_the_init_script_registers_saves_after_the_crash_and_reboots_into_a_registered_kernel()
    {
        using var m = SimMount.Start("--platform", "pseries", "--memory", "1G", "--cpus", "2");
        using var work = new RealTool.TempDir();
        Assert.True(Harness.Run(m.Dir, work.Path, KdumpConfig, "unload").ExitCode == 0);
        Assert.Equal("0", m.Read("sys/kernel/fadump/registered"));

        var first = Harness.Run(m.Dir, work.Path, "/etc/init.d/kdump-tools", "start");
        Assert.True(first.ExitCode == 0, first.All);
        Assert.Equal("Starting kdump-tools: fadump registered successfully.\n", first.Stdout);
        Assert.Equal("1", m.Read("sys/kernel/fadump/registered"));

        m.Crash();
        Assert.True(File.Exists(m.Path("proc/vmcore")), "no proc/vmcore after the crash");
        var capture = Harness.Run(m.Dir, work.Path, "/etc/init.d/kdump-tools", "start");
        Assert.True(capture.ExitCode == 0, capture.All);
        Assert.StartsWith("Starting kdump-tools: running makedumpfile --dump-dmesg /proc/vmcore", capture.Stdout, StringComparison.Ordinal);
        Assert.Contains("kdump-tools: saved vmcore in /var/crash/", capture.Stdout, StringComparison.Ordinal);
        Assert.Equal("reboot -f\n", File.ReadAllText(Path.Combine(work.Path, "reboot.log")));
        Assert.False(File.Exists(m.Path("proc/vmcore")), "the reboot did not end the capture kernel");
        Assert.Equal("1", m.Read("sys/kernel/fadump/registered"));

        var again = Harness.Run(m.Dir, work.Path, "/etc/init.d/kdump-tools", "start");
        Assert.True(again.ExitCode == 0, again.All);
        Assert.Equal("Starting kdump-tools: fadump registered successfully.\n", again.Stdout);
        Assert.Equal("1", m.Read("sys/kernel/fadump/registered"));
    }

    // ---- x86_64 PC (kexec kdump), live on the FUSE mount ----

    /// <summary>
    /// The service on the x86_64 capture kernel: savecore, then `reboot -f` (the stand-in restarts the simulated PC: the
    /// second reboot). On the first kernel that comes back, the service's `kdump-config load` fails: the kernel has the
    /// capture kernel loaded already (kexec_crash_loaded is 1) and kdump_create_symlinks refuses to change the links;
    /// the init script still exits 0 (it ignores load's status and ends with `exit 0`).
    /// </summary>
    [Fact]
    public void On_the_x86_64_capture_kernel_the_init_script_saves_and_reboots_into_a_first_kernel_whose_load_refuses()
    {
        using var m = SimMount.Start("--platform", "x86_64", "--memory", "1G", "--cpus", "2");
        using var work = new RealTool.TempDir();
        m.Crash();
        var capture = Harness.Run(m.Dir, work.Path, "/etc/init.d/kdump-tools", "start");
        Assert.True(capture.ExitCode == 0, capture.All);
        Assert.Contains("kdump-tools: saved dmesg content in /var/crash/", capture.Stdout, StringComparison.Ordinal);
        Assert.Contains("kdump-tools: saved vmcore in /var/crash/", capture.Stdout, StringComparison.Ordinal);
        Assert.Equal("reboot -f\n", File.ReadAllText(Path.Combine(work.Path, "reboot.log")));
        Assert.False(File.Exists(m.Path("proc/vmcore")), "the reboot did not end the capture kernel");
        var dir = Assert.Single(Directory.GetDirectories(Path.Combine(work.Path, "crash")));
        string dump = Path.Combine(dir, "dump." + Path.GetFileName(dir));
        var c = RealTool.Run("crash", ["--osrelease", dump]);
        Assert.True(c.ExitCode == 0, c.All);
        Assert.Equal(X86_64Pc.Release, c.Stdout.Trim());

        Assert.Equal("1", m.Read("sys/kernel/kexec_crash_loaded"));
        var first = Harness.Run(m.Dir, work.Path, "/etc/init.d/kdump-tools", "start");
        Assert.True(first.ExitCode == 0, first.All);
        Assert.Equal("Starting kdump-tools: Cannot change symbolic links when kdump is loaded ... failed!\n", first.Stdout);
        Assert.False(File.Exists(Path.Combine(work.Path, "kexec.log")), "load stopped before kexec");
    }

    [Fact]
    public void On_the_x86_64_pc_status_reads_kexec_crash_loaded_and_savecore_saves_a_dump_crash_opens()
    {
        using var m = SimMount.Start("--platform", "x86_64", "--memory", "1G", "--cpus", "2");
        using var work = new RealTool.TempDir();
        Assert.Equal("1", m.Read("sys/kernel/kexec_crash_loaded"));
        var status = Harness.Run(m.Dir, work.Path, KdumpConfig, "status");
        Assert.True(status.ExitCode == 0, status.All);
        Assert.EndsWith("current state   : ready to kdump\n", status.Stdout, StringComparison.Ordinal);

        m.Crash();
        Assert.True(File.Exists(m.Path("proc/vmcore")), "no proc/vmcore after the crash");
        AssertX86Savecore(Harness.Run(m.Dir, work.Path, KdumpConfig, "savecore"), work.Path, m.Path("proc/vmcore"));
    }

    // ---- copies of a kernel's files in a plain directory (no FUSE): what only reads ----

    /// <summary>A 1 GiB, 2-CPU PC booted with crashkernel=256M and its capture kernel loaded (kexec -p).</summary>
    private static X86_64Pc LoadedPc()
    {
        var pc = new X86_64Pc(new PcSpec { MemoryBytes = 1UL << 30, Cpus = 2, CommandLine = "root=/dev/sda2 ro quiet crashkernel=256M" });
        pc.Boot();
        Assert.True(pc.LoadCaptureKernel(), pc.LoadError);
        return pc;
    }

    /// <summary>
    /// kdump mode on the x86_64 first kernel: `show` takes the crashkernel address from /proc/iomem's "Crash kernel"
    /// (line 64), `test` (a dry run) builds the kexec command from /proc/cmdline less crashkernel= plus
    /// KDUMP_CMDLINE_APPEND (lines 549-552). `load` refuses: kdump_create_symlinks will not change the links while
    /// /sys/kernel/kexec_crash_loaded is 1 (lines 490-493), and it is 1 from boot, as if the kdump service had run.
    /// </summary>
    [Fact]
    public void On_a_copy_of_the_x86_64_first_kernels_files_show_and_test_plan_the_kexec_load_and_load_refuses()
    {
        Harness.RequireInstalled();
        using var root = new RealTool.TempDir();
        using var work = new RealTool.TempDir();
        var pc = LoadedPc();
        Tree.Copy(pc.Kernel!.Files, root.Path);
        string crashLine = File.ReadAllLines(Path.Combine(root.Path, "proc/iomem")).Single(l => l.EndsWith(" : Crash kernel", StringComparison.Ordinal));
        string addr = "0x" + crashLine.Trim()[..crashLine.Trim().IndexOf('-', StringComparison.Ordinal)].TrimStart('0');

        var status = Harness.Run(root.Path, work.Path, KdumpConfig, "status");
        Assert.True(status.ExitCode == 0, status.All);
        Assert.EndsWith("current state   : ready to kdump\n", status.Stdout, StringComparison.Ordinal);

        var show = Harness.Run(root.Path, work.Path, KdumpConfig, "show");
        Assert.True(show.ExitCode == 0, show.All);
        Assert.Contains("DUMP_MODE:\t\tkdump\n", show.Stdout, StringComparison.Ordinal);
        Assert.Contains($"crashkernel addr: {addr}\n", show.Stdout, StringComparison.Ordinal);
        Assert.Contains("current state:    ready to kdump\n", show.Stdout, StringComparison.Ordinal);

        var test = Harness.Run(root.Path, work.Path, KdumpConfig, "test");
        Assert.True(test.ExitCode == 0, test.All);
        Assert.Contains($"crashkernel addr\t\t{addr}\n", test.Stdout, StringComparison.Ordinal);
        Assert.Contains(
            "  /sbin/kexec -p --command-line=\"root=/dev/sda2 ro quiet reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1 irqpoll usbcore.nousb\" /var/lib/kdump/vmlinuz\n",
            test.Stdout, StringComparison.Ordinal);

        var load = Harness.Run(root.Path, work.Path, KdumpConfig, "load");
        Assert.Equal(1, load.ExitCode);
        Assert.Contains("Cannot change symbolic links when kdump is loaded", load.Stdout, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(work.Path, "kexec.log")), "load stopped before kexec");
    }

    [Fact]
    public void Savecore_on_a_copy_of_the_x86_64_capture_kernels_files_saves_a_dump_crash_opens()
    {
        Harness.RequireInstalled();
        using var root = new RealTool.TempDir();
        using var work = new RealTool.TempDir();
        var pc = LoadedPc();
        Assert.True(pc.Crash(CrashKind.Sysrq));
        Tree.Copy(pc.Kernel!.Files, root.Path);
        AssertX86Savecore(Harness.Run(root.Path, work.Path, KdumpConfig, "savecore"), work.Path, Path.Combine(root.Path, "proc/vmcore"));
    }

    [Fact]
    public void Savecore_on_a_copy_of_the_pseries_capture_kernels_files_says_saved_over_an_empty_dump()
    {
        Harness.RequireInstalled();
        using var root = new RealTool.TempDir();
        using var work = new RealTool.TempDir();
        var lpar = new PseriesLpar(new LparSpec { MemoryBytes = 1UL << 30, Cpus = 2 });
        lpar.Boot();
        Assert.True(lpar.Crash(CrashKind.Sysrq));
        Tree.Copy(lpar.Kernel!.Files, root.Path);
        AssertPseriesSavecore(Harness.Run(root.Path, work.Path, KdumpConfig, "savecore"), work.Path);
    }

    private static void AssertPseriesSavecore(RealTool.Result save, string work)
    {
        Assert.True(save.ExitCode == 0, save.All);
        var dir = Assert.Single(Directory.GetDirectories(Path.Combine(work, "crash")));
        string stamp = Path.GetFileName(dir);
        Assert.Contains($"running makedumpfile --dump-dmesg /proc/vmcore /var/crash/{stamp}/dmesg.{stamp}", save.Stdout, StringComparison.Ordinal);
        Assert.Contains("kdump-config: makedumpfile --dump-dmesg failed. dmesg content will be unavailable", save.Stdout, StringComparison.Ordinal);
        Assert.Contains($"running makedumpfile -F -c -d 31 /proc/vmcore | compress > /var/crash/{stamp}/dump-incomplete", save.Stdout, StringComparison.Ordinal);
        Assert.Contains($"kdump-config: saved vmcore in /var/crash/{stamp}", save.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("falling back to 'cp'", save.All, StringComparison.Ordinal);
        // amd64 makedumpfile translates the ppc64le kernel's addresses as x86_64 ones, and fails.
        Assert.Contains("vtop4_x86_64: Can't get the symbol of init_level4_pgt/init_top_pgt.", save.Stderr, StringComparison.Ordinal);
        Assert.Contains("check_release: Can't get the address of system_utsname.", save.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, CountOf(save.Stdout + save.Stderr, "makedumpfile Failed."));
        Assert.Equal(new[] { $"dump.{stamp}" }, Directory.GetFiles(dir).Select(f => Path.GetFileName(f)!).ToArray());
        Assert.Equal(0, new FileInfo(Path.Combine(dir, $"dump.{stamp}")).Length);
    }

    private static void AssertX86Savecore(RealTool.Result save, string work, string vmcore)
    {
        Assert.True(save.ExitCode == 0, save.All);
        var dir = Assert.Single(Directory.GetDirectories(Path.Combine(work, "crash")));
        string stamp = Path.GetFileName(dir);
        Assert.Contains($"kdump-config: saved dmesg content in /var/crash/{stamp}", save.Stdout, StringComparison.Ordinal);
        Assert.Contains($"kdump-config: saved vmcore in /var/crash/{stamp}", save.Stdout, StringComparison.Ordinal);
        Assert.Equal(2, CountOf(save.Stdout + save.Stderr, "makedumpfile Completed."));
        Assert.Equal(
            new[] { $"dmesg.{stamp}", $"dump.{stamp}" },
            Directory.GetFiles(dir).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray());
        string dump = Path.Combine(dir, $"dump.{stamp}"), dmesg = Path.Combine(dir, $"dmesg.{stamp}");

        // The dmesg makedumpfile saved is ours, byte for byte.
        var (code, ours, err) = InProcessCli.Run("dmesg", vmcore);
        Assert.True(code == 0, err);
        Assert.Equal(ours, File.ReadAllText(dmesg));
        Assert.Contains("sysrq: Trigger a crash", ours, StringComparison.Ordinal);

        // MAKEDUMP_ARGS' default, -F -c -d 31: a flattened, zlib-compressed kdump file at dump level 31.
        var (icode, info, ierr) = InProcessCli.Run("info", "--json", dump);
        Assert.True(icode == 0, ierr);
        using var doc = JsonDocument.Parse(info);
        var r = doc.RootElement;
        Assert.Equal("kdump", r.GetProperty("format").GetString());
        Assert.True(r.GetProperty("flattened").GetBoolean());
        Assert.Equal(31, r.GetProperty("dump_level").GetInt32());
        Assert.Equal("x86_64", r.GetProperty("arch").GetString());
        Assert.False(r.GetProperty("incomplete").GetBoolean());

        // crash 8.0.2 opens it (no vmlinux here: --osrelease).
        var c = RealTool.Run("crash", ["--osrelease", dump]);
        Assert.True(c.ExitCode == 0, c.All);
        Assert.Equal(X86_64Pc.Release, c.Stdout.Trim());
    }

    private static int CountOf(string s, string what)
    {
        int n = 0;
        for (int i = s.IndexOf(what, StringComparison.Ordinal); i >= 0; i = s.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }

    /// <summary>kdump-tools-harness.sh.</summary>
    internal static class Harness
    {
        public static string Script
        {
            get
            {
                for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                {
                    if (File.Exists(Path.Combine(d.FullName, "Fadump.slnx")))
                    {
                        return Path.Combine(d.FullName, "tests/Fadump.Interop.Tests/kdump-tools-harness.sh");
                    }
                }

                throw new InvalidOperationException("no Fadump.slnx above " + AppContext.BaseDirectory);
            }
        }

        public static void RequireInstalled()
        {
            Assert.True(File.Exists(KdumpConfig), $"{KdumpConfig} is missing: install Debian's kdump-tools (scripts/install-test-deps does)");
            RealTool.Require("unshare");
            RealTool.Require("makedumpfile");
            RealTool.Require("crash");
        }

        public static RealTool.Result Run(string root, string work, params string[] command)
        {
            RequireInstalled();
            return RealTool.Run("sh", [Script, root, work, .. command], 600);
        }
    }

    /// <summary>A kernel's /proc and /sys files copied into a plain directory: text as a read returns it, write-only files empty, links as links.</summary>
    internal static class Tree
    {
        public static void Copy(KernelFileSystem files, string root)
        {
            foreach (var f in files.Files.Where(f => f.Path.StartsWith("/proc/", StringComparison.Ordinal) || f.Path.StartsWith("/sys/", StringComparison.Ordinal)))
            {
                string path = root + f.Path;
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                if (f.LinkTarget is { } target)
                {
                    File.CreateSymbolicLink(path, target);
                    continue;
                }

                using (var dst = File.Create(path))
                {
                    if (f.Open is not null)
                    {
                        using var src = f.Open();
                        var buf = new byte[1 << 20];
                        for (long off = 0; off < src.Length;)
                        {
                            int n = src.Read(off, buf);
                            Assert.True(n > 0, $"{f.Path} ended early");
                            dst.Write(buf, 0, n);
                            off += n;
                        }
                    }
                    else if (f.Read is not null)
                    {
                        dst.Write(Encoding.ASCII.GetBytes(f.Read()));
                    }
                }

                File.SetUnixFileMode(path, (UnixFileMode)f.Permissions);
            }
        }
    }

    /// <summary>`fadump sim mount DIR MACHINE-OPTIONS` as a child process, from its "fadump: mounted" line until Dispose unmounts it.</summary>
    internal sealed class SimMount : IDisposable
    {
        private readonly RealTool.TempDir _tmp = new();
        private readonly Process _p;
        private readonly StringBuilder _stderr = new();
        private bool _mounted;

        private SimMount(string[] options)
        {
            Assert.True(File.Exists("/dev/fuse"), "/dev/fuse is missing: `fadump sim mount` needs FUSE");
            RealTool.Require("fusermount3");
            Dir = System.IO.Path.Combine(_tmp.Path, "machine");
            Directory.CreateDirectory(Dir);
            var psi = new ProcessStartInfo(System.IO.Path.Combine(AppContext.BaseDirectory, "fadump"))
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var a in (string[])["sim", "mount", Dir, .. options])
            {
                psi.ArgumentList.Add(a);
            }

            var ready = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            _p = new Process { StartInfo = psi };
            _p.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    ready.TrySetResult(false);
                    return;
                }

                lock (_stderr)
                {
                    _stderr.AppendLine(e.Data);
                }

                if (e.Data.StartsWith("fadump: mounted", StringComparison.Ordinal))
                {
                    ready.TrySetResult(true);
                }
            };
            _p.OutputDataReceived += (_, _) => { };
            _p.Start();
            _p.BeginErrorReadLine();
            _p.BeginOutputReadLine();
            if (!ready.Task.Wait(TimeSpan.FromSeconds(120)) || !ready.Task.Result)
            {
                Dispose();
                Assert.Fail($"fadump sim mount {string.Join(' ', options)} did not say 'fadump: mounted': {Stderr}");
            }

            _mounted = true;
        }

        public string Dir { get; }

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

        public static SimMount Start(params string[] options)
        {
            Harness.RequireInstalled();
            return new SimMount(options);
        }

        public string Path(string relative) => System.IO.Path.Combine(Dir, relative);

        public string Read(string relative) => File.ReadAllText(Path(relative)).Trim();

        /// <summary>`echo c > DIR/proc/sysrq-trigger`, as a shell does it.</summary>
        public void Crash()
        {
            var r = RealTool.Run("sh", ["-c", "echo c > \"$1\"", "sh", Path("proc/sysrq-trigger")]);
            Assert.True(r.ExitCode == 0, r.All + Stderr);
        }

        public void Dispose()
        {
            if (!_p.HasExited)
            {
                if (_mounted)
                {
                    RealTool.Run("fusermount3", ["-u", Dir]);
                }

                if (!_p.WaitForExit(30_000))
                {
                    _p.Kill(entireProcessTree: true);
                    _p.WaitForExit();
                    RealTool.Run("fusermount3", ["-u", "-z", Dir]);
                }
            }

            _p.Dispose();
            _tmp.Dispose();
        }
    }
}
