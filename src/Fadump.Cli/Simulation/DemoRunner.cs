using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Fadump.Kernel;
using Fadump.Machine;
using Fadump.Tools.Sysroot;
using Fadump.Kernel.Platforms;

namespace Fadump.Cli.Simulation;

/// <summary>What a demo or `sim run` does: the machine, the crash, where the dump goes.</summary>
public sealed record DemoOptions
{
    public LparSpec Lpar { get; init; } = new();

    /// <summary>The x86_64 PC with kdump instead of the pSeries LPAR; null: the LPAR.</summary>
    public PcSpec? Pc { get; init; }

    /// <summary>The Power6 LPAR with phyp dump instead of the pSeries LPAR; null: not a Power6 run.</summary>
    public LparSpec? Power6 { get; init; }

    /// <summary>The bare-metal POWER9 with FADump over OPAL MPIPL instead of the pSeries LPAR; null: not a PowerNV run.</summary>
    public Kernel.Platforms.PowerNv.PowerNvSpec? PowerNv { get; init; }

    /// <summary>The platform as `--platform` names it.</summary>
    public string Platform => Pc is not null ? "x86_64" : Power6 is not null ? "power6" : PowerNv is not null ? "powernv" : "pseries";

    public CrashKind Crash { get; init; } = CrashKind.Panic;

    /// <summary>Directory for the saved dump and the SVG pictures (required when saving).</summary>
    public string? OutDir { get; init; }

    /// <summary>Write /proc/vmcore as-is to this file.</summary>
    public string? VmcoreOut { get; init; }

    /// <summary>Save the dump (the dump service) and release the memory.</summary>
    public bool Save { get; init; } = true;

    /// <summary>The core_collector line the dump service runs (kdump-utils' default).</summary>
    public string CoreCollector { get; init; } = Tools.Service.KdumpConfig.DefaultCoreCollector;

    /// <summary>Why <see cref="CoreCollector"/> is not the one asked for (a codec library missing), for the report; null: it is.</summary>
    public string? CoreCollectorNote { get; init; }

    /// <summary>Live progress: each phase as it ends, the measured steps as they go; null: none.</summary>
    public IDemoProgress? Progress { get; init; }

    /// <summary>SIGINT, SIGTERM, SIGHUP: the save (or the --vmcore-out copy) stops, as the dump service's does.</summary>
    public CancellationToken CancellationToken { get; init; }

    /// <summary>A --vmcore-out this large is worth a warning before it is written: it is all of RAM, unfiltered.</summary>
    public long LargeVmcoreBytes { get; init; } = 4L << 30;

    /// <summary>Warnings that matter before the result does (a huge --vmcore-out); null: dropped.</summary>
    public Action<string>? Warn { get; init; }
}

/// <summary>How far a measured step (the save, the copy of /proc/vmcore) is: a fraction, and what it is doing.</summary>
public readonly record struct StepProgress(double Fraction, string Detail);

/// <summary>Live progress of a run, for a person watching it.</summary>
public interface IDemoProgress
{
    /// <summary>The run starts: what it simulates.</summary>
    void Begin(string title);

    /// <summary>A phase of the lifecycle ended (modelled or measured), the simulated clock at its end.</summary>
    void PhaseDone(TimelinePhase phase, TimeSpan at);

    /// <summary>Runs a measured step, which reports how far it is as it goes.</summary>
    T Measure<T>(string step, Func<IProgress<StepProgress>, T> work);
}

/// <summary>The result of a run: the timeline, fadump_region before and after, the layout pictures, the dump files.</summary>
public sealed class DemoResult
{
    public required DemoOptions Options { get; init; }

    public Timeline Timeline => timeline ??= new Timeline { Added = Options.Progress is { } p ? p.PhaseDone : null };

    private Timeline? timeline;

    public string RegionBefore { get; set; } = string.Empty;

    public string RegionAfter { get; set; } = string.Empty;

    public List<LayoutBand> LayoutFirst { get; set; } = [];

    public List<LayoutBand> LayoutCapture { get; set; } = [];

