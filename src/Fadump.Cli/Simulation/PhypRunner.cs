using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Fadump.Formats.IO;
using Fadump.Kernel;
using Fadump.Kernel.Phyp;
using Fadump.Kernel.Platforms;
using Fadump.Tools.Sysroot;

namespace Fadump.Cli.Simulation;

/// <summary>One write to release_region during the save: when (wall time since the save began), what, and MemFree after it.</summary>
public sealed record ReleasePoint(TimeSpan SinceSaveStart, ulong Address, ulong Length, ulong FreedBytes, ulong MemFreeAfter);

/// <summary>The phyp dump side of a Power6 run: the reservation, the releases as the save went, the curve of memory back.</summary>
public sealed class PhypRunDetails
{
    /// <summary>The boot region R the second kernel runs in.</summary>
    public ulong BootRegion { get; init; }

    /// <summary>What the second kernel held above R at its boot (the crashed kernel's memory, the copies).</summary>
    public ulong HeldBytes { get; set; }

    /// <summary>(quirk) The crashed kernel's memory in [256 MiB, R): neither copied nor held, so lost.</summary>
    public ulong LostBytes { get; set; }

    public string ReleaseRegion { get; set; } = string.Empty;

    public List<ReleasePoint> Releases { get; } = [];

    /// <summary>Wall time of the dump service's save (the curve's time axis ends there).</summary>
    public TimeSpan SaveTime { get; set; }

    public ulong MemFreeAtCaptureBoot { get; set; }

    /// <summary>From the crash to the second kernel's boot: production work can start (in its boot region).</summary>
    public TimeSpan ProductionStart { get; set; }

    public ulong MemFreeAfterSave { get; set; }

    /// <summary>The kernel registered again once everything was released.</summary>
    public bool Reregistered { get; set; }

    /// <summary>Bytes given back to the running kernel by <paramref name="at"/> into the save.</summary>
    public ulong BackBy(TimeSpan at) => Releases.Where(r => r.SinceSaveStart <= at).Aggregate(0UL, (s, r) => s + r.FreedBytes);

    /// <summary>The fraction of the held memory back by a fraction of the save time.</summary>
    public double FractionBackAt(double ofSave) => HeldBytes == 0 ? 0 : Math.Min(1.0, BackBy(SaveTime * ofSave) / (double)HeldBytes);
}

/// <summary>
/// Hypervisor-assisted dump on the simulated Power6 LPAR (seed 000, spec/phyp-dump-and-opal.md part A): boot
/// with phyp_dump=1 and register, the crash through ibm,os-term, PHYP's copy of the low 256 MiB, the second
/// kernel in the boot region holding the rest, then the real dump service, which saves from /dev/mem and writes
/// release_region for each range as soon as it is on disk, so that memory goes back to production while the
/// save runs; once all is back the kernel registers again. No second reboot.
/// </summary>
public static class PhypRunner
{
    public const string ReleaseRegion = PhypDump.ReleaseRegionPath;

