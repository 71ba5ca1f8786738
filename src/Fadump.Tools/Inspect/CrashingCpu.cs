using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Fadump.Formats;

namespace Fadump.Tools.Inspect;

/// <summary>The CPU that crashed, as an index into the dump's NT_PRSTATUS notes, and how it was found.</summary>
public sealed record CrashingCpu(int Index, string Evidence);

/// <summary>
/// Finds the crashing CPU from what the crashed kernel logged. The kernel knows it (crashing_cpu: x86
/// nmi_shootdown_cpus, powerpc crash_fadump and the FADump header's crashing_cpu), and crash reads that variable
/// through vmlinux's symbols (get_netdump_panic_task); but VMCOREINFO does not export it, the FADump header lies
/// in the reserved area that /proc/vmcore leaves out, and the notes come in CPU order on every platform
/// (kexec-tools' per-CPU crash_notes; rtas_fadump_build_cpu_notes and opal_fadump_build_cpu_notes walk the
/// firmware's save area), so neither their order nor (FADump: pr_pid 0 everywhere; QEMU: vCPU + 1) their pid
/// says which. The log does, in two ways, tried in order:
/// <list type="number">
/// <item>the panic message's printk caller_id, when it is a CPU (0x80000000 | cpu: logged outside task
/// context, e.g. sysrq from the keyboard interrupt, an NMI watchdog);</item>
/// <item>dump_stack's "CPU: N PID: P Comm: ..." line, which panic() prints on the panicking CPU right after its
/// message (CONFIG_DEBUG_BUGVERBOSE), or die()/__show_regs printed just before it for an oops.</item>
/// </list>
/// A caller_id that is a task id is not matched against the notes' pr_pid: on QEMU's dumps that pid is the vCPU
/// number + 1, so PID 1 would name vCPU 0 whatever CPU init ran on. The CPU number is taken as the index of
/// the note, as `fadump regs` numbers them: true when every CPU up to it was online (each online CPU writes
/// one note, in CPU order). Null when the log has no panic or names no CPU that has a note.
/// </summary>
public static partial class CrashingCpuFinder
{
    private const uint CallerCpuFlag = 0x80000000;

    /// <summary>Records after the panic message in which dump_stack's CPU line is looked for.</summary>
    private const int LinesAfterPanic = 4;

    private static readonly string[] PanicMarkers = ["Kernel panic - not syncing: "];
    private static readonly string[] OopsMarkers = ["Oops: ", "BUG: "];

    public static CrashingCpu? Find(IDump dump)
    {
        ArgumentNullException.ThrowIfNull(dump);
        int notes = dump.CpuStates().Count;
        if (notes == 0 || dump.VmcoreInfo is null)
        {
            return null;
        }

        try
        {
            return Find(KernelLog.Read(dump), notes);
        }
        catch (DumpFormatException)
        {
            return null;
        }
    }

    public static CrashingCpu? Find(KernelLog log, int notes)
    {
        ArgumentNullException.ThrowIfNull(log);
        return log.Layout == KernelLogLayout.PlainText
            ? Find([.. Encoding.UTF8.GetString(log.PlainText.Span).Split('\n').Select(t => (t, (uint?)null))], notes)
            : Find([.. log.Records.Select(r => (Encoding.UTF8.GetString(r.Text.Span), r.CallerId))], notes);
    }

    /// <summary>The rules over the log's messages in order, each with its printk caller_id (null: not recorded).</summary>
    internal static CrashingCpu? Find(IReadOnlyList<(string Text, uint? CallerId)> records, int notes)
    {
        var texts = records.Select(r => r.Text).ToList();
        int at = LastIndex(texts, PanicMarkers);
        if (at < 0)
        {
            at = LastIndex(texts, OopsMarkers);
        }

        if (at < 0)
        {
            return null;
        }

        if (records[at].CallerId is { } id && (id & CallerCpuFlag) != 0)
        {
            int cpu = (int)(id & ~CallerCpuFlag);
            if (cpu < notes)
            {
                return new CrashingCpu(cpu, string.Create(CultureInfo.InvariantCulture, $"the panic message was logged by CPU {cpu} (printk caller_id C{cpu})"));
            }
        }

        for (int i = at; i < Math.Min(texts.Count, at + 1 + LinesAfterPanic); i++)
        {
            if (DumpStackCpu(texts[i]) is { } cpu && cpu < notes)
            {
                return new CrashingCpu(cpu, string.Create(CultureInfo.InvariantCulture, $"dump_stack after the panic message: \"{texts[i].Trim()}\""));
            }
        }

        for (int i = at - 1; i >= 0; i--)
        {
            if (DumpStackCpu(texts[i]) is { } cpu)
            {
                return cpu < notes ? new CrashingCpu(cpu, string.Create(CultureInfo.InvariantCulture, $"the oops before the panic message: \"{texts[i].Trim()}\"")) : null;
            }
        }

        return null;
    }

    private static int LastIndex(List<string> texts, string[] markers)
    {
        for (int i = texts.Count - 1; i >= 0; i--)
        {
            if (markers.Any(m => texts[i].Contains(m, StringComparison.Ordinal)))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>dump_stack_print_info: "CPU: %d PID: %d Comm: ..." (6.10 and later: "CPU: %d UID: %u PID: %d Comm: ...").</summary>
    private static int? DumpStackCpu(string text)
    {
        var m = DumpStackLine().Match(text);
        return m.Success && int.TryParse(m.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out int cpu) ? cpu : null;
    }

    [GeneratedRegex(@"(?:^|\] )CPU: (\d{1,5}) (?:UID: \d+ )?PID: \d+ Comm: ", RegexOptions.CultureInvariant)]
    private static partial Regex DumpStackLine();
}