    public List<string> Files { get; } = [];

    public ulong ReleasedBytes { get; set; }

    public bool Reregistered { get; set; }

    public bool Dumped { get; set; }

    public string? VmcoreError { get; set; }

    public TimeSpan BackInProduction { get; set; }

    /// <summary>What the same crash costs with kdump: the same save, plus a second reboot.</summary>
    public TimeSpan KdumpEquivalent { get; set; }

    public List<string> CaptureLog { get; } = [];

    /// <summary>The first kernel's FADump (and crashkernel=) messages, as it logged them.</summary>
    public List<string> KernelMessages { get; } = [];

    public Tools.Service.CollectResult? Collect { get; set; }

    public string ActionsLog { get; set; } = string.Empty;

    /// <summary>The x86_64 run's kexec side (null on pseries).</summary>
    public KdumpRunDetails? Kdump { get; set; }

    /// <summary>The Power6 run's phyp dump side (null elsewhere).</summary>
    public PhypRunDetails? Phyp { get; set; }

    /// <summary>The PowerNV run's MPIPL side (null elsewhere).</summary>
    public OpalRunDetails? Opal { get; set; }

    public string Fig1Title { get; set; } = "Fig. 1: memory reservation in the first kernel";

    public string Fig2Title { get; set; } = "Fig. 2: the capture kernel's view after the crash";
}

