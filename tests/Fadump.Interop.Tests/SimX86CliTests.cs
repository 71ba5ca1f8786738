using System.Diagnostics;
using System.Text.Json;
using System.Xml;
using Fadump.Cli;
using Fadump.Formats;
using Fadump.Tools.Tests.Cli;

namespace Fadump.Interop.Tests;

/// <summary>
/// `fadump sim run` and `fadump demo` with `--platform x86_64`: kdump through kexec -p (both syscalls), the
/// capture kernel, the dump service on its /proc/vmcore, the second reboot; usage errors; a failed load.
/// </summary>
public sealed class SimX86CliTests
{
    private static (int Code, string Out, string Err) Fadump(params string[] args) => InProcessCli.Run(args);

    private static List<JsonElement> Phases(JsonDocument doc) => [.. doc.RootElement.GetProperty("timeline").EnumerateArray()];

    [Theory]
    [InlineData("legacy")]
    [InlineData("file")]
    public void Sim_run_writes_a_vmcore_that_info_reads_as_x86_64(string mode)
    {
        using var dir = new RealTool.TempDir();
        string vmcore = dir.File("vmcore");
        var (code, stdout, stderr) = Fadump("sim", "run", "--platform", "x86_64", "--memory", "2G", "--cpus", "2", "--kexec-load", mode, "--vmcore-out", vmcore, "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal("x86_64", root.GetProperty("platform").GetString());
        Assert.Equal(mode, root.GetProperty("kexec_load").GetString());
        Assert.True(root.GetProperty("kexec_loaded").GetBoolean());
        Assert.True(root.GetProperty("dumped").GetBoolean());
        Assert.True(root.GetProperty("second_reboot").GetBoolean());
        Assert.True(root.GetProperty("rearmed").GetBoolean());
        Assert.Equal(mode == "legacy", root.GetProperty("backup_copied").GetBoolean());
        Assert.Contains("elfcorehdr=", root.GetProperty("capture_cmdline").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("crashkernel=", root.GetProperty("capture_cmdline").GetString(), StringComparison.Ordinal);
        Assert.Contains(Phases(doc), p => p.GetProperty("phase").GetString()!.StartsWith("copy /proc/vmcore", StringComparison.Ordinal) && p.GetProperty("kind").GetString() == "measured");

        var (icode, info, ierr) = Fadump("info", vmcore, "--json");
        Assert.True(icode == 0, ierr);
        using var idoc = JsonDocument.Parse(info);
        Assert.Equal("x86_64", idoc.RootElement.GetProperty("arch").GetString());
        Assert.Equal("6.1.0-56-amd64", idoc.RootElement.GetProperty("osrelease").GetString());
        Assert.Equal(2, idoc.RootElement.GetProperty("cpus").GetInt32());
    }

    [Fact]
    public void Sim_run_save_to_saves_the_vmcore_and_its_dmesg_through_the_dump_service_then_reboots()
    {
        using var dir = new RealTool.TempDir();
        var (code, stdout, stderr) = Fadump("sim", "run", "--platform", "x86_64", "--memory", "2G", "--cpus", "2", "--crash", "sysrq", "--save-to", dir.Path, "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var files = doc.RootElement.GetProperty("files").EnumerateArray().Select(f => f.GetString()!).ToList();
        string vmcore = Assert.Single(files, f => Path.GetFileName(f) == "vmcore");
        using (var dump = DumpFile.Open(vmcore))
        {
            Assert.Equal(DumpFormat.KdumpCompressed, dump.Format);
            Assert.Equal(31, dump.DumpLevel);
            Assert.Equal("6.1.0-56-amd64", dump.VmcoreInfo!.OsRelease);
        }

        string dmesg = File.ReadAllText(Assert.Single(files, f => Path.GetFileName(f) == "vmcore-dmesg.txt"));
        Assert.Contains("Kernel panic - not syncing: sysrq triggered crash", dmesg, StringComparison.Ordinal);
        // kdump: the capture kernel cannot give the memory back, so the service asks for its final action, reboot.
        Assert.Contains("reboot requested (final_action)", doc.RootElement.GetProperty("actions").GetString(), StringComparison.Ordinal);
        var phases = Phases(doc);
        int save = phases.FindIndex(p => p.GetProperty("phase").GetString()!.StartsWith("dump service", StringComparison.Ordinal));
        int reboot = phases.FindIndex(p => p.GetProperty("phase").GetString()!.StartsWith("second reboot", StringComparison.Ordinal));
        Assert.True(save >= 0 && reboot > save, string.Join("\n", phases.Select(p => p.GetProperty("phase").GetString())));
        Assert.Equal("measured", phases[save].GetProperty("kind").GetString());
    }

    [Fact]
    public void Demo_times_the_second_reboot_and_draws_both_layouts()
    {
        using var dir = new RealTool.TempDir();
        var (code, stdout, stderr) = Fadump("demo", "--platform", "x86_64", "--memory", "2G", "--cpus", "2", "--out", dir.Path, "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal("x86_64", root.GetProperty("platform").GetString());
        var phases = Phases(doc);
        Assert.All(phases, p => Assert.Contains(p.GetProperty("kind").GetString(), new[] { "modelled", "measured" }));
        foreach (var name in new[] { "boot first kernel, reserve crashkernel=", "kexec -p (kexec_load)", "crash (panic)", "NMI shootdown", "machine_kexec → purgatory", "capture kernel boots", "dump service", "second reboot" })
        {
            Assert.Contains(phases, p => p.GetProperty("phase").GetString()!.StartsWith(name, StringComparison.Ordinal));
        }

        // The second reboot: ResetAndIplSeconds 45 + KernelBootSeconds 12 + 0.05 s/GiB of the whole machine.
        var reboot = Assert.Single(phases, p => p.GetProperty("phase").GetString()!.StartsWith("second reboot", StringComparison.Ordinal));
        Assert.Equal("modelled", reboot.GetProperty("kind").GetString());
        Assert.InRange(reboot.GetProperty("seconds").GetDouble(), 57.0, 57.2);
        double crashAt = phases.Single(p => p.GetProperty("phase").GetString()!.StartsWith("crash", StringComparison.Ordinal)).GetProperty("at_seconds").GetDouble();
        Assert.Equal(reboot.GetProperty("at_seconds").GetDouble() - crashAt, root.GetProperty("back_in_production_seconds").GetDouble(), 6);

        Assert.Contains(root.GetProperty("layout_first_kernel").EnumerateArray(), b => b.GetProperty("label").GetString() == "Crash kernel (crashkernel=)");
        var capture = root.GetProperty("layout_capture_kernel").EnumerateArray().Select(b => b.GetProperty("label").GetString()).ToList();
        Assert.Contains("capture kernel", capture);
        Assert.Contains("elfcorehdr", capture);
        Assert.Contains("preserved: /proc/vmcore", capture);
        var svgs = root.GetProperty("files").EnumerateArray().Select(f => f.GetString()!).Where(f => f.EndsWith(".svg", StringComparison.Ordinal)).ToList();
        Assert.Equal(["fig1-first-kernel.svg", "fig2-capture-kernel.svg", "timeline.svg"], svgs.Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var svg in svgs)
        {
            var xml = new XmlDocument();
            xml.Load(svg);
            Assert.Equal("svg", xml.DocumentElement!.Name);
        }
    }

    [Fact]
    public void Demo_text_names_the_second_reboot_and_the_headline()
    {
        var (code, stdout, stderr) = Fadump("demo", "--platform", "x86_64", "--memory", "1G", "--cpus", "2", "--kexec-load", "file", "--cmdline", "root=/dev/sda2 ro crashkernel=256M", "--verbose");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("Simulated x86_64 PC, kdump: 1 GiB RAM, 2 CPUs", stdout, StringComparison.Ordinal);
        Assert.Contains("\n\nFadump demo: x86_64 PC with kdump, 1 GiB RAM, 2 CPUs", stdout, StringComparison.Ordinal);
        Assert.Contains("modelled  second reboot: firmware reset and POST, the first kernel boots again with all 1 GiB", stdout, StringComparison.Ordinal);
        Assert.Contains("after the crash, the second reboot included.", stdout, StringComparison.Ordinal);
        Assert.Contains("Fig. 1: the crashkernel= reservation in the first kernel", stdout, StringComparison.Ordinal);
        Assert.Contains("Fig. 2: the capture kernel's view after the crash", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sim run --platform x86_64 --crash fw-terminate", "--crash fw-terminate is not possible on --platform x86_64")]
    [InlineData("sim run --platform x86_64 --hole 1G:1G", "--hole is not simulated on --platform x86_64")]
    [InlineData("sim run --platform x86_64 --reserved-range 1G:64K", "--reserved-range is not simulated on --platform x86_64")]
    [InlineData("sim run --platform x86_64 --kexec-load fast", "--kexec-load must be legacy or file, not 'fast'")]
    [InlineData("sim run --platform x86_64 --memory 1G --cpus 100000", "an x86_64 PC here has 1 to")]
    [InlineData("sim run --platform x86_64 --memory 64T", "64T-1G on x86_64")]
    [InlineData("sim run --kexec-load file", "--kexec-load applies to --platform x86_64 only")]
    [InlineData("demo --platform powernv --kexec-load file", "--kexec-load applies to --platform x86_64 only: powernv dumps through FADump, not kexec")]
    [InlineData("sim run --platform power6 --kexec-load legacy", "--kexec-load applies to --platform x86_64 only: power6 dumps through phyp dump, not kexec")]
    [InlineData("frobnicate", "fadump: 'frobnicate' is not a fadump command; the commands are: info, regs, read, dmesg, collect, save, convert, demo, sim")]
    [InlineData("sim run --platform sparc", "--platform must be pseries, powernv, power6 or x86_64, not 'sparc'")]
    public void Options_that_make_no_sense_on_the_platform_are_usage_errors(string args, string message)
    {
        var (code, stdout, stderr) = Fadump(args.Split(' '));
        Assert.Equal(2, code);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled", stderr + stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("legacy", "Memory for crashkernel is not reserved")]
    [InlineData("file", "kexec_file_load failed: Cannot assign requested address")]
    public void A_failed_kexec_load_reports_kexec_tools_and_no_dump(string mode, string said)
    {
        var (code, stdout, stderr) = Fadump("sim", "run", "--platform", "x86_64", "--memory", "1G", "--cpus", "2", "--cmdline", "root=/dev/sda2 ro", "--kexec-load", mode, "--json");
        Assert.True(code == 1, stderr);
        Assert.Contains("kexec -p failed, so the crash produced no dump (kexec-tools said: " + said, stderr, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(stdout);
        Assert.False(doc.RootElement.GetProperty("kexec_loaded").GetBoolean());
        Assert.False(doc.RootElement.GetProperty("dumped").GetBoolean());
        Assert.False(doc.RootElement.GetProperty("second_reboot").GetBoolean());
        Assert.StartsWith(said, doc.RootElement.GetProperty("kexec_error").GetString(), StringComparison.Ordinal);
        Assert.Empty(doc.RootElement.GetProperty("layout_capture_kernel").EnumerateArray());
    }

    /// <summary>The same failure seen from outside: the fadump executable's exit status and its stderr (JIT and native builds).</summary>
    [Theory]
    [MemberData(nameof(FadumpProcess.Builds), MemberType = typeof(FadumpProcess))]
    public async Task A_failed_kexec_load_exits_1_from_the_command_line(string build)
    {
        var psi = new ProcessStartInfo(FadumpProcess.Executable(build)) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "sim", "run", "--platform", "x86_64", "--memory", "1G", "--cpus", "2", "--cmdline", "root=/dev/sda2 ro quiet" })
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var so = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var se = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await p.WaitForExitAsync(TestContext.Current.CancellationToken);
        string stdout = await so, stderr = await se;
        Assert.True(p.ExitCode == 1, stderr);
        Assert.Contains("Memory for crashkernel is not reserved", stdout, StringComparison.Ordinal);
        Assert.Contains("no dump: no crash kernel is loaded", stdout, StringComparison.Ordinal);
        Assert.StartsWith("fadump: kexec -p failed, so the crash produced no dump", stderr, StringComparison.Ordinal);
    }
}
