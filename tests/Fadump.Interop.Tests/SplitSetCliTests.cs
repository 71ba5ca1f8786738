using System.Text.Json;
using Fadump.Cli;
using Fadump.Formats;
using Fadump.Formats.Kdump;

namespace Fadump.Interop.Tests;

/// <summary>The inspection commands on a makedumpfile --split set of the real QEMU dump.</summary>
[Trait("Category", "Interop")]
public sealed class SplitSetCliTests(ConvertedQemuDump converted) : IClassFixture<ConvertedQemuDump>
{
    private static (int Code, string Out, string Err) Fadump(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = FadumpCommand.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void Info_and_dmesg_read_a_split_set_like_the_whole_dump()
    {
        string a = converted.File("split.1"), b = converted.File("split.2");
        var md = RealTool.Run("makedumpfile", ["-l", "-d", "1", "--splitblock-size", "1024", "--split", converted.Elf, a, b], 300);
        Assert.True(md.ExitCode == 0, $"makedumpfile --split failed ({md.ExitCode}): {md.All}");
        var (code, info, err) = Fadump("info", a, b, "--json");
        Assert.True(code == 0, err);
        var (wcode, whole, werr) = Fadump("info", converted.Elf, "--json");
        Assert.True(wcode == 0, werr);
        using var split = JsonDocument.Parse(info);
        using var one = JsonDocument.Parse(whole);
        Assert.Equal(one.RootElement.GetProperty("osrelease").GetString(), split.RootElement.GetProperty("osrelease").GetString());
        Assert.Equal(1, split.RootElement.GetProperty("dump_level").GetInt32());

        var (dcode, dmesg, derr) = Fadump("dmesg", a, b);
        Assert.True(dcode == 0, derr);
        Assert.Equal(File.ReadAllText(Fixtures.Require("makedumpfile-dmesg.txt"), System.Text.Encoding.Latin1), dmesg);

        // The memory too: the set holds every RAM page of the whole dump, as its bytes (level 1 keeps zero
        // pages as makedumpfile's shared zero page, so they read as zeros), and each page in exactly one part.
        using var set = KdumpSplitSet.Open([a, b]);
        using var elf = DumpFile.Open(converted.Elf);
        using var partA = KdumpCompressedDump.Open(a);
        using var partB = KdumpCompressedDump.Open(b);
        Assert.True(partA.DumpedPageCount > 0 && partB.DumpedPageCount > 0, "both parts hold pages");
        var pe = new byte[elf.PageSize];
        var ps = new byte[elf.PageSize];
        ulong compared = 0;

        // makedumpfile cuts max_mapnr to the last mem_map section: QEMU's firmware ranges above it are not RAM.
        Assert.InRange(set.MaxPfn, 1UL << 17, elf.MaxPfn); // 512 MiB of RAM
        for (ulong pfn = 0; pfn < set.MaxPfn; pfn++)
        {
            var se = elf.ReadPage(pfn, pe);
            var ss = set.ReadPage(pfn, ps);
            if (se != PageState.Dumped)
            {
                Assert.True(ss != PageState.Dumped, FormattableString.Invariant($"PFN 0x{pfn:x}: in the split set, not in the dump"));
                continue;
            }

            Assert.True(ss == PageState.Dumped, FormattableString.Invariant($"PFN 0x{pfn:x}: {ss} in the split set"));
            Assert.True(pe.AsSpan().SequenceEqual(ps), FormattableString.Invariant($"PFN 0x{pfn:x}: the split set's bytes differ"));
            compared++;
        }

        // Each part carries the whole dump bitmap (its header's start/end PFN say which pages it holds).
        Assert.Equal(partA.DumpedPageCount, compared);
        Assert.Equal(partB.DumpedPageCount, compared);
    }
}
