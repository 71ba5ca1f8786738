using System.Text.RegularExpressions;
using Fadump.Cli;

namespace Fadump.Tools.Tests.Cli;

/// <summary>
/// `--help` of every command (issue 12 point 4): each option's value is named (<c>-d &lt;LEVEL&gt;</c>, not
/// <c>-d &lt;d&gt;</c> or <c>--out &lt;out&gt;</c>), and a default is said once, truthfully. The commands are found
/// by walking the help's own "Commands:" lists, so that a new command is checked too.
/// </summary>
public sealed partial class HelpTextCliTests
{
    private static string Help(params string[] command)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int rc = FadumpCommand.Run([.. command, "--help"], o, e);
        Assert.True(rc == 0, $"fadump {string.Join(' ', command)} --help: {rc}: {e}");
        return o.ToString().ReplaceLineEndings("\n");
    }

    /// <summary>Every command path under the root, the root itself first.</summary>
    private static List<string[]> Commands()
    {
        var all = new List<string[]>();
        var pending = new Queue<string[]>([[]]);
        while (pending.Count > 0)
        {
            string[] c = pending.Dequeue();
            all.Add(c);
            foreach (string sub in Section(Help(c), "Commands:").Select(l => l.TrimStart().Split(' ')[0]))
            {
                pending.Enqueue([.. c, sub]);
            }
        }

        return all;
    }

    /// <summary>The lines of a help section ("Options:", "Commands:"), up to the blank line that ends it.</summary>
    private static IEnumerable<string> Section(string help, string title) =>
        help.Split('\n').SkipWhile(l => l != title).Skip(1).TakeWhile(l => l.Length > 0);

    /// <summary>Runs of blanks between the columns as two, so that a longer option elsewhere does not change the text.</summary>
    private static string Columns(string line) => WideGap().Replace(line.TrimEnd(), "  ");

    [Fact]
    public void Every_command_is_found()
    {
        var names = Commands().Select(c => string.Join(' ', c)).ToList();

        foreach (string expected in new[] { "", "info", "regs", "read", "dmesg", "collect", "save", "convert", "demo", "sim", "sim run", "sim dma" })
        {
            Assert.Contains(expected, names);
        }
    }

    [Fact]
    public void No_option_value_is_named_by_a_letter_or_its_own_name()
    {
        var bad = new List<string>();
        foreach (string[] c in Commands())
        {
            foreach (string line in Section(Help(c), "Options:"))
            {
                var m = OptionLine().Match(line);
                if (!m.Success)
                {
                    continue;
                }

                string name = m.Groups["name"].Value.TrimStart('-');
                string value = m.Groups["value"].Value;
                if (LowerLetter().IsMatch($"<{value}>") || value == name)
                {
                    bad.Add($"fadump {string.Join(' ', c)}: {line.Trim()}");
                }
            }
        }

        Assert.Empty(bad);
    }

    [Fact]
    public void No_default_is_said_twice()
    {
        var bad = Commands()
            .SelectMany(c => Help(c).Split('\n').Select(l => (c, l)))
            .Where(x => x.l.Contains("(default", StringComparison.Ordinal) && x.l.Contains("[default:", StringComparison.Ordinal))
            .Select(x => $"fadump {string.Join(' ', x.c)}: {x.l.Trim()}")
            .ToList();

        Assert.Empty(bad);
    }

    [Fact]
    public void Save_help_names_the_level_and_says_all_CPUs_for_threads()
    {
        var lines = Section(Help("save"), "Options:").Select(Columns).ToList();

        Assert.Contains("  -d <LEVEL>  dump level 0-31 (sum of 1 zero, 2 cache, 4 private cache, 8 user, 16 free); A,B retries at B when A does not fit [default: 0]", lines);
        Assert.Contains("  --num-threads <N>  threads that read and compress pages (default: all CPUs)", lines);
        Assert.Contains("  --message-level <ML>  message types: 1 progress, 2 common, 4 error, 8 debug, 16 report [default: 7]", lines);
        Assert.Contains("  -L <SIZE>  limit the dump file to SIZE bytes (K/M/G/T); beyond it the dump is incomplete, or retried at the next -d level", lines);
    }

    /// <summary>What the help says is what save does: without --num-threads, one thread per CPU; with it, that many.</summary>
    [Theory]
    [InlineData(null)]
    [InlineData("1")]
    public void Save_uses_every_CPU_unless_told(string? threads)
    {
        using var small = new SmallVmcore();
        string output = Path.Combine(Path.GetTempPath(), $"fadump-threads-{Guid.NewGuid():N}");
        var e = new StringWriter();
        string[] args = threads is null ? ["save", "--message-level", "8", small.Path, output] : ["save", "--message-level", "8", "--num-threads", threads, small.Path, output];
        try
        {
            int rc = FadumpCommand.Run(args, new StringWriter(), e);

            Assert.True(rc == 0, e.ToString());
            int expected = threads is null ? Environment.ProcessorCount : 1;
            Assert.Contains(FormattableString.Invariant($"dump level 0, Kdump, compression none, {expected} threads\n"), e.ToString().ReplaceLineEndings("\n"), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(output);
        }
    }

    [GeneratedRegex(@"^\s+(?:\S+, )*(?<name>--?[\w-]+) <(?<value>[^>]+)>")]
    private static partial Regex OptionLine();

    [GeneratedRegex("<[a-z]>")]
    private static partial Regex LowerLetter();

    [GeneratedRegex("(?<=\\S)  +")]
    private static partial Regex WideGap();
}
