using Fadump.Formats;

namespace Fadump.Tools.Inspect;

/// <summary>Finds why the kernel died, from its log: the panic line, or the oops line.</summary>
public static class PanicFinder
{
    private static readonly string[] Markers = ["Kernel panic - not syncing: ", "Oops: ", "BUG: "];

    /// <summary>The last panic/oops message in the log, or null when there is none or the log cannot be read.</summary>
    public static string? Find(IDump dump)
    {
        if (dump.VmcoreInfo is null)
        {
            return null;
        }

        try
        {
            return Find(KernelLog.Read(dump));
        }
        catch (DumpFormatException)
        {
            return null;
        }
    }

    public static string? Find(KernelLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        if (log.Layout == KernelLogLayout.PlainText)
        {
            // Before 3.5 the log is text: one message per line, "<level>[timestamp] message".
            var lines = System.Text.Encoding.UTF8.GetString(log.PlainText.Span).Split('\n');
            for (int i = lines.Length - 1; i >= 0; i--)
            {
                if (Match(lines[i]) is { } found)
                {
                    return found;
                }
            }

            return null;
        }

        for (int i = log.Records.Count - 1; i >= 0; i--)
        {
            if (Match(System.Text.Encoding.UTF8.GetString(log.Records[i].Text.Span)) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    private static string? Match(string text)
    {
        foreach (var m in Markers)
        {
            int at = text.IndexOf(m, StringComparison.Ordinal);
            if (at >= 0)
            {
                return text[at..].TrimEnd('\n');
            }
        }

        return null;
    }
}
