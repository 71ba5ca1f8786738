using Fadump.Cli;
using Fadump.Formats.Kdump;

namespace Fadump.Tools.Tests.Cli;

/// <summary>`fadump save --split` and `--reassemble` on the command line: what they refuse (exact words) and what they write.</summary>
public sealed class SplitCliTests(SmallVmcore small) : IClassFixture<SmallVmcore>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fadump-cli-split-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static (int Rc, string Out, string Err) Fadump(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int rc = FadumpCommand.Run(args, o, e);
        return (rc, o.ToString(), e.ToString());
    }

    [Theory]
    [InlineData("--split cannot be used with -E: options for splitting dumpfile cannot be used with Elf format", "-E")]
    [InlineData("--split cannot be used with -F: each file of a split set is written in place, not to standard output", "-F")]
    [InlineData("--dry-run cannot be used with --split", "--dry-run")]
    [InlineData("--split cannot be used with --dump-dmesg", "--dump-dmesg")]
    public void Split_refuses_what_makedumpfile_refuses(string message, string option)
    {
        var (rc, _, err) = Fadump("save", "--split", option, "-d", "31", small.Path, P("a"), P("b"));
        Assert.Equal(FadumpCommand.ExitUsage, rc);
        Assert.Equal($"fadump: {message}\n", err);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void Split_needs_two_files_at_least()
    {
        var (rc, _, err) = Fadump("save", "--split", "-d", "31", small.Path, P("a"));
        Assert.Equal(FadumpCommand.ExitUsage, rc);
        Assert.Equal("fadump: --split takes VMCORE and at least two OUTFILEs\n", err);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Theory]
    [InlineData("-d", "31")]
    [InlineData("-c", null)]
    [InlineData("-E", null)]
    public void Reassemble_refuses_filtering_and_format_options(string option, string? value)
    {
        string[] args = value is null ? [option] : [option, value];
        var (rc, _, err) = Fadump(["save", "--reassemble", .. args, P("a"), P("b"), P("c")]);
        Assert.Equal(FadumpCommand.ExitUsage, rc);
        Assert.Equal("fadump: --reassemble cannot be used with -c, -l, -p, -z, -d, -E, -F, -R, -L or --dump-dmesg: it joins the files as they are\n", err);
    }

    [Fact]
    public void Reassemble_refuses_dry_run_and_too_few_files_and_writing_over_a_part()
    {
        Assert.Equal("fadump: --dry-run cannot be used with --reassemble\n", Fadump("save", "--reassemble", "--dry-run", P("a"), P("b"), P("c")).Err);
        Assert.Equal("fadump: --reassemble takes the files of a split set (at least two) and the file to write\n", Fadump("save", "--reassemble", P("a"), P("b")).Err);
        Assert.Equal($"fadump: {P("a")}: the file to write is one of the files of the set\n", Fadump("save", "--reassemble", P("a"), P("b"), P("a")).Err);
    }

    [Fact]
    public void Split_then_reassemble_gives_back_the_unsplit_save()
    {
        string a = P("a"), b = P("b"), c = P("c"), whole = P("whole"), joined = P("joined");
        var (rc, _, err) = Fadump("save", "-l", "-d", "1", "--splitblock-size", "64", "--split", small.Path, a, b, c);
        Assert.True(rc == 0, err);
        Assert.EndsWith($"The dumpfiles are saved to {a}, {b}, and {c}.\nfadump save Completed.\n", err);
        Assert.Equal(0, Fadump("save", "-l", "-d", "1", small.Path, whole).Rc);
        (rc, _, err) = Fadump("save", "--reassemble", c, a, b, joined);
        Assert.True(rc == 0, err);
        Assert.Equal($"The dumpfile is saved to {joined}.\nfadump save Completed.\n", err);

        using (var set = KdumpSplitSet.Open([a, b, c]))
        {
            Assert.True(set.Parts.Count(p => p.HeldPageCount > 0) >= 2, "64 KiB splitblocks share the pages out");
        }

        using var w = KdumpCompressedDump.Open(whole);
        using var j = KdumpCompressedDump.Open(joined);
        Assert.Equal(w.DumpedPageCount, j.DumpedPageCount);
        var pa = new byte[w.PageSize];
        var pb = new byte[w.PageSize];
        for (ulong pfn = 0; pfn < w.MaxPfn; pfn++)
        {
            Assert.Equal(w.ReadPage(pfn, pa) == Formats.PageState.Dumped, j.ReadPage(pfn, pb) == Formats.PageState.Dumped);
            Assert.True(pa.AsSpan().SequenceEqual(pb));
        }

        // Over an existing file only with -f, as for any save.
        (rc, _, err) = Fadump("save", "--reassemble", a, b, c, joined);
        Assert.Equal(FadumpCommand.ExitFailure, rc);
        Assert.Contains("File exists", err);
        Assert.Equal(0, Fadump("save", "-f", "--reassemble", a, b, c, joined).Rc);
    }

    [Fact]
    public void Help_names_the_options_with_their_value_and_each_default_once()
    {
        var (_, help, _) = Fadump("save", "--help");
        Assert.Contains("--splitblock-size <KB>", help);
        Assert.Contains("[default: 1048576]", help);
        Assert.Contains("-d <LEVEL>", help);
        Assert.Contains("-L <SIZE>", help);
        Assert.Contains("--num-threads <N>", help);
        Assert.Contains("--message-level <ML>", help); // makedumpfile(8)'s name for it

        // System.CommandLine prints [default: X]; no description says it again.
        Assert.DoesNotContain(help.Split('\n'), l => l.Contains("(default", StringComparison.Ordinal) && l.Contains("[default:", StringComparison.Ordinal));
        Assert.Contains("--split ", help);
        Assert.Contains("--reassemble ", help);
    }
}
