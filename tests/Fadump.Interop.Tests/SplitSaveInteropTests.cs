using System.Globalization;
using System.Text.Json;
using Fadump.Formats;
using Fadump.Formats.Kdump;

namespace Fadump.Interop.Tests;

/// <summary>
/// fadump save --split / --reassemble beside makedumpfile 1.7.2's, on the simulated x86_64 /proc/vmcore:
/// the same files byte for byte, each tool reassembling the other's set, crash and libkdumpfile reading the result.
/// </summary>
[Trait("Category", "Interop")]
public sealed class SplitSaveInteropTests(SimulatedKdumpFixture fx) : IClassFixture<SimulatedKdumpFixture>
{
    private static string[] Names(RealTool.TempDir dir, string prefix, int n) =>
        [.. Enumerable.Range(1, n).Select(i => dir.File(prefix + i.ToString(CultureInfo.InvariantCulture)))];

    [Theory]
    [InlineData("-l", "31", 3, null)]
    [InlineData("-c", "1", 2, "65536")]
    [InlineData("-l", "0", 5, "4096")]
    public void Split_set_is_byte_identical_to_makedumpfile_s(string compression, string level, int files, string? splitblock)
    {
        using var dir = new RealTool.TempDir();
        var ours = Names(dir, "ours", files);
        var theirs = Names(dir, "md", files);
        string[] common = [compression, "-d", level, .. splitblock is null ? Array.Empty<string>() : ["--splitblock-size", splitblock]];
        var (code, _, err) = InProcessCli.Run(["save", .. common, "--split", "--num-threads", "2", fx.Vmcore, .. ours]);
        Assert.True(code == 0, err);
        Assert.Contains($"The dumpfiles are saved to {string.Join(", ", ours[..^1])}, and {ours[^1]}.\n", err);
        var md = RealTool.Run("makedumpfile", [.. common, "--split", fx.Vmcore, .. theirs], 300);
        Assert.True(md.ExitCode == 0, $"makedumpfile --split failed ({md.ExitCode}): {md.All}");
        for (int i = 0; i < files; i++)
        {
            var a = File.ReadAllBytes(ours[i]);
            var b = File.ReadAllBytes(theirs[i]);
            int at = a.AsSpan().CommonPrefixLength(b);
            Assert.True(a.Length == b.Length && at == a.Length,
                $"file {i + 1} of {files}: ours ({a.Length} bytes) and makedumpfile's ({b.Length} bytes) differ at byte {at}");
        }

        // The pages are shared out: with 5 files and 4 MiB splitblocks every file holds some.
        using var set = KdumpSplitSet.Open(ours);
        if (files == 5)
        {
            Assert.All(set.Parts, p => Assert.True(p.HeldPageCount > 0, $"{p.Path} holds no page"));
        }
    }

    [Fact]
    public void Each_tool_reassembles_the_other_s_set_into_the_same_file_that_crash_and_libkdumpfile_read()
    {
        using var dir = new RealTool.TempDir();
        var ours = Names(dir, "ours", 3);
        var theirs = Names(dir, "md", 3);
        string whole = dir.File("whole"), byMd = dir.File("joined-by-md"), byUs = dir.File("joined-by-us");
        Assert.Equal(0, InProcessCli.Run(["save", "-l", "-d", "31", "--splitblock-size", "65536", "--split", fx.Vmcore, .. ours]).Code);
        Assert.Equal(0, InProcessCli.Run(["save", "-l", "-d", "31", fx.Vmcore, whole]).Code);
        var md = RealTool.Run("makedumpfile", ["-l", "-d", "31", "--splitblock-size", "65536", "--split", fx.Vmcore, .. theirs], 300);
        Assert.True(md.ExitCode == 0, md.All);

        var r = RealTool.Run("makedumpfile", ["--reassemble", .. ours, byMd], 300);
        Assert.True(r.ExitCode == 0, $"makedumpfile --reassemble of our set failed ({r.ExitCode}): {r.All}");
        var (code, _, err) = InProcessCli.Run(["save", "--reassemble", .. theirs, byUs]);
        Assert.True(code == 0, err);
        Assert.EndsWith($"The dumpfile is saved to {byUs}.\nfadump save Completed.\n", err);
        Assert.Equal(File.ReadAllBytes(byMd), File.ReadAllBytes(byUs));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(byUs));

