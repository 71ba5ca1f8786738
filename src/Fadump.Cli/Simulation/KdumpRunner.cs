using System.Globalization;
using System.Text;
using System.Text.Json;
using Fadump.Kernel;
using Fadump.Kernel.Platforms;
using Fadump.Machine;

namespace Fadump.Cli.Simulation;

/// <summary>The kexec side of an x86_64 run: how `kexec -p` went, what purgatory did, the second reboot.</summary>
public sealed class KdumpRunDetails
{
    public required KexecLoadMode LoadMode { get; init; }

    /// <summary>The crashkernel= region of the first kernel (null: nothing was reserved).</summary>
    public MemoryRange? CrashKernel { get; init; }

    public bool Loaded { get; set; }

    /// <summary>kexec-tools' (or kexec_file_load's) error output when `kexec -p` failed.</summary>
    public string? LoadError { get; set; }

    /// <summary>The capture kernel's command line as it booted (read back from boot_params).</summary>
    public string? CaptureCommandLine { get; set; }

    /// <summary>What purgatory printed, when it ran.</summary>
    public string? PurgatoryMessage { get; set; }

    public bool BackupCopied { get; set; }

    /// <summary>The second reboot ran (the capture kernel's final action, or kdump.sh's reboot).</summary>
    public bool SecondReboot { get; set; }

    /// <summary>`kexec -p` succeeded again in the first kernel after the second reboot: kdump is armed again.</summary>
    public bool Rearmed { get; set; }
}