/// <summary>Runs the FADump lifecycle on a simulated LPAR and reports it.</summary>
public static class DemoRunner
{
    public static DemoResult Run(DemoOptions options)
    {
        if (options.Pc is not null)
        {
            return KdumpRunner.Run(options);
        }

        if (options.Power6 is not null)
        {
            return PhypRunner.Run(options);
        }

        if (options.PowerNv is not null)
        {
            return PowerNvRunner.Run(options);
        }

        var result = new DemoResult { Options = options };
        var lpar = new PseriesLpar(options.Lpar);
        var clock = lpar.Machine.Clock;
        var cost = lpar.Machine.Cost;

        var k1 = lpar.Boot();
        result.Timeline.Add(new TimelinePhase(k1.Mechanism.Status.Armed ? "boot first kernel, reserve and register" : "boot first kernel (FADump not registered)", clock.Now, false,
            FormattableString.Invariant($"KernelBootSeconds {cost.KernelBootSeconds} + {cost.KernelBootSecondsPerGiB} s/GiB")), clock.Now);
        result.RegionBefore = k1.Files.Exists("/sys/kernel/debug/powerpc/fadump_region") ? k1.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region") : string.Empty;
        result.LayoutFirst = MemoryLayoutPicture.FirstKernel(k1, lpar.Machine.Memory.Top);

        result.KernelMessages.AddRange(k1.Mechanism.Messages);

        var crashAt = clock.Now;
        result.Dumped = lpar.Crash(options.Crash);
        var k2 = lpar.Kernel!;
        string crashName = options.Crash == CrashKind.FirmwareTerminate ? "fw-terminate" : options.Crash.ToString().ToLowerInvariant();
        if (ReferenceEquals(k1, k2))
        {
            // No reset: the crashed kernel stays dead (panic without a dump), nothing boots after it.
            result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"crash ({crashName}); no dump: the firmware was not asked for one, the LPAR stays down until it is rebooted"), TimeSpan.Zero, false, "no dump"), clock.Now);
            result.VmcoreError = WhyNoDump(k1, lpar);
            return result;
        }

        TimeSpan fw = result.Dumped ? cost.FirmwareCopy(k1.Mechanism.Status.FirmwareCopyBytes) : TimeSpan.Zero;
        var iplDone = crashAt + fw + TimeSpan.FromSeconds(cost.ResetAndIplSeconds);
        if (result.Dumped)
        {
            result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"crash ({crashName}); firmware copies {MemoryLayoutPicture.Human(k1.Mechanism.Status.FirmwareCopyBytes)} of boot memory"), fw, false,
                FormattableString.Invariant($"FirmwareCopyGBps {cost.FirmwareCopyGBps}")), crashAt + fw);
        }
        else
        {
            result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"crash ({crashName}); the LPAR is terminated without a dump"), TimeSpan.Zero, false, "no dump"), crashAt);
        }

        result.Timeline.Add(new TimelinePhase("reset without clearing RAM, IPL", TimeSpan.FromSeconds(cost.ResetAndIplSeconds), false, "ResetAndIplSeconds"), iplDone);
        var after = k2.Mechanism.Status;
        bool capture = after.DumpActive || after.CaptureLog.Count > 0;
        result.Timeline.Add(new TimelinePhase(capture ? FormattableString.Invariant($"capture kernel boots in {MemoryLayoutPicture.Human(after.CaptureKernelMemory)}") : "the next kernel boots (no dump is active)",
            clock.Now - iplDone, false, capture ? "KernelBootSeconds + s/GiB of boot memory" : "KernelBootSeconds + s/GiB"), clock.Now);
        result.CaptureLog.AddRange(after.CaptureLog);
        result.RegionAfter = k2.Files.Exists("/sys/kernel/debug/powerpc/fadump_region") ? k2.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region") : string.Empty;
        result.LayoutCapture = MemoryLayoutPicture.CaptureKernel(k2, lpar.Machine.Memory.Top);
        if (!capture)
        {
            result.VmcoreError = WhyNoDump(k1, lpar);
            return result;
        }

        var root = new SimulatedSysroot(lpar);
        if (!root.Exists("/proc/vmcore"))
        {
            result.VmcoreError = after.CaptureLog.Count > 0 ? string.Join("; ", after.CaptureLog) : "no /proc/vmcore (the dump was not taken)";
            return result;
        }

        CopyVmcoreIfAsked(root, result, clock);
        if (options.Save)
        {
            // The dump service, as on a real capture kernel: vmcore-dmesg.txt, the filtered vmcore,
            // verification, release_mem, re-registration; the final action (reboot) is skipped.
            var collected = SaveWithDumpService(root, result, clock);
            // The service cannot see how much release_mem freed; the simulated kernel can.
            result.ReleasedBytes = k2.Mechanism.Status.ReleasedBytes;
            var release = cost.Release(result.ReleasedBytes); // on the clock already: the kernel's release_mem modelled it
            result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"release_mem: {MemoryLayoutPicture.Human(result.ReleasedBytes)} back to production"), release, false, "ReleaseGiBps"), clock.Now);
            result.Reregistered = collected.Reregistered;
            result.Timeline.Add(new TimelinePhase("re-register FADump (no second reboot)", TimeSpan.Zero, false, "RTAS call"), clock.Now);
            if (collected.ExitCode != 0)
            {
                result.VmcoreError = "the dump service failed: " + string.Join("; ", collected.Errors);
            }
        }

        result.BackInProduction = clock.Now - crashAt;
        result.KdumpEquivalent = result.BackInProduction + TimeSpan.FromSeconds(cost.RebootSeconds);
        return result;
    }

    /// <summary>
    /// kdump-utils' default collector compresses with lzo; on a machine without liblzo2 (Debian does not install
    /// it by default) the run saves with zstd instead, whose library dpkg itself needs, and the report says so.
    /// </summary>
    public static DemoOptions WithAvailableCollector(DemoOptions options, bool lzoAvailable, string? whyNot)
    {
        if (!options.Save || lzoAvailable || options.CoreCollector != Tools.Service.KdumpConfig.DefaultCoreCollector)
        {
            return options;
        }

        string zstd = options.CoreCollector.Replace(" -l ", " -z ", StringComparison.Ordinal);
        return options with { CoreCollector = zstd, CoreCollectorNote = $"compressed with zstd, not with kdump-utils' default lzo: {whyNot}" };
    }

    /// <summary>Why the crash left no dump, in the kernel's own words where it gave any.</summary>
    private static string WhyNoDump(LinuxKernel k, PseriesLpar lpar)
    {
        var d = k.Mechanism.Status;
        string said = string.Join("; ", k.Mechanism.Messages.Where(m => !m.StartsWith("fadump: Reserved ", StringComparison.Ordinal) && !m.Contains("Registration is successful", StringComparison.Ordinal) && !m.Contains("for crashkernel", StringComparison.Ordinal)));
        string reason;
        if (!d.Supported)
        {
            reason = "the firmware does not offer FADump (no /rtas/ibm,configure-kernel-dump)";
        }
        else if (k.CommandLine.Fadump == Kernel.CommandLine.FadumpMode.Off)
        {
            reason = "FADump is off: the command line's last fadump= is fadump=off";
        }
        else if (k.CommandLine.Fadump == Kernel.CommandLine.FadumpMode.Default)
        {
            reason = "FADump is not enabled: the command line has no fadump=on";
        }
        else if (!d.Armed && d.ReservedBytes == 0)
        {
            reason = "FADump could not reserve its memory";
        }
        else if (!d.Armed)
        {
            reason = "FADump is not registered with the firmware";
        }
        else if (!lpar.Firmware.Options.ExtendedOsTerm)
        {
            reason = "ibm,os-term returned: the firmware has no ibm,extended-os-term, so it took no dump";
        }
        else
        {
            reason = "the firmware took no dump";
        }

        return said.Length > 0 ? reason + " (the kernel said: " + said + ")" : reason;
    }

    /// <summary>--vmcore-out: /proc/vmcore as-is, timed for real.</summary>
    internal static void CopyVmcoreIfAsked(ISysroot root, DemoResult result, VirtualClock clock)
    {
        if (result.Options.VmcoreOut is not { } path)
        {
            return;
        }

        var sw = Stopwatch.StartNew();
        CopyTo(root, path, result.Options);
        result.Files.Add(path);
        result.Timeline.Add(new TimelinePhase("copy /proc/vmcore to " + path, sw.Elapsed, true, "wall time"), clock.Now + sw.Elapsed);
        clock.Advance(sw.Elapsed);
    }

    /// <summary>
    /// The real dump service (`fadump collect`) on the running kernel's root with a kdump.conf of the demo's
    /// path and core_collector; its actions are printed, not executed. The save is timed for real.
    /// </summary>
    internal static Tools.Service.CollectResult SaveWithDumpService(ISysroot root, DemoResult result, VirtualClock clock)
    {
        var options = result.Options;
        string outDir = options.OutDir ?? throw new ArgumentException("DemoOptions.OutDir is required to save the dump");
        Directory.CreateDirectory(outDir);
        var config = Tools.Service.KdumpConfigParser.Parse($"path {outDir}\ncore_collector {options.CoreCollector}\n", "demo kdump.conf");
        var actions = new StringWriter();
        Tools.Service.CollectResult Collect(IProgress<StepProgress>? progress)
        {
            var service = new Tools.Service.CollectService(config, new Tools.Service.CollectOptions
            {
                Actions = new Tools.Service.PrintingActionRunner(actions),
                Log = TextWriter.Null,
                CancellationToken = options.CancellationToken,
                Writer = new Tools.Service.DumpSaverWriter { Progress = progress is null ? null : new SaveStepProgress(progress) },
            });
            return service.Run(root);
        }

        var before = clock.Now;
        var sw = Stopwatch.StartNew();
        var collected = options.Progress is { } p ? p.Measure("dump service: saving the vmcore", Collect) : Collect(null);
        var saveTime = sw.Elapsed;
        // The kernel's own modelled work during the service (release_mem's freeing) is on the clock already: the
        // save's phase ends at its start plus the save's wall time, and the release phases follow it.
        clock.Advance(saveTime);
        result.Collect = collected;
        result.ActionsLog = actions.ToString();
        if (collected.Vmcore is not null)
        {
            result.Files.Add(collected.Vmcore);
        }

        if (collected.Directory is not null && File.Exists(Path.Combine(collected.Directory, "vmcore-dmesg.txt")))
        {
            result.Files.Add(Path.Combine(collected.Directory, "vmcore-dmesg.txt"));
        }

        string what = collected.OpalCoreSaved ? "vmcore-dmesg.txt, the OPAL core and the vmcore" : "vmcore-dmesg.txt and the vmcore";
        result.Timeline.Add(new TimelinePhase("dump service: save " + what + " (" + options.CoreCollector + "), verify", saveTime, true, "wall time of the real save"), before + saveTime);
        return collected;
    }

    private static void CopyTo(ISysroot root, string path, DemoOptions options)
    {
        using var src = root.OpenRead("/proc/vmcore");
        long length = src.Length;
        string dir = Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/";
        long? free = FreeBytes(dir);
        if (free is { } f && f < length)
        {
            throw new IOException(FormattableString.Invariant($"--vmcore-out {path}: /proc/vmcore is {MemoryLayoutPicture.Human((ulong)length)} ({length} bytes) and {dir} has {MemoryLayoutPicture.Human((ulong)f)} free; nothing written"));
        }

        if (length >= options.LargeVmcoreBytes)
        {
            options.Warn?.Invoke(FormattableString.Invariant($"--vmcore-out writes /proc/vmcore as it is, unfiltered: {MemoryLayoutPicture.Human((ulong)length)} to {path}") +
                (free is { } ff ? FormattableString.Invariant($" ({MemoryLayoutPicture.Human((ulong)ff)} free there)") : string.Empty) +
                "; sim run --save-to DIR saves it filtered and compressed instead");
        }

        int Copy(IProgress<StepProgress>? progress)
        {
            using var dst = new Tools.Output.PrivateOutputFile(path);
            var buf = new byte[4 << 20];
            for (long off = 0; off < length;)
            {
                options.CancellationToken.ThrowIfCancellationRequested();
                int n = src.Read(off, buf);
                if (n <= 0)
                {
                    break;
                }

                RandomAccess.Write(dst.Handle, buf.AsSpan(0, n), off);
                off += n;
                progress?.Report(new StepProgress((double)off / length, FormattableString.Invariant($"{MemoryLayoutPicture.Human((ulong)off)} of {MemoryLayoutPicture.Human((ulong)length)}")));
            }

            dst.Commit();
            return 0;
        }

        _ = options.Progress is { } p ? p.Measure("copy /proc/vmcore to " + path, Copy) : Copy(null);
    }

    /// <summary>Free bytes for an unprivileged writer on the file system holding <paramref name="dir"/>; null when it cannot be told.</summary>
    private static long? FreeBytes(string dir)
    {
        try
        {
            return new DriveInfo(dir).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The saver's progress as a step's: scanning struct pages, then copying data.</summary>
    private sealed class SaveStepProgress(IProgress<StepProgress> step) : IProgress<Tools.Collector.SaveProgress>
    {
        public void Report(Tools.Collector.SaveProgress sp) => step.Report(new StepProgress(sp.Fraction, sp.Phase switch
        {
            Tools.Collector.SavePhase.Scanning => "scanning struct pages",
            Tools.Collector.SavePhase.Writing => FormattableString.Invariant($"copying data, {sp.ReadBytesPerSecond / (1 << 20):F0} MiB/s"),
            _ => "done",
        }));
    }

    public static string ToText(DemoResult r)
    {
        if (r.Kdump is not null)
        {
            return KdumpRunner.ToText(r);
        }

        if (r.Phyp is not null)
        {
            return PhypRunner.ToText(r);
        }

        if (r.Opal is not null)
        {
            return PowerNvRunner.ToText(r);
        }

        var sb = new StringBuilder();
        var spec = r.Options.Lpar;
        sb.Append(CultureInfo.InvariantCulture, $"Fadump demo: pseries LPAR, {MemoryLayoutPicture.Human(spec.MemoryBytes)} RAM, {spec.Cpus} CPUs, workload {spec.Workload}, \"{spec.CommandLine}\"\n\n");
        AppendTimeline(sb, r);

        AppendMessagesAndError(sb, r, "FADump");
        if (r.VmcoreError is null && r.Collect is not null)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\nBack in production with all memory {Timeline.Seconds(r.BackInProduction)} after the crash");
            sb.Append(CultureInfo.InvariantCulture, $" (kdump would need a second reboot: about {Timeline.Seconds(r.KdumpEquivalent)}).\n");
            if (r.Collect.Write is { } w)
            {
                sb.Append(CultureInfo.InvariantCulture, $"The dump service saved {w.DumpedPages} of {w.TotalPages} pages ({MemoryLayoutPicture.Human((ulong)w.BytesWritten)}) at dump level {w.DumpLevelUsed}.\n");
                sb.Append(r.ActionsLog.Length > 0 ? r.ActionsLog : "No reboot: FADump released the memory to the running kernel.\n");
            }
        }

        sb.Append("\n/sys/kernel/debug/powerpc/fadump_region in the first kernel:\n").Append(r.RegionBefore.Length > 0 ? Indent(r.RegionBefore) : "  (empty: FADump is not registered)\n");
        if (r.LayoutCapture.Count > 0)
        {
            sb.Append("\n/sys/kernel/debug/powerpc/fadump_region in the capture kernel:\n").Append(Indent(r.RegionAfter));
        }

        AppendFiguresAndFiles(sb, r);
        return sb.ToString();
    }

    internal static void AppendTimeline(StringBuilder sb, DemoResult r)
    {
        sb.Append("Timeline (simulated clock; each phase modelled from the cost model or measured for real)\n");
        foreach (var (p, at) in r.Timeline.Phases)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  {Timeline.Seconds(at),10}  {Timeline.Seconds(p.Duration),10}  {p.Kind,-8}  {p.Name}\n");
        }
    }

    /// <summary>The first kernel's messages about its dump mechanism, then why there is no dump, if there is none.</summary>
    internal static void AppendMessagesAndError(StringBuilder sb, DemoResult r, string mechanism)
    {
        if (r.KernelMessages.Count > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\nThe first kernel's {mechanism} messages:\n");
            foreach (var m in r.KernelMessages)
            {
                sb.Append("  ").Append(m).Append('\n');
            }
        }

        if (r.VmcoreError is not null)
        {
            sb.Append("\nNo dump: ").Append(r.VmcoreError).Append('\n');
        }
    }

    /// <summary>Fig. 1, Fig. 2 when there is a capture-side view, then the files: how every platform's report ends.</summary>
    internal static void AppendFiguresAndFiles(StringBuilder sb, DemoResult r)
    {
        sb.Append('\n').Append(MemoryLayoutPicture.ToText(r.Fig1Title, r.LayoutFirst));
        if (r.LayoutCapture.Count > 0)
        {
            sb.Append('\n').Append(MemoryLayoutPicture.ToText(r.Fig2Title, r.LayoutCapture));
        }

        AppendFiles(sb, r);
    }

    internal static void AppendFiles(StringBuilder sb, DemoResult r)
    {
        if (r.Files.Count > 0)
        {
            sb.Append("\nFiles:\n");
            foreach (var f in r.Files)
            {
                sb.Append("  ").Append(f).Append('\n');
            }
        }
    }

    internal static string Indent(string s) => string.Concat(s.TrimEnd('\n').Split('\n').Select(l => "  " + l + "\n"));

    /// <summary>The machine fields every platform's JSON starts with.</summary>
    internal static void WriteMachine(Utf8JsonWriter w, DemoResult r, string platform, ulong memory, int cpus, string cmdline, string workload)
    {
        w.WriteString("platform", platform);
        w.WriteNumber("memory_bytes", memory);
        w.WriteNumber("cpus", cpus);
        w.WriteString("cmdline", cmdline);
        w.WriteString("workload", workload);
        w.WriteString("crash", r.Options.Crash == CrashKind.FirmwareTerminate ? "fw-terminate" : r.Options.Crash.ToString().ToLowerInvariant());
    }

    /// <summary>"dumped", "vmcore_error" and "kernel_messages": the outcome fields every platform's JSON has.</summary>
    internal static void WriteOutcome(Utf8JsonWriter w, DemoResult r)
    {
        w.WriteBoolean("dumped", r.Dumped);
        if (r.VmcoreError is not null)
        {
            w.WriteString("vmcore_error", r.VmcoreError);
        }

        w.WriteStartArray("kernel_messages");
        foreach (var m in r.KernelMessages)
        {
            w.WriteStringValue(m);
        }

        w.WriteEndArray();
    }

    public static string ToJson(DemoResult r)
    {
        if (r.Kdump is not null)
        {
            return KdumpRunner.ToJson(r);
        }

        if (r.Phyp is not null)
        {
            return PhypRunner.ToJson(r);
        }

        if (r.Opal is not null)
        {
            return PowerNvRunner.ToJson(r);
        }

        return Json(w =>
        {
            var spec = r.Options.Lpar;
            WriteMachine(w, r, "pseries", spec.MemoryBytes, spec.Cpus, spec.CommandLine, spec.Workload);
            WriteOutcome(w, r);
            WriteTimeline(w, r);
            w.WriteNumber("back_in_production_seconds", r.BackInProduction.TotalSeconds);
            w.WriteNumber("kdump_equivalent_seconds", r.KdumpEquivalent.TotalSeconds);
            w.WriteNumber("released_bytes", r.ReleasedBytes);
            w.WriteBoolean("reregistered", r.Reregistered);
            w.WriteString("fadump_region_before", r.RegionBefore);
            w.WriteString("fadump_region_after", r.RegionAfter);
            WriteBands(w, "layout_first_kernel", r.LayoutFirst);
            WriteBands(w, "layout_capture_kernel", r.LayoutCapture);
            WriteFiles(w, r);
        });
    }

    /// <summary>A run's JSON: one indented object with what <paramref name="write"/> puts in it, and a newline.</summary>
    internal static string Json(Action<Utf8JsonWriter> write)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            write(w);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    internal static void WriteTimeline(Utf8JsonWriter w, DemoResult r)
    {
        w.WriteStartArray("timeline");
        foreach (var (p, at) in r.Timeline.Phases)
        {
            w.WriteStartObject();
            w.WriteString("phase", p.Name);
            w.WriteNumber("seconds", p.Duration.TotalSeconds);
            w.WriteNumber("at_seconds", at.TotalSeconds);
            w.WriteString("kind", p.Kind);
            w.WriteString("basis", p.Detail);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    internal static void WriteFiles(Utf8JsonWriter w, DemoResult r)
    {
        w.WriteStartArray("files");
        foreach (var f in r.Files)
        {
            w.WriteStringValue(f);
        }

        w.WriteEndArray();
    }

    internal static void WriteBands(Utf8JsonWriter w, string name, List<LayoutBand> bands)
    {
        w.WriteStartArray(name);
        foreach (var b in bands)
        {
            w.WriteStartObject();
            w.WriteNumber("start", b.Start);
            w.WriteNumber("end", b.End);
            w.WriteString("label", b.Label);
            w.WriteString("kind", b.Kind);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    public static void WriteSvgs(DemoResult r, string dir)
    {
        Directory.CreateDirectory(dir);
        WritePicture(r, dir, "fig1-first-kernel.svg", MemoryLayoutPicture.ToSvg(r.Fig1Title, r.LayoutFirst));
        if (r.LayoutCapture.Count > 0)
        {
            WritePicture(r, dir, "fig2-capture-kernel.svg", MemoryLayoutPicture.ToSvg(r.Fig2Title, r.LayoutCapture));
        }

        if (r.Phyp is { Releases.Count: > 0 } phyp)
        {
            WritePicture(r, dir, "memory-back.svg", MemoryBackPicture.ToSvg(phyp));
        }

        if (r.Timeline.Phases.Count > 0)
        {
            WritePicture(r, dir, "timeline.svg", TimelinePicture.ToSvg(r));
        }
    }

    /// <summary>A picture under a temporary name, renamed when whole: a full disk leaves no empty or cut-off SVG behind.</summary>
    private static void WritePicture(DemoResult r, string dir, string name, string svg)
    {
        string path = Path.Combine(dir, name), tmp = path + ".tmp";
        try
        {
            File.WriteAllText(tmp, svg);
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }

        r.Files.Add(path);
    }
}
