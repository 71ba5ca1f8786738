using System.Globalization;
using System.Text;
using Fadump.Formats;
using Fadump.Tools.Inspect;

namespace Fadump.Cli.Simulation;

/// <summary>
/// The few lines a person reads first after a run: what ran, whether the dump was saved (with the page count
/// <c>fadump info</c> gives for the same file, and the file's size), how the memory came back, when the
/// machine was back in production, and where the files are.
/// </summary>
public static class DemoSummary
{
    /// <summary>What runs: the machine, its mechanism, its size, the crash.</summary>
    public static string Title(DemoOptions o)
    {
        var (machine, memory, cpus, workload) = Machine(o);
        return FormattableString.Invariant($"Simulated {machine}: {MemoryLayoutPicture.Human(memory)} RAM, {cpus} CPUs, {workload} workload, crash by {CrashName(o.Crash)}");
    }

    private static (string Machine, ulong Memory, int Cpus, string Workload) Machine(DemoOptions o) => o.Platform switch
    {
        "x86_64" => ("x86_64 PC, kdump", o.Pc!.MemoryBytes, o.Pc.Cpus, o.Pc.Workload),
        "power6" => ("Power6 LPAR, phyp-assisted dump", o.Power6!.MemoryBytes, o.Power6.Cpus, o.Power6.Workload),
        "powernv" => ("PowerNV (bare-metal POWER9), FADump over OPAL MPIPL", o.PowerNv!.MemoryBytes, o.PowerNv.Cpus, o.PowerNv.Workload),
        _ => ("pSeries LPAR, FADump over RTAS", o.Lpar.MemoryBytes, o.Lpar.Cpus, o.Lpar.Workload),
    };

    public static string ToText(DemoResult r, bool filesRemoved)
    {
        var o = r.Options;
        ulong memory = Machine(o).Memory;
        var sb = new StringBuilder(Title(o)).Append('\n');
        var lines = new List<(string Label, string Text)>();
        if (r.VmcoreError is not null)
        {
            lines.Add(("no dump", r.VmcoreError));
        }

        if (r.Collect is { Write: { } w } c && c.Vmcore is { } vmcore)
        {
            lines.Add(("vmcore", vmcore + " (" + o.CoreCollector + ")"));
            lines.Add(("saved", SavedLine(vmcore, w)));
        }
        else if (!o.Save && r.VmcoreError is null)
        {
            lines.Add(("saved", "nothing (sim run without --save-to): the capture kernel waits with /proc/vmcore"));
        }

        if (o.CoreCollectorNote is { } note)
        {
            lines.Add(("note", note));
        }

        if (r.Collect is not null && r.VmcoreError is null)
        {
            AddRecovery(lines, r, memory);
        }

        var pictures = r.Files.Where(f => f.EndsWith(".svg", StringComparison.Ordinal)).ToList();
        if (pictures.Count > 0)
        {
            lines.Add(("pictures", string.Join(", ", pictures.Select(Path.GetFileName)) + " in " + Path.GetDirectoryName(pictures[0])));
        }

        if (filesRemoved)
        {
            lines.Add(("files", "in a temporary directory, now removed: give --out DIR to keep the dump and the pictures"));
        }

        const int width = 8; // "released", "pictures": the labels line up on every platform
        foreach (var (label, text) in lines)
        {
            sb.Append("  ").Append(label.PadRight(width)).Append("  ").Append(text).Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>The saved dump in the numbers <c>fadump info</c> prints for it, and its size on disk.</summary>
    private static string SavedLine(string vmcore, Tools.Service.DumpWriteResult w)
    {
        string level = FormattableString.Invariant($"at dump level {w.DumpLevelUsed}");
        if (!File.Exists(vmcore))
        {
            return FormattableString.Invariant($"{w.DumpedPages} of {w.TotalPages} pages {level}");
        }

        long size = new FileInfo(vmcore).Length;
        if (w.Incomplete)
        {
            // The bitmap of a stopped save still lists every page it meant to write: no page count to give.
            return FormattableString.Invariant($"incomplete: the save stopped after {MemoryLayoutPicture.Human((ulong)size)}, {level}; the file is flagged incomplete (fadump info: \"Complete: no\")");
        }

        try
        {
            using var dump = DumpFile.Open(vmcore);
            ulong inFile = DumpSummary.Of(dump).DumpedPages;
            // makedumpfile keeps the zero pages it excludes in the dump bitmap, all sharing one descriptor:
            // fadump info (and crash) count them among the file's pages, its report does not.
            string zero = inFile > w.DumpedPages ? FormattableString.Invariant($" ({inFile - w.DumpedPages} of them zero pages, sharing one descriptor)") : string.Empty;
            return FormattableString.Invariant($"{inFile} of {w.TotalPages} pages {level}{zero}: a {MemoryLayoutPicture.Human((ulong)size)} file");
        }
        catch (DumpFormatException e)
        {
            return FormattableString.Invariant($"{w.DumpedPages} of {w.TotalPages} pages {level}, a {MemoryLayoutPicture.Human((ulong)size)} file that does not read back: {e.Message}");
        }
    }

    /// <summary>How the memory came back and when the machine was back in production, per mechanism.</summary>
    private static void AddRecovery(List<(string, string)> lines, DemoResult r, ulong memory)
    {
        string back = Timeline.Seconds(r.BackInProduction);
        if (r.Kdump is not null)
        {
            lines.Add(("back", FormattableString.Invariant($"{back} after the crash, with all {MemoryLayoutPicture.Human(memory)}: the second reboot included")));
        }
        else if (r.Phyp is { } p)
        {
            lines.Add(("released", FormattableString.Invariant($"release_region range by range as the save went: {MemoryLayoutPicture.Human(p.HeldBytes)} back{(p.Reregistered ? ", phyp dump registered again" : string.Empty)}")));
            lines.Add(("back", FormattableString.Invariant($"production could start {Timeline.Seconds(p.ProductionStart)} after the crash, all memory was back {back} after it; no second reboot")));
        }
        else
        {
            string how = r.Opal is not null ? "release_core and release_mem" : "release_mem";
            lines.Add(("released", FormattableString.Invariant($"{MemoryLayoutPicture.Human(r.ReleasedBytes)} back to production by {how}{(r.Reregistered ? ", FADump registered again" : string.Empty)}")));
            lines.Add(("back", FormattableString.Invariant($"{back} after the crash, with all {MemoryLayoutPicture.Human(memory)} and no second reboot (kdump: about {Timeline.Seconds(r.KdumpEquivalent)})")));
        }
    }

    internal static string CrashName(Kernel.CrashKind crash) => crash == Kernel.CrashKind.FirmwareTerminate ? "fw-terminate" : crash.ToString().ToLowerInvariant();
}
