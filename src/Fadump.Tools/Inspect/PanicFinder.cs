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
        for (int i = log.Records.Count - 1; i >= 0; i--)
        {
            string text = System.Text.Encoding.UTF8.GetString(log.Records[i].Text.Span);
            foreach (var m in Markers)
            {
                int at = text.IndexOf(m, StringComparison.Ordinal);
                if (at >= 0)
                {
                    return text[at..].TrimEnd('\n');
                }
            }
        }

        return null;
    }
}