    public static DemoResult Run(DemoOptions options)
    {
        var spec = options.Power6 ?? throw new ArgumentException("DemoOptions.Power6 is required for a power6 run", nameof(options));
        var result = new DemoResult
        {
            Options = options,
            Fig1Title = "Fig. 1: the scratch area at the top of DRAM in the first kernel",
            Fig2Title = "Fig. 2: the second kernel runs in the boot region and holds the rest",
        };
        var lpar = new Power6Lpar(spec);
        var clock = lpar.Machine.Clock;
        var cost = lpar.Machine.Cost;
        ulong top = lpar.Machine.Memory.Top;

        var k1 = lpar.Boot();
        var p1 = lpar.PhypDump;
        var details = new PhypRunDetails { BootRegion = p1.BootRegionSize };
        result.Phyp = details;
        result.Timeline.Add(new TimelinePhase(p1.Registered
            ? FormattableString.Invariant($"boot first kernel ({Power6Lpar.Release}), hold {MemoryLayoutPicture.Human(p1.InitReserveSize)} at the top of DRAM as the scratch area, register")
            : "boot first kernel (phyp dump not registered)", clock.Now, false,
            FormattableString.Invariant($"KernelBootSeconds {cost.KernelBootSeconds} + {cost.KernelBootSecondsPerGiB} s/GiB")), clock.Now);
        result.KernelMessages.AddRange(k1.Mechanism.Messages);
        result.LayoutFirst = MemoryLayoutPicture.FirstKernel(k1, top);

        var crashAt = clock.Now;
        string crashName = options.Crash == CrashKind.FirmwareTerminate ? "fw-terminate" : options.Crash.ToString().ToLowerInvariant();
        result.Dumped = lpar.Crash(options.Crash);
        var k2 = lpar.Kernel!;
        if (ReferenceEquals(k1, k2))
        {
            result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"crash ({crashName}); no dump: phyp dump is not registered, the LPAR stays down until it is rebooted"), TimeSpan.Zero, false, "no dump"), clock.Now);
            result.VmcoreError = "no dump: " + (result.KernelMessages.Count > 0 ? string.Join("; ", result.KernelMessages) : "phyp dump was not registered with the firmware");
            return result;
        }

        TimeSpan fw = result.Dumped ? cost.FirmwareCopy(PhypDump.RmrEnd) : TimeSpan.Zero;
        result.Timeline.Add(new TimelinePhase(result.Dumped
            ? FormattableString.Invariant($"crash ({crashName}): {(options.Crash == CrashKind.FirmwareTerminate ? "the HMC terminates the LPAR" : "panic() calls ibm,os-term")}; PHYP saves the CPU state and HPTEs and copies the low {MemoryLayoutPicture.Human(PhypDump.RmrEnd)} to the scratch area")
            : FormattableString.Invariant($"crash ({crashName}); the LPAR is terminated without a dump"), fw, false, FormattableString.Invariant($"FirmwareCopyGBps {cost.FirmwareCopyGBps}")), crashAt + fw);
        var iplDone = crashAt + fw + TimeSpan.FromSeconds(cost.ResetAndIplSeconds);
        result.Timeline.Add(new TimelinePhase("reset PCI and the hardware without clearing RAM, IPL", TimeSpan.FromSeconds(cost.ResetAndIplSeconds), false, "ResetAndIplSeconds"), iplDone);
        var p2 = lpar.PhypDump;
        result.CaptureLog.AddRange(k2.Mechanism.Messages);
        if (!k2.Files.Exists(ReleaseRegion))
        {
            result.Timeline.Add(new TimelinePhase("the next kernel boots (no dump to save)", clock.Now - iplDone, false, "KernelBootSeconds + s/GiB"), clock.Now);
            result.VmcoreError = p2.FirmwareHeader is not null
                ? "the firmware flagged the dump as failed (DUMP_ERROR): the kernel invalidated it and registered again"
                : "no dump is active in the kernel that booted after the crash" + (result.CaptureLog.Count > 0 ? " (" + string.Join("; ", result.CaptureLog) + ")" : string.Empty);
            return result;
        }

        details.HeldBytes = p2.InitReserveSize;
        details.LostBytes = p2.BootRegionSize > PhypDump.RmrEnd ? p2.BootRegionSize - PhypDump.RmrEnd : 0;
        details.ReleaseRegion = k2.Files.ReadText(ReleaseRegion);
        details.MemFreeAtCaptureBoot = MemFree(k2);
        details.ProductionStart = clock.Now - crashAt;
        result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"second kernel boots in the low {MemoryLayoutPicture.Human(p2.BootRegionSize)}, holding the other {MemoryLayoutPicture.Human(p2.InitReserveSize)}: production work can start"), clock.Now - iplDone, false,
            FormattableString.Invariant($"KernelBootSeconds {cost.KernelBootSeconds} + {cost.KernelBootSecondsPerGiB} s/GiB × {MemoryLayoutPicture.Human(p2.BootRegionSize)}")), clock.Now);
        result.LayoutCapture = MemoryLayoutPicture.CaptureKernel(k2, top, k2.Memory, [], "held: the scratch area's unused end");

        var root = new ReleaseRecorder(new SimulatedSysroot(() => lpar.Kernel, "simulated Power6 LPAR"), lpar, details);
        if (options.Save)
        {
            var saveAt = clock.Now;
            root.Start();
            var collected = DemoRunner.SaveWithDumpService(root, result, clock);
            details.SaveTime = root.Elapsed; // the curve's axis: wall time, as the releases are timed
            saveAt = clock.Now - details.SaveTime;
            details.MemFreeAfterSave = MemFree(lpar.Kernel!);
            details.Reregistered = p2.Reregistered;
            result.Reregistered = p2.Reregistered;
            result.ReleasedBytes = details.Releases.Aggregate(0UL, (s, r) => s + r.FreedBytes);
            foreach (double q in new[] { 0.25, 0.5, 0.75 })
            {
                result.Timeline.Add(new TimelinePhase(FormattableString.Invariant($"  {q:P0} into the save: {MemoryLayoutPicture.Human(details.BackBy(details.SaveTime * q))} of {MemoryLayoutPicture.Human(details.HeldBytes)} back ({details.FractionBackAt(q):P0})"), TimeSpan.Zero, true, "release_region writes, wall time"), saveAt + (details.SaveTime * q));
            }

            result.Timeline.Phases.Sort((a, b) => a.At.CompareTo(b.At));
            result.Timeline.Add(new TimelinePhase(p2.Reregistered
                ? "everything released: the kernel invalidates the dump and registers again (no second reboot)"
                : "not everything was released: phyp dump is not registered again", TimeSpan.Zero, false, "RTAS calls"), clock.Now);
            if (collected.ExitCode != 0)
            {
                result.VmcoreError = "the dump service failed: " + string.Join("; ", collected.Errors);
            }
        }

        result.BackInProduction = clock.Now - crashAt;
        result.KdumpEquivalent = result.BackInProduction + TimeSpan.FromSeconds(cost.RebootSeconds);
        return result;
    }

    private static ulong MemFree(LinuxKernel k)
    {
        foreach (var line in k.Files.ReadText("/proc/meminfo").Split('\n'))
        {
            if (line.StartsWith("MemFree:", StringComparison.Ordinal))
            {
                return ulong.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) << 10;
            }
        }

        return 0;
    }

    public static string ToText(DemoResult r)
    {
        var d = r.Phyp!;
        var spec = r.Options.Power6!;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Fadump demo: Power6 LPAR (phyp dump, {Power6Lpar.Release}), {MemoryLayoutPicture.Human(spec.MemoryBytes)} RAM, {spec.Cpus} CPUs, workload {spec.Workload}, \"{spec.CommandLine}\"\n\n");
        DemoRunner.AppendTimeline(sb, r);
        DemoRunner.AppendMessagesAndError(sb, r, "phyp dump");

        if (d.ReleaseRegion.Length > 0)
        {
            sb.Append("\n/sys/kernel/release_region in the second kernel:\n  ").Append(d.ReleaseRegion);
            sb.Append("  (the merged phyp_dump.c prints its own header there, so the copies show as offsets with no length;\n   the dump service takes them from /proc/device-tree/rtas/ibm,kernel-dump)\n");
        }

        if (d.LostBytes > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\nLost: the boot region is {MemoryLayoutPicture.Human(d.BootRegion)} (5 % of DRAM) but PHYP copies only the low 256 MiB, so the crashed kernel's {MemoryLayoutPicture.Human(d.LostBytes)} in [0x10000000, 0x{d.BootRegion:x}) were neither copied nor held (phyp_dump_reserve_size=256M avoids it).\n");
        }

        if (r.Collect?.Write is { } w)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\nThe dump service saved {w.DumpedPages} of {w.TotalPages} pages ({MemoryLayoutPicture.Human((ulong)w.BytesWritten)}) at dump level {w.DumpLevelUsed} in {Timeline.Seconds(d.SaveTime)},\n");
            sb.Append(CultureInfo.InvariantCulture, $"writing release_region {d.Releases.Count} times as the ranges reached the disk: MemFree {MemoryLayoutPicture.Human(d.MemFreeAtCaptureBoot)} at boot, {MemoryLayoutPicture.Human(d.MemFreeAfterSave)} after the save.\n");
            sb.Append(CultureInfo.InvariantCulture, $"Production could start {Timeline.Seconds(d.ProductionStart)} after the crash; all memory was back {Timeline.Seconds(r.BackInProduction)} after it, with no second reboot.\n");
            sb.Append('\n').Append(MemoryBackPicture.ToText(d));
        }

        DemoRunner.AppendFiguresAndFiles(sb, r);
        return sb.ToString();
    }

    public static string ToJson(DemoResult r)
    {
        var d = r.Phyp!;
        var spec = r.Options.Power6!;
        return DemoRunner.Json(w =>
        {
            DemoRunner.WriteMachine(w, r, "power6", spec.MemoryBytes, spec.Cpus, spec.CommandLine, spec.Workload);
            DemoRunner.WriteOutcome(w, r);
            DemoRunner.WriteTimeline(w, r);
            w.WriteNumber("back_in_production_seconds", r.BackInProduction.TotalSeconds);
            w.WriteNumber("production_start_seconds", d.ProductionStart.TotalSeconds);
            w.WriteNumber("boot_region_bytes", d.BootRegion);
            w.WriteNumber("held_bytes", d.HeldBytes);
            w.WriteNumber("lost_bytes", d.LostBytes);
            w.WriteString("release_region", d.ReleaseRegion);
            w.WriteNumber("save_seconds", d.SaveTime.TotalSeconds);
            w.WriteNumber("released_bytes", r.ReleasedBytes);
            w.WriteBoolean("reregistered", d.Reregistered);
            w.WriteStartObject("fraction_back");
            foreach (double q in new[] { 0.25, 0.5, 0.75, 1.0 })
            {
                w.WriteNumber(q.ToString("0.00", CultureInfo.InvariantCulture), d.FractionBackAt(q));
            }

            w.WriteEndObject();
            w.WriteStartArray("releases");
            foreach (var p in d.Releases)
            {
                w.WriteStartObject();
                w.WriteNumber("seconds_into_save", p.SinceSaveStart.TotalSeconds);
                w.WriteNumber("address", p.Address);
                w.WriteNumber("length", p.Length);
                w.WriteNumber("freed_bytes", p.FreedBytes);
                w.WriteNumber("memfree_after", p.MemFreeAfter);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            DemoRunner.WriteBands(w, "layout_first_kernel", r.LayoutFirst);
            DemoRunner.WriteBands(w, "layout_capture_kernel", r.LayoutCapture);
            DemoRunner.WriteFiles(w, r);
        });
    }

    /// <summary>
    /// The dump service's root, with each write to release_region timed (wall clock from the start of the save)
    /// and MemFree read back from /proc/meminfo right after it: the measured curve of memory back in production.
    /// </summary>
    private sealed class ReleaseRecorder(ISysroot inner, Power6Lpar lpar, PhypRunDetails details) : ISysroot
    {
        private readonly Stopwatch _sw = new();

        public string Description => inner.Description;

        public void Start() => _sw.Restart();

        public TimeSpan Elapsed => _sw.Elapsed;

        public bool Exists(string path) => inner.Exists(path);

        public string ReadText(string path) => inner.ReadText(path);

        public IRandomAccessSource OpenRead(string path) => inner.OpenRead(path);

        public void WriteText(string path, string text)
        {
            int before = lpar.PhypDump.Releases.Count;
            inner.WriteText(path, text);
            if (path == ReleaseRegion && lpar.PhypDump.Releases.Count > before)
            {
                var k = lpar.PhypDump.Releases[^1];
                details.Releases.Add(new ReleasePoint(_sw.Elapsed, k.Address, k.Length, k.FreedBytes, MemFree(lpar.Kernel!)));
            }
        }
    }
}