        // Page for page the unsplit save (the files differ only in the 1st bitmap's PFN 0x9f: makedumpfile's
        // cyclic path, which --split always takes, does not count the page the first PT_LOAD ends inside).
        using (var joined = KdumpCompressedDump.Open(byUs))
        using (var one = KdumpCompressedDump.Open(whole))
        {
            Assert.False(joined.IsSplit);
            Assert.Equal(one.DumpedPageCount, joined.DumpedPageCount);
            var a = new byte[4096];
            var b = new byte[4096];
            for (ulong pfn = 0; pfn < one.MaxPfn; pfn++)
            {
                var sa = one.ReadPage(pfn, a);
                var sb = joined.ReadPage(pfn, b);
                Assert.True((sa == PageState.Dumped) == (sb == PageState.Dumped), FormattableString.Invariant($"PFN 0x{pfn:x}: {sa} unsplit, {sb} reassembled"));
                Assert.True(a.AsSpan().SequenceEqual(b), FormattableString.Invariant($"PFN 0x{pfn:x}: the bytes differ"));
            }

            var wb = File.ReadAllBytes(whole);
            var jb = File.ReadAllBytes(byUs);
            Assert.Equal(wb.Length, jb.Length);
            var diffs = Enumerable.Range(0, wb.Length).Where(i => wb[i] != jb[i]).ToList();
            long pfn9f = joined.Header.Bitmap1Offset + (0x9f / 8);
            Assert.True(diffs.All(d => d == pfn9f), $"the files differ at {string.Join(", ", diffs.Take(8))}, not only at the 1st bitmap's byte of PFN 0x9f ({pfn9f})");
        }

        var crash = RealTool.Run("crash", ["--osrelease", byUs]);
        Assert.True(crash.ExitCode == 0, $"crash --osrelease failed ({crash.ExitCode}): {crash.All}");
        Assert.Equal(fx.First.Options.Release, crash.Stdout.Trim());

        // libkdumpfile reads the same bytes as we do, from the reassembled file and from the whole one.
        using var dump = DumpFile.Open(byUs);
        var samples = ((KdumpCompressedDump)dump).DumpedRanges().Take(64).Select(rg => (rg.Start, (int)Math.Min(rg.Size, 8192UL))).ToList();
        var reads = Libkdumpfile.Read(samples, byUs, whole);
        foreach (var rd in reads)
        {
            for (int i = 0; i < samples.Count; i++)
            {
                var expect = new byte[samples[i].Item2];
                Assert.Equal(expect.Length, dump.ReadPhysical(samples[i].Start, expect));
                Assert.True(rd.Data[i] is { } got && got.AsSpan().SequenceEqual(expect), FormattableString.Invariant($"{rd.Path}: libkdumpfile read other bytes at 0x{samples[i].Start:x}"));
            }
        }
    }

    [Fact]
    public void Info_counts_the_pages_of_the_set_as_info_on_the_unsplit_file()
    {
        using var dir = new RealTool.TempDir();
        var ours = Names(dir, "ours", 4);
        string whole = dir.File("whole");
        Assert.Equal(0, InProcessCli.Run(["save", "-l", "-d", "31", "--splitblock-size", "65536", "--split", fx.Vmcore, .. ours]).Code);
        Assert.Equal(0, InProcessCli.Run(["save", "-l", "-d", "31", fx.Vmcore, whole]).Code);
        var (code, json, err) = InProcessCli.Run(["info", "--json", .. ours]);
        Assert.True(code == 0, err);
        var (wcode, wjson, werr) = InProcessCli.Run(["info", "--json", whole]);
        Assert.True(wcode == 0, werr);
        using var set = JsonDocument.Parse(json);
        using var one = JsonDocument.Parse(wjson);
        ulong sum = 0;
        foreach (var p in ours)
        {
            using var part = KdumpCompressedDump.Open(p);
            sum += part.HeldPageCount;

            // One file alone: the pages it holds, and which PFNs they are.
            using var pj = JsonDocument.Parse(InProcessCli.Run("info", "--json", p).Out);
            Assert.Equal(part.HeldPageCount, pj.RootElement.GetProperty("dumped_pages").GetUInt64());
            Assert.Equal(part.StartPfn, pj.RootElement.GetProperty("split_range").GetProperty("start_pfn").GetUInt64());
            Assert.Equal(part.EndPfn, pj.RootElement.GetProperty("split_range").GetProperty("end_pfn").GetUInt64());
            Assert.Contains(FormattableString.Invariant($"Split file:   PFNs [0x{part.StartPfn:x}, 0x{part.EndPfn:x}) of a --split set; the other files hold the rest\n"), InProcessCli.Run("info", p).Out);
        }

        using (var w = KdumpCompressedDump.Open(whole))
        {
            Assert.Equal(w.DumpedPageCount, sum);
        }

        Assert.Equal(sum, set.RootElement.GetProperty("dumped_pages").GetUInt64());
        Assert.Equal(one.RootElement.GetProperty("dumped_pages").GetUInt64(), set.RootElement.GetProperty("dumped_pages").GetUInt64());
        Assert.Equal(one.RootElement.GetProperty("max_pfn").GetUInt64(), set.RootElement.GetProperty("max_pfn").GetUInt64());
        Assert.Equal(31, set.RootElement.GetProperty("dump_level").GetInt32());
        var (tcode, text, _) = InProcessCli.Run(["info", .. ours]);
        Assert.Equal(0, tcode);
        Assert.Contains(FormattableString.Invariant($"Dumped pages: {sum}\nSplit set:    4 files (--split)\n"), text);
        Assert.Equal(4, set.RootElement.GetProperty("split_files").GetInt32());
    }
}
