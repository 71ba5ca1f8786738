using System.Globalization;
using System.Text.Json;

namespace Fadump.Tools.Inspect;

/// <summary>The OPAL part of `fadump info` on an OPAL core.</summary>
public sealed record OpalCoreSummary(
    IReadOnlyList<int> Pirs,
    int CrashingPir,
    short CrashSignal,
    bool? KernelInitiated,
    ulong? Entry,
    ulong Base,
    IReadOnlyList<OpalRegion> Regions,
    ulong? MemconsAddress,
    ulong? ObufAddress,
    int ConsoleBytes,
    bool ConsoleWrapped,
    string? ConsoleProblem,
    IReadOnlyList<string> Warnings)
{
    public static OpalCoreSummary Of(OpalCore core)
    {
        ArgumentNullException.ThrowIfNull(core);
        var console = SkibootConsole.TryRead(core, out var problem);
        return new OpalCoreSummary(
            [.. core.Threads.Select(t => t.Pir)],
            core.CrashingThread.Pir,
            core.CrashingThread.Status.CurSig,
            core.KernelInitiated,
            core.OpalEntry,
            core.OpalBase,
            core.Regions,
            console?.MemconsAddress,
            console?.ObufAddress,
            console?.Text.Length ?? 0,
            console?.Wrapped ?? false,
            console is null ? problem?.Message : null,
            core.Warnings);
    }

    public bool ConsoleFound => MemconsAddress is not null;

    internal static string Hex(ulong v) => "0x" + v.ToString("x", CultureInfo.InvariantCulture);

    private string Initiated => KernelInitiated switch
    {
        true => "crash initiated by the kernel (SIGUSR1)",
        false => "crash not initiated by the kernel (SIGTERM)",
        null => string.Create(CultureInfo.InvariantCulture, $"unknown initiator (pr_cursig {CrashSignal})"),
    };

    internal void WriteText(Action<string, string> line)
    {
        line("Threads", string.Create(CultureInfo.InvariantCulture, $"{Pirs.Count} (PIR {string.Join(' ', Pirs.Select(p => Hex((ulong)p)))})"));
        line("Crashing PIR", $"{Hex((ulong)CrashingPir)}: {Initiated}");
        line("OPAL entry", Entry is { } e ? Hex(e) : "unknown (no AT_ENTRY)");
        line("OPAL base", Hex(Base));
        for (int i = 0; i < Regions.Count; i++)
        {
            var r = Regions[i];
            line(string.Create(CultureInfo.InvariantCulture, $"Region {i}"),
                string.Create(CultureInfo.InvariantCulture, $"{Hex(r.VirtualAddress)}-{Hex(r.VirtualEnd)} ({r.Size} bytes)"));
        }

        line("Console", ConsoleFound
            ? string.Create(CultureInfo.InvariantCulture, $"skiboot memcons at {Hex(MemconsAddress!.Value)}: {ConsoleBytes} bytes of log (obuf {Hex(ObufAddress!.Value)}{(ConsoleWrapped ? ", wrapped" : string.Empty)})")
            : $"not found ({ConsoleProblem})");
        foreach (var w in Warnings)
        {
            line("Warning", w);
        }
    }

    internal void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteStartArray("threads");
        foreach (int p in Pirs)
        {
            w.WriteStartObject();
            w.WriteNumber("pir", p);
            w.WriteBoolean("crashing", p == CrashingPir);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteNumber("crashing_pir", CrashingPir);
        w.WriteNumber("crash_signal", CrashSignal);
        if (KernelInitiated is { } k)
        {
            w.WriteBoolean("kernel_initiated", k);
        }
        else
        {
            w.WriteNull("kernel_initiated");
        }

        if (Entry is { } e)
        {
            w.WriteString("entry", Hex(e));
        }
        else
        {
            w.WriteNull("entry");
        }

        w.WriteString("base", Hex(Base));
        w.WriteStartArray("regions");
        foreach (var r in Regions)
        {
            w.WriteStartObject();
            w.WriteString("start", Hex(r.VirtualAddress));
            w.WriteString("end", Hex(r.VirtualEnd));
            w.WriteNumber("size", r.Size);
            w.WriteString("core_paddr", Hex(r.PhysicalAddress));
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartObject("console");
        w.WriteBoolean("found", ConsoleFound);
        if (ConsoleFound)
        {
            w.WriteString("memcons", Hex(MemconsAddress!.Value));
            w.WriteString("obuf", Hex(ObufAddress!.Value));
            w.WriteNumber("bytes", ConsoleBytes);
            w.WriteBoolean("wrapped", ConsoleWrapped);
        }
        else
        {
            w.WriteString("problem", ConsoleProblem);
        }

        w.WriteEndObject();
        w.WriteStartArray("warnings");
        foreach (var s in Warnings)
        {
            w.WriteStringValue(s);
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }
}
