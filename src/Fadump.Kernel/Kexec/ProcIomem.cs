using System.Globalization;

namespace Fadump.Kernel.Kexec;

/// <summary>One /proc/iomem resource: [Start, End] inclusive, as the file prints it.</summary>
public sealed record IomemResource(ulong Start, ulong End, string Name, int Depth, int LineNumber)
{
    public ulong Size => End - Start + 1;

    public List<IomemResource> Children { get; } = [];
}

/// <summary>A /proc/iomem line that is not "start-end : name" at a sane nesting depth.</summary>
public sealed class IomemFormatException(int lineNumber, string line, string reason)
    : FormatException(FormattableString.Invariant($"/proc/iomem line {lineNumber}: {reason}: '{line}'"))
{
    public int LineNumber { get; } = lineNumber;
}

/// <summary>
/// /proc/iomem as kernel/resource.c r_show prints it: "%*s%0*llx-%0*llx : %s", two spaces of
/// indent per nesting level. Real kexec-tools scans it line by line with
/// sscanf("%llx-%llx : %n") and skips what does not match; this parser is strict instead and
/// says which line is wrong, but exposes the same flat view (<see cref="All"/>) kexec-tools uses.
/// </summary>
public sealed class ProcIomem
{
    private ProcIomem(List<IomemResource> roots, List<IomemResource> all)
    {
        Roots = roots;
        All = all;
    }

    /// <summary>Top-level resources.</summary>
    public IReadOnlyList<IomemResource> Roots { get; }

    /// <summary>Every resource in file order, any depth: what a line-by-line scan sees.</summary>
    public IReadOnlyList<IomemResource> All { get; }

    /// <summary>Every resource named exactly <paramref name="name"/>, in file order (kexec_iomem_for_each_line).</summary>
    public IEnumerable<IomemResource> Named(string name) => All.Where(r => r.Name == name);

    public static ProcIomem Parse(string text)
    {
        var roots = new List<IomemResource>();
        var all = new List<IomemResource>();
        var stack = new List<IomemResource>();
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            int number = i + 1;
            if (line.Length == 0 && i == lines.Length - 1)
            {
                break;
            }

            int indent = 0;
            while (indent < line.Length && line[indent] == ' ')
            {
                indent++;
            }

            if (indent % 2 != 0)
            {
                throw new IomemFormatException(number, line, FormattableString.Invariant($"indent of {indent} spaces: expected two per nesting level"));
            }

            int depth = indent / 2;
            if (depth > stack.Count)
            {
                throw new IomemFormatException(number, line, FormattableString.Invariant($"nesting level {depth} under level {stack.Count - 1}: expected at most one level deeper than the line before"));
            }

            string body = line[indent..];
            int dash = body.IndexOf('-', StringComparison.Ordinal);
            int sep = body.IndexOf(" : ", StringComparison.Ordinal);
            if (dash <= 0 || sep < dash + 2 || sep + 3 >= body.Length)
            {
                throw new IomemFormatException(number, line, "expected 'start-end : name'");
            }

            if (!TryHex(body[..dash], out ulong start) || !TryHex(body[(dash + 1)..sep], out ulong end))
            {
                throw new IomemFormatException(number, line, "expected hexadecimal start and end");
            }

            if (end < start)
            {
                throw new IomemFormatException(number, line, FormattableString.Invariant($"end 0x{end:x} below start 0x{start:x}"));
            }

            var r = new IomemResource(start, end, body[(sep + 3)..], depth, number);
            stack.RemoveRange(depth, stack.Count - depth);
            if (depth == 0)
            {
                roots.Add(r);
            }
            else
            {
                var parent = stack[^1];
                if (start < parent.Start || end > parent.End)
                {
                    throw new IomemFormatException(number, line, FormattableString.Invariant($"[0x{start:x}-0x{end:x}] outside its parent '{parent.Name}' [0x{parent.Start:x}-0x{parent.End:x}] of line {parent.LineNumber}"));
                }

                parent.Children.Add(r);
            }

            stack.Add(r);
            all.Add(r);
        }

        return new ProcIomem(roots, all);
    }

    private static bool TryHex(string s, out ulong value)
    {
        value = 0;
        return s.Length is > 0 and <= 16 && s.All(Uri.IsHexDigit)
            && ulong.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }
}
