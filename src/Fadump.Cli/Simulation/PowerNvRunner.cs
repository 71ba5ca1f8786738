using System.Globalization;
using System.Text;
using System.Text.Json;
using Fadump.Firmware.Opal;
using Fadump.Kernel;
using Fadump.Kernel.Fadump;
using Fadump.Kernel.Platforms.PowerNv;
using Fadump.Kernel.Structures;

namespace Fadump.Cli.Simulation;

/// <summary>The MPIPL side of a PowerNV run: what the firmware preserved, what petitboot kept, the OPAL core.</summary>
public sealed class OpalRunDetails
{
    public PetitbootMode Petitboot { get; init; }

    /// <summary>Bytes hostboot copied at the MPIPL (the kernel's boot memory and OPAL's own memory).</summary>
    public ulong CopiedBytes { get; set; }

    /// <summary>MDRT entries after the MPIPL (ranges preserved).</summary>
    public int MdrtCount { get; set; }

    /// <summary>Threads whose registers hostboot saved (HDAT), inactive ones included.</summary>
    public int SavedThreads { get; set; }

    /// <summary>What the preserving petitboot kept reserved above boot_mem_top.</summary>
    public ulong PreservedBytes { get; set; }

    /// <summary>Without CONFIG_PRESERVE_FA_DUMP: the crashed kernel's memory above boot_mem_top petitboot wrote over.</summary>
    public List<(ulong Start, ulong End)> Overwritten { get; } = [];

    public ulong OverwrittenBytes => Overwritten.Aggregate(0UL, (s, r) => s + (r.End - r.Start));

    public long OpalCoreBytes { get; set; }

    public int OpalCoreThreads { get; set; }

    public uint CrashingPir { get; set; }

    /// <summary>The DUMP: and MPIPL lines of skiboot's console, every boot of the run.</summary>
    public List<string> SkibootLog { get; } = [];
}

