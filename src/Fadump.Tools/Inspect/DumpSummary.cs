using System.Globalization;
using System.Text;
using System.Text.Json;
using Fadump.Formats;
using Fadump.Formats.Kdump;

namespace Fadump.Tools.Inspect;

/// <summary>What `fadump info` reports about a dump.</summary>
public sealed record DumpSummary(
    string Path,
    string Format,
    bool Flattened,
    string Arch,
    string ByteOrder,
    string? OsRelease,
    int PageSize,
    int Cpus,
    long? CrashTime,
    int? DumpLevel,
    ulong MaxPfn,
    ulong DumpedPages,
    ulong MemoryBytes,
    bool Incomplete,
    string? Panic)
{
    public static DumpSummary Of(IDump dump, string? panic = null)
    {
        ulong memory = 0;
        foreach (var r in dump.MemoryRanges())
        {
            memory += r.Size;
        }

        // One file of a --split set holds the pages of its range only (its bitmap counts those of the whole set).
        ulong dumped = dump is KdumpCompressedDump { IsSplit: true } part ? part.HeldPageCount
            : dump is IPageCounts counts ? counts.DumpedPageCount
            : CountPages(dump);
        string? incomplete = dump.IncompleteReason;
        return new DumpSummary(
            dump.Path,
            dump.Format == DumpFormat.Elf ? "elf" : "kdump",
            dump.IsFlattened,
            dump.Machine.UtsMachine,
            dump.Machine.BigEndian ? "big-endian" : "little-endian",
            dump.VmcoreInfo?.OsRelease ?? (dump as IUtsInfo)?.Release,
            dump.PageSize,
            dump.CpuStates().Count,
            dump.VmcoreInfo?.CrashTime ?? (dump as IUtsInfo)?.Timestamp,
            dump.DumpLevel ?? Collector.DumpLevelNote.Find(dump.Notes),
            dump.MaxPfn,
            dumped,
            memory,
            dump.IsIncomplete || incomplete is not null,
            panic)
        {
            IncompleteReason = incomplete,
            Opal = OpalCore.TryRead(dump) is { } opal ? OpalCoreSummary.Of(opal) : null,
            SplitFiles = (dump as KdumpSplitSet)?.Parts.Count,
            SplitRange = dump is KdumpCompressedDump { IsSplit: true } k ? (k.StartPfn, k.EndPfn) : null,
        };
    }

    /// <summary>The number of files of a --split set read as one, or null.</summary>
    public int? SplitFiles { get; init; }

    /// <summary>For one file of a --split set: the PFNs [Start, End) whose pages it holds, or null.</summary>
    public (ulong Start, ulong End)? SplitRange { get; init; }

    /// <summary>What an OPAL core (PowerNV MPIPL, /sys/firmware/opal/mpipl/core) holds, or null for a vmcore.</summary>
    public OpalCoreSummary? Opal { get; init; }

    /// <summary>Why the dump is incomplete (flagged by its writer, or truncated), or null.</summary>
    public string? IncompleteReason { get; init; }

    private static ulong CountPages(IDump dump)
    {
        ulong ps = (ulong)dump.PageSize, n = 0;
        foreach (var r in dump.MemoryRanges())
        {
            n += ((r.End + ps - 1) / ps) - (r.Start / ps);
        }

        return n;
    }

    public string ToText()
    {
        var sb = new StringBuilder();
        void Line(string k, string v) => sb.Append(CultureInfo.InvariantCulture, $"{k + ":",-14}{v}\n");
        Line("File", Path);
        Line("Format", (Format == "elf" ? "ELF core" : "kdump-compressed") + (Flattened ? " (flattened)" : string.Empty));
        if (Opal is { } opal)
        {
            // Not a kernel's dump: no VMCOREINFO, so no release, crash time, dump level or page counts.
            Line("Kind", "OPAL core (skiboot firmware, PowerNV MPIPL)");
            Line("Architecture", $"{Arch} ({ByteOrder})");
            opal.WriteText(Line);
            Line("Memory", $"{MemoryBytes} bytes ({BinarySize.Format(MemoryBytes)})");
            Line("Complete", Incomplete ? $"no ({IncompleteReason ?? "the dump is flagged incomplete"})" : "yes");
            return sb.ToString();
        }

        Line("Architecture", $"{Arch} ({ByteOrder})");
        Line("OS release", OsRelease ?? "unknown (no VMCOREINFO)");
        Line("Page size", PageSize.ToString(CultureInfo.InvariantCulture));
        Line("CPUs", Cpus.ToString(CultureInfo.InvariantCulture));
        Line("Crash time", CrashTime is { } t
            ? DateTimeOffset.FromUnixTimeSeconds(t).ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) + $" ({t})"
            : "unknown");
        Line("Dump level", DumpLevel?.ToString(CultureInfo.InvariantCulture) ?? "none (unfiltered)");
        Line("Memory", $"{MemoryBytes} bytes ({BinarySize.Format(MemoryBytes)})");
        Line("Max PFN", MaxPfn.ToString(CultureInfo.InvariantCulture));
        Line("Dumped pages", DumpedPages.ToString(CultureInfo.InvariantCulture));
        if (SplitFiles is { } files)
        {
            Line("Split set", files.ToString(CultureInfo.InvariantCulture) + " files (--split)");
        }

        if (SplitRange is var (start, end))
        {
            Line("Split file", string.Create(CultureInfo.InvariantCulture, $"PFNs [0x{start:x}, 0x{end:x}) of a --split set; the other files hold the rest"));
        }

        Line("Complete", Incomplete ? $"no ({IncompleteReason ?? "the dump is flagged incomplete"})" : "yes");
        if (Panic is not null)
        {
            Line("Panic", Panic);
        }

        return sb.ToString();
    }

    public string ToJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("path", Path);
            w.WriteString("format", Format);
            w.WriteString("kind", Opal is null ? "vmcore" : "opal-core");
            w.WriteBoolean("flattened", Flattened);
            w.WriteString("arch", Arch);
            w.WriteString("byte_order", ByteOrder);
            WriteNullable(w, "osrelease", OsRelease);
            w.WriteNumber("page_size", PageSize);
            w.WriteNumber("cpus", Cpus);
            if (CrashTime is { } t)
            {
                w.WriteNumber("crash_time", t);
            }
            else
            {
                w.WriteNull("crash_time");
            }

            if (DumpLevel is { } d)
            {
                w.WriteNumber("dump_level", d);
            }
            else
            {
                w.WriteNull("dump_level");
            }

            w.WriteNumber("max_pfn", MaxPfn);
            w.WriteNumber("dumped_pages", DumpedPages);
            if (SplitFiles is { } files)
            {
                w.WriteNumber("split_files", files);
            }

            if (SplitRange is var (start, end))
            {
                w.WriteStartObject("split_range");
                w.WriteNumber("start_pfn", start);
                w.WriteNumber("end_pfn", end);
                w.WriteEndObject();
            }

            w.WriteNumber("memory_bytes", MemoryBytes);
            w.WriteBoolean("incomplete", Incomplete);
            if (Incomplete)
            {
                WriteNullable(w, "incomplete_reason", IncompleteReason);
            }
            WriteNullable(w, "panic", Panic);
            if (Opal is { } opal)
            {
                w.WritePropertyName("opal");
                opal.WriteJson(w);
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }
}
