namespace Fadump.Kernel.CommandLine;

/// <summary>The kernel command line: space-separated words, `key=value` or bare flags.</summary>
public sealed class KernelCommandLine
{
    public KernelCommandLine(string text)
    {
        Text = text.Trim();
        Words = Text.Length == 0 ? [] : Text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
    }

    public string Text { get; }

    public IReadOnlyList<string> Words { get; }

    /// <summary>Every value given for key, in order.</summary>
    public IEnumerable<string> All(string key)
    {
        string prefix = key + "=";
        foreach (var w in Words)
        {
            if (w.StartsWith(prefix, StringComparison.Ordinal))
            {
                yield return w[prefix.Length..];
            }
            else if (w == key)
            {
                yield return string.Empty;
            }
        }
    }

    /// <summary>The last value given for key (the kernel's early_param sees each; later ones win).</summary>
    public string? Last(string key) => All(key).LastOrDefault();

    public bool Has(string key) => All(key).Any();

    /// <summary>`fadump=on|off|nocma`: prefix matches, as strncmp does; anything else is ignored.</summary>
    public FadumpMode Fadump
    {
        get
        {
            var mode = FadumpMode.Default;
            foreach (var v in All("fadump"))
            {
                if (v.StartsWith("on", StringComparison.Ordinal))
                {
                    mode = FadumpMode.On;
                }
                else if (v.StartsWith("off", StringComparison.Ordinal))
                {
                    mode = FadumpMode.Off;
                }
                else if (v.StartsWith("nocma", StringComparison.Ordinal))
                {
                    mode = FadumpMode.NoCma;
                }
            }

            return mode;
        }
    }

    public KernelCommandLine Append(string text) => new(Text.Length == 0 ? text : Text + " " + text);

    public override string ToString() => Text;
}

public enum FadumpMode
{
    /// <summary>Not given: FADump stays off (it is opt-in).</summary>
    Default,
    On,
    Off,

    /// <summary>On, without the CMA area over boot memory.</summary>
    NoCma,
}