/// <summary>
/// kdump on the simulated x86_64 PC (spec/kdump-x86_64.md): boot with crashkernel=, `kexec -p` (kexec_load
/// through kexec-tools, or kexec_file_load), the crash through __crash_kexec, the NMI shootdown and
/// purgatory into the capture kernel inside the reservation, the dump service on its /proc/vmcore, and
/// the second reboot through the firmware that kdump always pays before production resumes.
/// </summary>
public static class KdumpRunner
{
    public static DemoResult Run(DemoOptions options)
    {
        var spec = options.Pc ?? throw new ArgumentException("DemoOptions.Pc is required for an x86_64 run", nameof(options));
        var result = new DemoResult
        {
            Options = options,
            Fig1Title = "Fig. 1: the crashkernel= reservation in the first kernel",
            Fig2Title = "Fig. 2: the capture kernel's view after the crash",
        };
        var pc = new X86_64Pc(spec);
        var clock = pc.Machine.Clock;
        var cost = pc.Machine.Cost;
        ulong top = pc.Machine.Memory.Top;

        var k1 = pc.Boot();
        var details = new KdumpRunDetails { LoadMode = spec.KexecLoad, CrashKernel = k1.CrashKernelReservation };
        result.Kdump = details;
        string bootBasis = FormattableString.Invariant($"KernelBootSeconds {cost.KernelBootSeconds} + {cost.KernelBootSecondsPerGiB} s/GiB × {MemoryLayoutPicture.Human(k1.SystemRam)}");
        result.Timeline.Add(new TimelinePhase(k1.CrashKernelReservation is { } ck
            ? FormattableString.Invariant($"boot first kernel, reserve crashkernel= ({MemoryLayoutPicture.Human(ck.Size)} at 0x{ck.Start:x})")
            : "boot first kernel (no crashkernel= reservation)", clock.Now, false, bootBasis), clock.Now);
        result.KernelMessages.AddRange(CrashKernelMessages(k1));

        // kdump.service at boot: kexec -p. Loading is not part of the downtime (it happens long before the crash).
        var loadStart = clock.Now;
        details.Loaded = pc.LoadCaptureKernel(spec.KexecLoad);
        details.LoadError = pc.LoadError?.TrimEnd('\n');
        string syscall = spec.KexecLoad == KexecLoadMode.File ? "kexec_file_load" : "kexec_load";
        result.Timeline.Add(new TimelinePhase(details.Loaded
            ? spec.KexecLoad == KexecLoadMode.File
                ? "kexec -p (kexec_file_load): the kernel places the segments and builds the elfcorehdr"
                : FormattableString.Invariant($"kexec -p (kexec_load): kexec-tools plans {pc.Plan!.Segments.Count} segments and builds the elfcorehdr")
            : $"kexec -p ({syscall}) failed: " + FirstLine(details.LoadError), clock.Now - loadStart, false, "before the crash, not downtime; the cost model gives it no time"), clock.Now);
        result.LayoutFirst = MemoryLayoutPicture.FirstKernel(k1, top);

        var crashAt = clock.Now;
        string crashName = options.Crash.ToString().ToLowerInvariant();
        bool captured = pc.Crash(options.Crash);
        result.Dumped = captured;
        details.PurgatoryMessage = pc.Purgatory?.Message;
        details.BackupCopied = pc.Purgatory?.BackupCopied ?? false;
        if (!details.Loaded)
        {
            result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"crash ({crashName}); no dump: no crash kernel is loaded (kexec_crash_loaded 0), the machine stays down until it is rebooted"), clock.Now - crashAt, false, "no dump"), clock.Now);
            result.VmcoreError = $"kexec -p failed, so the crash produced no dump (kexec-tools said: {OneLine(details.LoadError)})";
            return result;
        }

        var nmi = TimeSpan.FromSeconds(cost.NmiShootdownSeconds);
        var jump = TimeSpan.FromSeconds(cost.KexecJumpSeconds);
        string path = options.Crash == CrashKind.Oops ? "die() → crash_kexec()" : "panic() → __crash_kexec()";
        result.Timeline.Add(new TimelinePhase($"crash ({crashName}): {path}, CRASHTIME in VMCOREINFO", TimeSpan.Zero, false, "printk only"), crashAt);
        result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"NMI shootdown: {spec.Cpus - 1} other CPUs save their crash notes and halt"), nmi, false, FormattableString.Invariant($"NmiShootdownSeconds {cost.NmiShootdownSeconds}")), crashAt + nmi);
        if (!captured)
        {
            result.Timeline.Add(new TimelinePhase("machine_kexec → purgatory, which loops forever: no capture kernel, the machine stays down until it is rebooted", jump, false, FormattableString.Invariant($"KexecJumpSeconds {cost.KexecJumpSeconds}")), crashAt + nmi + jump);
            result.VmcoreError = "purgatory did not start the capture kernel: " + OneLine(details.PurgatoryMessage);
            return result;
        }

        result.Timeline.Add(new TimelinePhase(details.BackupCopied
            ? "machine_kexec → purgatory: SHA-256 of the segments verified, first 640 KiB copied to the backup segment"
            : "machine_kexec → purgatory: SHA-256 of the segments verified", jump, false, FormattableString.Invariant($"KexecJumpSeconds {cost.KexecJumpSeconds}")), crashAt + nmi + jump);
        var k2 = pc.Kernel!;
        details.CaptureCommandLine = k2.CommandLine.Text;
        result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"capture kernel boots in {MemoryLayoutPicture.Human(k2.SystemRam)} inside the reservation"), clock.Now - (crashAt + nmi + jump), false,
            FormattableString.Invariant($"KernelBootSeconds {cost.KernelBootSeconds} + {cost.KernelBootSecondsPerGiB} s/GiB × {MemoryLayoutPicture.Human(k2.SystemRam)}")), clock.Now);
        result.CaptureLog.AddRange(k2.Mechanism.Status.CaptureLog);
        result.LayoutCapture = MemoryLayoutPicture.CaptureKernel(k2, top, pc.Machine.Memory.Ram, CaptureExtras(pc));

        var root = new SimulatedSysroot(pc);
        if (!root.Exists("/proc/vmcore"))
        {
            result.VmcoreError = result.CaptureLog.Count > 0 ? string.Join("; ", result.CaptureLog) : "no /proc/vmcore in the capture kernel";
            return result;
        }

        DemoRunner.CopyVmcoreIfAsked(root, result, clock);
        if (options.Save)
        {
            // The dump service sees kdump (/proc/vmcore, no release_mem): it saves, verifies and asks for its final action, reboot.
            var collected = DemoRunner.SaveWithDumpService(root, result, clock);
            if (collected.ExitCode != 0)
            {
                result.VmcoreError = "the dump service failed: " + string.Join("; ", collected.Errors);
            }
        }

        // The second reboot (the final action): the firmware resets the machine and the first kernel boots with all of RAM.
        var rebootAt = clock.Now;
        var k3 = pc.Reboot();
        details.SecondReboot = true;
        result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"second reboot: firmware reset and POST, the first kernel boots again with all {MemoryLayoutPicture.Human(spec.MemoryBytes)}"), clock.Now - rebootAt, false,
            FormattableString.Invariant($"ResetAndIplSeconds {cost.ResetAndIplSeconds} + KernelBootSeconds {cost.KernelBootSeconds} + {cost.KernelBootSecondsPerGiB} s/GiB × {MemoryLayoutPicture.Human(k3.SystemRam)}")), clock.Now);
        result.BackInProduction = clock.Now - crashAt;
        result.KdumpEquivalent = result.BackInProduction;
        details.Rearmed = pc.LoadCaptureKernel(spec.KexecLoad);
        result.Timeline.Add(new TimelinePhase(details.Rearmed ? "kexec -p again: kdump re-armed" : "kexec -p again failed: kdump is not armed", TimeSpan.Zero, false, "not modelled"), clock.Now);
        return result;
    }

    /// <summary>What the capture kernel does not run in but was loaded with: the elfcorehdr, and the legacy backup of the low 640 KiB.</summary>
    private static IEnumerable<LayoutBand> CaptureExtras(X86_64Pc pc)
    {
        if (pc.Plan is { } plan)
        {
            // kexec-tools takes both out of the capture kernel's memmap=exactmap (delete_memmap).
            foreach (var seg in plan.Segments)
            {
                var r = seg.Segment.Destination;
                if (seg.Name == "elfcorehdr")
                {
                    yield return new LayoutBand(r.Start, r.End, "elfcorehdr", "meta");
                }
                else if (seg.Name == "backup")
                {
                    yield return new LayoutBand(r.Start, r.End, "backup of the low 640 KiB", "dump") { CopyOf = new LayoutCopy(0, r.End - r.Start, "purgatory copied the low memory here at the crash", Done: true) };
                }
            }
        }
        else if (pc.Boots[0].Mechanism is Kernel.Kexec.KdumpMechanism { Core.CrashImage: { FileMode: true, ElfCoreHeaderSize: > 0 } image })
        {
            yield return new LayoutBand(image.ElfCoreHeaderAddress, image.ElfCoreHeaderAddress + Align4K(image.ElfCoreHeaderSize), "elfcorehdr", "meta");
        }
    }

    private static ulong Align4K(ulong n) => (n + 4095) & ~4095UL;

    /// <summary>The first kernel's crashkernel= messages (reserve_crashkernel), without their timestamps.</summary>
    private static IEnumerable<string> CrashKernelMessages(LinuxKernel k) => k.Log.Lines
        .Select(l => l.IndexOf("] ", StringComparison.Ordinal) is int i and >= 0 ? l[(i + 2)..] : l)
        .Where(l => l.StartsWith("crashkernel", StringComparison.Ordinal) || (l.StartsWith("Reserving ", StringComparison.Ordinal) && l.Contains("crashkernel", StringComparison.Ordinal)));

    private static string FirstLine(string? s) => s is null ? "(no message)" : s.Split('\n')[0];

    private static string OneLine(string? s) => s is null ? "(no message)" : string.Join("; ", s.Split('\n', StringSplitOptions.RemoveEmptyEntries));

    public static string ToText(DemoResult r)
    {
        var spec = r.Options.Pc!;
        var d = r.Kdump!;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Fadump demo: x86_64 PC with kdump, {MemoryLayoutPicture.Human(spec.MemoryBytes)} RAM, {spec.Cpus} CPUs, workload {spec.Workload}, \"{spec.CommandLine}\", kexec -p by {(d.LoadMode == KexecLoadMode.File ? "kexec_file_load" : "kexec_load")}\n\n");
        DemoRunner.AppendTimeline(sb, r);
        if (r.KernelMessages.Count > 0)
        {
            sb.Append("\nThe first kernel's crashkernel= messages:\n");
            foreach (var m in r.KernelMessages)
            {
                sb.Append("  ").Append(m).Append('\n');
            }
        }

        if (d.LoadError is not null)
        {
            sb.Append("\nkexec -p said:\n").Append(DemoRunner.Indent(d.LoadError));
        }

        if (d.CaptureCommandLine is not null)
        {
            sb.Append("\nThe capture kernel's command line:\n  ").Append(d.CaptureCommandLine).Append('\n');
        }

        if (r.VmcoreError is not null)
        {
            sb.Append("\nNo dump: ").Append(r.VmcoreError).Append('\n');
        }

        if (d.SecondReboot)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\nBack in production with all memory {Timeline.Seconds(r.BackInProduction)} after the crash, the second reboot included.\n");
            if (r.Collect?.Write is { } w)
            {
                sb.Append(CultureInfo.InvariantCulture, $"The dump service saved {w.DumpedPages} of {w.TotalPages} pages ({MemoryLayoutPicture.Human((ulong)w.BytesWritten)}) at dump level {w.DumpLevelUsed}.\n");
            }

            sb.Append(r.ActionsLog.Length > 0
                ? r.ActionsLog + "The simulated machine performs it: the second reboot above.\n"
                : "The capture kernel cannot give the crashed kernel's memory back: it reboots (the second reboot above).\n");
        }

        DemoRunner.AppendFiguresAndFiles(sb, r);
        return sb.ToString();
    }

    public static string ToJson(DemoResult r)
    {
        var spec = r.Options.Pc!;
        var d = r.Kdump!;
        return DemoRunner.Json(w =>
        {
            DemoRunner.WriteMachine(w, r, "x86_64", spec.MemoryBytes, spec.Cpus, spec.CommandLine, spec.Workload);
            w.WriteString("kexec_load", d.LoadMode == KexecLoadMode.File ? "file" : "legacy");
            w.WriteBoolean("kexec_loaded", d.Loaded);
            if (d.LoadError is not null)
            {
                w.WriteString("kexec_error", d.LoadError);
            }

            if (d.CrashKernel is { } ck)
            {
                w.WriteStartObject("crashkernel");
                w.WriteNumber("start", ck.Start);
                w.WriteNumber("end", ck.End);
                w.WriteEndObject();
            }

            DemoRunner.WriteOutcome(w, r);
            if (d.CaptureCommandLine is not null)
            {
                w.WriteString("capture_cmdline", d.CaptureCommandLine);
            }

            if (d.PurgatoryMessage is not null)
            {
                w.WriteString("purgatory", d.PurgatoryMessage);
            }

            w.WriteBoolean("backup_copied", d.BackupCopied);
            DemoRunner.WriteTimeline(w, r);
            w.WriteBoolean("second_reboot", d.SecondReboot);
            if (d.SecondReboot)
            {
                w.WriteNumber("back_in_production_seconds", r.BackInProduction.TotalSeconds);
            }

            w.WriteBoolean("rearmed", d.Rearmed);
            w.WriteString("actions", r.ActionsLog);
            DemoRunner.WriteBands(w, "layout_first_kernel", r.LayoutFirst);
            DemoRunner.WriteBands(w, "layout_capture_kernel", r.LayoutCapture);
            DemoRunner.WriteFiles(w, r);
        });
    }
}