/// <summary>
/// FADump through OPAL MPIPL on a simulated bare-metal POWER9 (spec/phyp-dump-and-opal.md part B): IPL, petitboot
/// and the kexec'd production kernel that registers; the crash through opal_cec_reboot2(MPIPL); hostboot's copies
/// and register save; the memory-preserving IPL; petitboot preserving the crash data; the production kernel
/// processing it into /proc/vmcore and the OPAL core; the real dump service; release and re-registration.
/// </summary>
public static class PowerNvRunner
{
    public static DemoResult Run(DemoOptions options)
    {
        var spec = options.PowerNv ?? throw new ArgumentException("DemoOptions.PowerNv is required for a powernv run", nameof(options));
        var result = new DemoResult
        {
            Options = options,
            Fig1Title = "Fig. 1: boot memory, the FADump reservation and OPAL's regions in the production kernel",
            Fig2Title = "Fig. 2: the production kernel after the MPIPL (kexec'd by petitboot) runs in boot memory",
        };
        var details = new OpalRunDetails { Petitboot = spec.Petitboot };
        result.Opal = details;
        var sys = new PowerNvSystem(spec);
        var clock = sys.Machine.Clock;
        var cost = sys.Machine.Cost;
        ulong top = sys.Machine.Memory.Top;

        var k1 = sys.Boot();
        var f1 = k1.Mechanism.Status;
        result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"IPL: skiboot boots petitboot ({PowerNvSystem.PetitbootRelease}, {Describe(spec.Petitboot)})"), sys.PetitbootDoneAt, false,
            FormattableString.Invariant($"KernelBootSeconds {cost.KernelBootSeconds} + {cost.KernelBootSecondsPerGiB} s/GiB")), sys.PetitbootDoneAt);
        result.Timeline.Add(new TimelinePhase(f1.Armed
            ? FormattableString.Invariant($"kexec: the production kernel ({PowerNvSystem.Release}) boots, reserves {MemoryLayoutPicture.Human(f1.ReservedBytes)}, registers TAG_KERNEL, TAG_BOOT_MEM and its boot memory ranges")
            : "kexec: the production kernel boots (FADump not registered)", clock.Now - sys.PetitbootDoneAt, false, "KexecJumpSeconds + KernelBootSeconds + s/GiB"), clock.Now);
        result.RegionBefore = Region(k1);
        var opalBands = OpalBands(sys);
        result.LayoutFirst = MemoryLayoutPicture.Paint(MemoryLayoutPicture.FirstKernel(k1, top), opalBands);
        result.KernelMessages.AddRange(k1.Mechanism.Messages);

        int logFrom = sys.Firmware.Log.Count;
        try
        {
            return CrashAndCapture(options, result, details, sys, k1, f1, opalBands);
        }
        finally
        {
            // skiboot's console from the crash to the end: the MPIPL, and the re-registration after the release.
            details.SkibootLog.AddRange(sys.Firmware.Log.Skip(logFrom).Select(KernelLogLines.WithoutTimestamp).Where(l => l.Contains("DUMP:", StringComparison.Ordinal) || l.Contains("MPIPL", StringComparison.Ordinal) || l.Contains("SBE", StringComparison.Ordinal)));
        }
    }

    private static DemoResult CrashAndCapture(DemoOptions options, DemoResult result, OpalRunDetails details, PowerNvSystem sys, LinuxKernel k1, CrashDumpStatus f1, List<LayoutBand> opalBands)
    {
        var clock = sys.Machine.Clock;
        var cost = sys.Machine.Cost;
        ulong top = sys.Machine.Memory.Top;
        var crashAt = clock.Now;
        string crashName = options.Crash == CrashKind.FirmwareTerminate ? "fw-terminate" : options.Crash.ToString().ToLowerInvariant();
        result.Dumped = sys.Crash(options.Crash);
        var k2 = sys.Kernel;
        if (k2 is null || ReferenceEquals(k1, k2))
        {
            result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"crash ({crashName}); no MPIPL: the machine stays down until it is rebooted"), TimeSpan.Zero, false, "no dump"), clock.Now);
            result.VmcoreError = "no dump: " + (k1.Mechanism.Messages.LastOrDefault(m => m.Contains("MPIPL", StringComparison.Ordinal) || m.Contains("not supported", StringComparison.Ordinal))
                ?? (f1.Armed ? "the firmware did not start an MPIPL" : "FADump was not registered with OPAL"));
            return result;
        }

        details.CopiedBytes = sys.Firmware.LastCopiedBytes;
        details.MdrtCount = sys.Firmware.MdrtCount;
        details.SavedThreads = sys.Firmware.LastSavedThreads;
        var copy = cost.FirmwareCopy(details.CopiedBytes);
        result.Timeline.Add(new TimelinePhase(options.Crash == CrashKind.FirmwareTerminate
            ? "crash (fw-terminate): the BMC asks the SBE for an MPIPL; no OS involvement, no crashing PIR"
            : FormattableString.Invariant($"crash ({crashName}): the kernel saves its registers and the crashing PIR, opal_cec_reboot2(MPIPL); the SBE stops every thread"), TimeSpan.Zero, false, "no cost modelled"), crashAt);
        if (sys.Firmware.MpiplBoot)
        {
            result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"MPIPL: hostboot copies {MemoryLayoutPicture.Human(details.CopiedBytes)} (boot memory and OPAL's own), saves {details.SavedThreads} threads' registers, fills the MDRT ({details.MdrtCount} entries)"), copy, false,
                FormattableString.Invariant($"FirmwareCopyGBps {cost.FirmwareCopyGBps}")), crashAt + copy);
            result.Timeline.Add(new TimelinePhase("IPL with memory preserved: skiboot finds the dump, restores the tags, adds mpipl-boot", TimeSpan.FromSeconds(cost.ResetAndIplSeconds), false, "ResetAndIplSeconds"), crashAt + copy + TimeSpan.FromSeconds(cost.ResetAndIplSeconds));
        }
        else
        {
            result.Timeline.Add(new TimelinePhase("no memory-preserving IPL: skiboot fell back to a normal reboot", sys.PetitbootDoneAt - crashAt, false, "SBE timeout 90 s + ResetAndIplSeconds"), sys.PetitbootDoneAt);
        }

        var iplDone = crashAt + (sys.Firmware.MpiplBoot ? copy + TimeSpan.FromSeconds(cost.ResetAndIplSeconds) : TimeSpan.Zero);
        if (sys.PreservingPetitboot is { DumpActive: true } pp)
        {
            details.PreservedBytes = pp.Preserved.Aggregate(0UL, (s, r) => s + r.Size);
            result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"petitboot (CONFIG_PRESERVE_FA_DUMP) boots in the low {MemoryLayoutPicture.Human(pp.BootMemTop)}, keeps {MemoryLayoutPicture.Human(details.PreservedBytes)} above it reserved"), sys.PetitbootDoneAt - iplDone, false, "KernelBootSeconds + s/GiB of boot memory"), sys.PetitbootDoneAt);
        }
        else if (sys.Firmware.MpiplBoot)
        {
            foreach (var r in Overwritten(sys))
            {
                details.Overwritten.Add(r);
            }

            result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"petitboot (no CONFIG_PRESERVE_FA_DUMP) boots in all memory and writes over {MemoryLayoutPicture.Human(details.OverwrittenBytes)} of the crashed kernel's"), sys.PetitbootDoneAt - iplDone, false, "KernelBootSeconds + s/GiB"), sys.PetitbootDoneAt);
        }

        var after = k2.Mechanism.Status;
        result.CaptureLog.AddRange(after.CaptureLog);
        result.RegionAfter = Region(k2);
        result.LayoutCapture = MemoryLayoutPicture.Paint(MemoryLayoutPicture.CaptureKernel(k2, top), opalBands);
        if (sys.OpalCore is { } oc)
        {
            details.OpalCoreBytes = oc.Size;
            details.OpalCoreThreads = oc.Threads;
            details.CrashingPir = oc.CrashingPir;
        }

        result.Timeline.Add(new TimelinePhase(after.DumpActive
            ? FormattableString.Invariant($"kexec: the production kernel boots in boot memory, processes the dump: /proc/vmcore{(sys.OpalCore is not null ? " and the OPAL core" : string.Empty)}")
            : "kexec: the production kernel boots (no dump is active)", clock.Now - sys.PetitbootDoneAt, false, "KexecJumpSeconds + KernelBootSeconds + s/GiB of boot memory"), clock.Now);
        if (!after.DumpActive)
        {
            result.VmcoreError = after.CaptureLog.Count > 0 ? string.Join("; ", after.CaptureLog)
                : sys.Firmware.MpiplBoot ? "the production kernel found no dump of its own to process (" + string.Join("; ", k2.Mechanism.Messages.Where(m => m.StartsWith("opal fadump:", StringComparison.Ordinal))) + ")"
                : "no memory-preserving IPL took place: nothing was preserved";
            return result;
        }

        var root = new SimulatedSysroot(() => sys.Kernel, "simulated PowerNV system");
        DemoRunner.CopyVmcoreIfAsked(root, result, clock);
        if (options.Save)
        {
            var collected = DemoRunner.SaveWithDumpService(root, result, clock);
            result.ReleasedBytes = k2.Mechanism.Status.ReleasedBytes;
            var release = cost.Release(result.ReleasedBytes); // on the clock already: the kernel's release_mem modelled it
            result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"release_core, release_mem: {MemoryLayoutPicture.Human(result.ReleasedBytes)} back to production"), release, false, "ReleaseGiBps"), clock.Now);
            result.Reregistered = collected.Reregistered;
            result.Timeline.Add(new TimelinePhase("re-register FADump: metadata, tags, ranges again (no second IPL)", TimeSpan.Zero, false, "OPAL calls"), clock.Now);
            string opalcore = collected.Directory is null ? string.Empty : Path.Combine(collected.Directory, "opalcore");
            if (opalcore.Length > 0 && File.Exists(opalcore))
            {
                result.Files.Add(opalcore);
            }

            if (collected.ExitCode != 0)
            {
                result.VmcoreError = "the dump service failed: " + string.Join("; ", collected.Errors);
            }
        }

        result.BackInProduction = clock.Now - crashAt;
        result.KdumpEquivalent = result.BackInProduction + TimeSpan.FromSeconds(cost.RebootSeconds);
        return result;
    }

    private static string Describe(PetitbootMode m) => m == PetitbootMode.Preserving ? "CONFIG_PRESERVE_FA_DUMP" : "no CONFIG_PRESERVE_FA_DUMP";

    private static string Region(LinuxKernel k) =>
        k.Files.Exists("/sys/kernel/debug/powerpc/fadump_region") ? k.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region") : string.Empty;


    /// <summary>skiboot's regions from the device tree (reserved-names with reserved-ranges) and the petitboot load area.</summary>
    private static List<LayoutBand> OpalBands(PowerNvSystem sys)
    {
        var fw = sys.Firmware;
        var bands = new List<LayoutBand>();
        foreach (var r in fw.FwLoadArea)
        {
            bands.Add(new LayoutBand(r.Start, r.End, "fw-load-area (in boot memory): petitboot loaded here at each IPL", "fw"));
        }

        bands.Add(new LayoutBand(OpalFirmware.SkibootBase, OpalFirmware.SkibootBase + fw.OpalDumpSize, "skiboot (ibm,firmware-code): tables, console, stacks", "fw"));
        if (fw.Options.MpiplSupported)
        {
            bands.Add(new LayoutBand(fw.OpalDumpAddress, fw.OpalDumpAddress + fw.OpalDumpSize, "ibm,firmware-dump: OPAL's copy of itself", "fw"));
            bands.Add(new LayoutBand(fw.ArchRegsAddress, fw.ArchRegsAddress + fw.ArchRegsSize, "ibm,firmware-arch-registers", "fw"));
        }

        return bands;
    }

    /// <summary>What a non-preserving petitboot wrote above the crashed kernel's boot memory: its boot allocations and working set.</summary>
    private static IEnumerable<(ulong Start, ulong End)> Overwritten(PowerNvSystem sys)
    {
        if (sys.Machine.Memory.Content is not Machine.LayeredContent lc)
        {
            yield break;
        }

        ulong bootTop = ((FadumpCore)sys.Kernel!.Mechanism).Dump.BootMemTop;
        foreach (var r in lc.UpperRanges)
        {
            if (r.End > bootTop)
            {
                yield return (Math.Max(r.Start, bootTop), r.End);
            }
        }
    }

    public static string ToText(DemoResult r)
    {
        var d = r.Opal!;
        var spec = r.Options.PowerNv!;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Fadump demo: PowerNV (bare-metal POWER9, OPAL MPIPL, {PowerNvSystem.Release}), {MemoryLayoutPicture.Human(spec.MemoryBytes)} RAM, {spec.Cpus} CPUs on {spec.Firmware.Chips} chips, workload {spec.Workload}, \"{spec.CommandLine}\", petitboot {Describe(spec.Petitboot)}\n\n");
        DemoRunner.AppendTimeline(sb, r);
        DemoRunner.AppendMessagesAndError(sb, r, "FADump");
        if (d.SkibootLog.Count > 0)
        {
            sb.Append("\nskiboot's console (DUMP: lines, from the crash on):\n");
            foreach (var l in d.SkibootLog)
            {
                sb.Append("  ").Append(l).Append('\n');
            }
        }

        if (d.Overwritten.Count > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\nLost: petitboot without CONFIG_PRESERVE_FA_DUMP took all memory as its own; above boot memory it wrote over {MemoryLayoutPicture.Human(d.OverwrittenBytes)} of the crashed kernel's\n");
            foreach (var (s, e) in d.Overwritten)
            {
                sb.Append(CultureInfo.InvariantCulture, $"  0x{s:x12}-0x{e - 1:x12} {MemoryLayoutPicture.Human(e - s),9}\n");
            }

            sb.Append("  (its vmemmap lands where the crashed kernel's was: the vmcore's struct pages are petitboot's, so filtering keeps the wrong pages)\n");
        }

        if (d.OpalCoreBytes > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\nOPAL core: /sys/firmware/opal/mpipl/core, {MemoryLayoutPicture.Human((ulong)d.OpalCoreBytes)}, {d.OpalCoreThreads} threads, crashing PIR 0x{d.CrashingPir:x}\n");
        }

        if (r.VmcoreError is null && r.Collect?.Write is { } w)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\nBack in production with all memory {Timeline.Seconds(r.BackInProduction)} after the crash");
            sb.Append(CultureInfo.InvariantCulture, $" (kdump would need a second reboot: about {Timeline.Seconds(r.KdumpEquivalent)}).\n");
            sb.Append(CultureInfo.InvariantCulture, $"The dump service saved {w.DumpedPages} of {w.TotalPages} pages ({MemoryLayoutPicture.Human((ulong)w.BytesWritten)}) at dump level {w.DumpLevelUsed}.\n");
            sb.Append(r.ActionsLog.Length > 0 ? r.ActionsLog : "No reboot: FADump released the memory to the running kernel.\n");
        }

        sb.Append("\n/sys/kernel/debug/powerpc/fadump_region in the production kernel before the crash:\n").Append(r.RegionBefore.Length > 0 ? DemoRunner.Indent(r.RegionBefore) : "  (empty: FADump is not enabled)\n");
        if (r.RegionAfter.Length > 0)
        {
            sb.Append("\n/sys/kernel/debug/powerpc/fadump_region after the MPIPL:\n").Append(DemoRunner.Indent(r.RegionAfter));
        }

        DemoRunner.AppendFiguresAndFiles(sb, r);
        return sb.ToString();
    }

    public static string ToJson(DemoResult r)
    {
        var d = r.Opal!;
        var spec = r.Options.PowerNv!;
        return DemoRunner.Json(w =>
        {
            DemoRunner.WriteMachine(w, r, "powernv", spec.MemoryBytes, spec.Cpus, spec.CommandLine, spec.Workload);
            w.WriteString("petitboot", spec.Petitboot == PetitbootMode.Preserving ? "preserving" : "not-preserving");
            DemoRunner.WriteOutcome(w, r);
            DemoRunner.WriteTimeline(w, r);
            w.WriteNumber("back_in_production_seconds", r.BackInProduction.TotalSeconds);
            w.WriteNumber("kdump_equivalent_seconds", r.KdumpEquivalent.TotalSeconds);
            w.WriteNumber("released_bytes", r.ReleasedBytes);
            w.WriteBoolean("reregistered", r.Reregistered);
            if (r.Collect?.Write is { } save)
            {
                w.WriteNumber("dumped_pages", save.DumpedPages);
                w.WriteNumber("total_pages", save.TotalPages);
            }

            w.WriteStartObject("mpipl");
            w.WriteNumber("copied_bytes", d.CopiedBytes);
            w.WriteNumber("mdrt_count", d.MdrtCount);
            w.WriteNumber("saved_threads", d.SavedThreads);
            w.WriteNumber("preserved_bytes", d.PreservedBytes);
            w.WriteNumber("overwritten_bytes", d.OverwrittenBytes);
            w.WriteNumber("opal_core_bytes", d.OpalCoreBytes);
            w.WriteNumber("opal_core_threads", d.OpalCoreThreads);
            w.WriteNumber("crashing_pir", d.CrashingPir);
            w.WriteStartArray("skiboot_log");
            foreach (var l in d.SkibootLog)
            {
                w.WriteStringValue(l);
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteString("fadump_region_before", r.RegionBefore);
            w.WriteString("fadump_region_after", r.RegionAfter);
            DemoRunner.WriteBands(w, "layout_first_kernel", r.LayoutFirst);
            DemoRunner.WriteBands(w, "layout_capture_kernel", r.LayoutCapture);
            DemoRunner.WriteFiles(w, r);
        });
    }
}
