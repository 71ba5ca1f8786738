using System.Globalization;
using Fadump.Cli;
using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Formats.Flattened;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;
using Fadump.Tools.Collector;

namespace Fadump.Interop.Tests;

/// <summary>
/// `fadump save` against makedumpfile 1.7.2 on a real Debian 6.1 kernel's memory (QEMU x86_64 fixture), and
/// our outputs in crash, libkdumpfile and makedumpfile.
/// </summary>
[Trait("Category", "Interop")]
public sealed class SaveInteropTests(SaveFixture fx) : IClassFixture<SaveFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Every_dump_level_dumps_the_pages_makedumpfile_dumps()
    {
        string std = fx.StandardElf;
        using var input = DumpFile.Open(SaveFixture.QemuElf);
        var table = new List<string> { "level  fadump-remaining  makedumpfile-remaining  bitmap2(ours)  bitmap2(makedumpfile)" };
        for (int level = 0; level <= 31; level++)
        {
            string ours = fx.File($"ours-{level}.kdump"), theirs = fx.File($"md-{level}.kdump");
            var r = DumpSaver.Save(input, ours, new SaveOptions { DumpLevel = level, Threads = 2 }, Ct);
            var md = RealTool.Run("makedumpfile", ["-f", "-d", level.ToString(CultureInfo.InvariantCulture), "--message-level", "16", std, theirs], 300);
            Assert.True(md.ExitCode == 0, md.All);
            var report = MakedumpfileReport.Parse(md.All);
            using var a = KdumpCompressedDump.Open(ours);
            using var b = KdumpCompressedDump.Open(theirs);
            table.Add(FormattableString.Invariant($"{level,5}  {r.DumpedPages,16}  {report["Remaining pages"],22}  {a.DumpedPageCount,13}  {b.DumpedPageCount,21}"));
            Assert.Equal(b.MaxPfn, a.MaxPfn);
            Assert.Equal(b.DumpedPageCount, a.DumpedPageCount);
            Assert.Equal(report["Original pages"], r.TotalPages);
            Assert.Equal(report["Remaining pages"], r.DumpedPages);
            Assert.Equal(report["Pages filled with zero"], r.ExcludedByClass[PageClassNames.Zero]);
            Assert.Equal(report["Non-private cache pages"], r.ExcludedByClass[PageClassNames.Cache]);
            Assert.Equal(report["Private cache pages"], r.ExcludedByClass[PageClassNames.CachePrivate]);
            Assert.Equal(report["User process data pages"], r.ExcludedByClass[PageClassNames.User] + r.ExcludedByClass[PageClassNames.Hugetlb]);
            Assert.Equal(report["Free pages"], r.ExcludedByClass[PageClassNames.Free]);
            // The page sets, not only their sizes: both bitmaps, at every level.
            Assert.Equal(b.MemoryRanges(), a.MemoryRanges());
            Assert.Equal(b.DumpedRanges(), a.DumpedRanges());

            File.Delete(ours);
            File.Delete(theirs);
        }

        TestContext.Current.SendDiagnosticMessage(string.Join('\n', table));
    }

    [Fact]
    public void Elf_output_at_level_31_keeps_the_pages_makedumpfile_keeps()
    {
        using var input = DumpFile.Open(SaveFixture.QemuElf);
        string ours = fx.File("ours31.elf"), theirs = fx.File("md31.elf");
        var r = DumpSaver.Save(input, ours, new SaveOptions { DumpLevel = 31, Format = SaveFormat.Elf }, Ct);
        var md = RealTool.Run("makedumpfile", ["-f", "-E", "-d", "31", "--message-level", "16", fx.StandardElf, theirs], 300);
        Assert.True(md.ExitCode == 0, md.All);
        Assert.Equal(MakedumpfileReport.Parse(md.All)["Remaining pages"], r.DumpedPages);

        // makedumpfile's own kdump at -d 31 of the same input: its bitmap says which pages are excluded by class.
        string re31 = fx.File("re.kdump"), direct31 = fx.File("md31-from-elf.kdump");
        var direct = RealTool.Run("makedumpfile", ["-f", "-d", "31", "--message-level", "16", fx.StandardElf, direct31], 300);
        Assert.True(direct.ExitCode == 0, direct.All);
        using var excludedBy = KdumpCompressedDump.Open(direct31);

        // Which pages and their bytes, page by page. Every page we hold is the input's, and makedumpfile holds
        // the same bytes there: the kept pages, and the short excluded runs (under 256 pages) that both write
        // inside a segment with the input's bytes (makedumpfile's write_elf_load_segment reads the whole
        // range: "those pages are not excluded"). makedumpfile also lists longer excluded runs as p_memsz past
        // p_filesz, which read as zeros; we leave them out of the segments. Those are the only pages that
        // differ, and makedumpfile's own bitmap excludes them.
        ulong same = 0, differ = 0;
        using (var a = DumpFile.Open(ours))
        using (var b = DumpFile.Open(theirs))
        {
            var pa = new byte[4096];
            var pb = new byte[4096];
            var pi = new byte[4096];
            for (ulong pfn = 0; pfn < input.MaxPfn; pfn++)
            {
                var sa = a.ReadPage(pfn, pa);
                var sb = b.ReadPage(pfn, pb);
                if (sa != PageState.Dumped && sb != PageState.Dumped)
                {
                    continue;
                }

                Assert.Equal(PageState.Dumped, input.ReadPage(pfn, pi));
                if (sa == PageState.Dumped)
                {
                    Assert.True(pa.AsSpan().SequenceEqual(pi), FormattableString.Invariant($"PFN 0x{pfn:x}: we hold bytes that are not the input's"));
                    Assert.True(sb == PageState.Dumped && pb.AsSpan().SequenceEqual(pa), FormattableString.Invariant($"PFN 0x{pfn:x}: makedumpfile's file has {sb} and other bytes"));
                    same++;
                    continue;
                }

                // (makedumpfile's kdump keeps zero pages in its bitmap, as the shared zero page: level 1 is their content.)
                Assert.False(pb.AsSpan().ContainsAnyExcept((byte)0), FormattableString.Invariant($"PFN 0x{pfn:x}: only makedumpfile holds it, and not as zeros past p_filesz"));
                Assert.True(excludedBy.GetPageState(pfn) == PageState.Excluded || !pi.AsSpan().ContainsAnyExcept((byte)0), FormattableString.Invariant($"PFN 0x{pfn:x}: we left out a page makedumpfile neither excludes nor sees as zeros"));
                differ++;
            }

            TestContext.Current.TestOutputHelper?.WriteLine($"{same} pages identical in both, {differ} excluded pages only in makedumpfile's p_memsz");
            Assert.True(same >= r.DumpedPages, $"{same} pages identical, {r.DumpedPages} dumped");
            Assert.True(differ > 0, "no long excluded run: the comparison of the two layouts proves nothing");
        }

        // makedumpfile re-filters our ELF at -d 31 and keeps what we kept, plus at most the excluded pages of short
        // runs inside our segments: a free block or compound page whose head lies outside the segments cannot be
        // told from inside them (is_in_segs), so its tails there stay. It keeps nothing we left out.
        var re = RealTool.Run("makedumpfile", ["-f", "-d", "31", "--message-level", "16", ours, re31], 300);
        Assert.True(re.ExitCode == 0, re.All);
        Assert.InRange(MakedumpfileReport.Parse(re.All)["Remaining pages"], r.DumpedPages, same);

        AssertCrashReadsTheRelease(ours);
    }

    /// <summary>crash --osrelease exits 0 and prints the fixture kernel's whole release, as it does for QEMU's own dump.</summary>
    private static void AssertCrashReadsTheRelease(string dump)
    {
        var c = RealTool.Run("crash", ["--osrelease", dump]);
        Assert.True(c.ExitCode == 0, $"crash --osrelease exited {c.ExitCode}: {c.All}");
        Assert.Equal(File.ReadAllText(Fixtures.Require("crash-osrelease.txt")).Trim(), c.Stdout.Trim());
    }

    [Theory]
    [InlineData(PageCompression.Zlib, "-c")]
    [InlineData(PageCompression.Lzo, "-l")]
    public void Makedumpfile_refilters_our_kdump_output(PageCompression compression, string flag)
    {
        using var input = DumpFile.Open(SaveFixture.QemuElf);
        string ours = fx.File($"ours0{flag}.kdump"), refiltered = fx.File($"re{flag}.kdump"), direct = fx.File($"md31{flag}.kdump");
        DumpSaver.Save(input, ours, new SaveOptions { DumpLevel = 0, Compression = compression }, Ct);
        var re = RealTool.Run("makedumpfile", ["-f", flag, "-d", "31", "--message-level", "16", ours, refiltered], 300);
        Assert.True(re.ExitCode == 0, re.All);
        var md = RealTool.Run("makedumpfile", ["-f", flag, "-d", "31", "--message-level", "16", fx.StandardElf, direct], 300);
        Assert.True(md.ExitCode == 0, md.All);
        using var a = KdumpCompressedDump.Open(refiltered);
        using var b = KdumpCompressedDump.Open(direct);
        Assert.Equal(b.DumpedRanges(), a.DumpedRanges());
        AssertCrashReadsTheRelease(ours);
    }

    [Theory]
    [InlineData(PageCompression.Zlib, SaveFormat.Kdump)]
    [InlineData(PageCompression.Lzo, SaveFormat.Kdump)]
    [InlineData(PageCompression.None, SaveFormat.Elf)]
    public void Libkdumpfile_reads_the_input_s_bytes_from_every_dumped_page(PageCompression compression, SaveFormat format)
    {
        using var input = DumpFile.Open(SaveFixture.QemuElf);
        string ours = fx.File($"lkdf-{compression}-{format}");
        var r = DumpSaver.Save(input, ours, new SaveOptions { DumpLevel = 31, Compression = compression, Format = format }, Ct);
        const string Script = """
            import sys, kdumpfile, kdumpfile.exceptions
            out = kdumpfile.kdumpfile(sys.argv[1]); ref = kdumpfile.kdumpfile(sys.argv[2])
            for k in (out, ref):
                if k.attr.get("arch.name") is None: k.attr["arch.name"] = "x86_64"
            maxpfn = int(sys.argv[3]); ok = bad = zeroed = missing = 0
            for pfn in range(maxpfn):
                # Only "no data here" (an excluded page or a hole) is an expected answer; any other error fails.
                try:
                    a = bytes(out.read(kdumpfile.KDUMP_MACHPHYSADDR, pfn * 4096, 4096))
                except kdumpfile.exceptions.NoDataException:
                    missing += 1
                    continue
                b = bytes(ref.read(kdumpfile.KDUMP_MACHPHYSADDR, pfn * 4096, 4096))
                if a == b: ok += 1
                elif a == bytes(4096): zeroed += 1
                else: bad += 1
            print(ok, bad, zeroed, missing)
            """;
        string script = fx.File("lkdf.py");
        File.WriteAllText(script, Script);
        var p = RealTool.Run("/usr/bin/python3", [script, ours, SaveFixture.QemuElf, r.MaxPfn.ToString(CultureInfo.InvariantCulture)], 600);
        Assert.True(p.ExitCode == 0, p.All);
        var parts = p.Stdout.Trim().Split(' ');
        Assert.Equal("0", parts[1]);

        // Every page we dumped is readable. ELF output also holds short runs of excluded pages inside its
        // segments, with their bytes (makedumpfile does the same: PFN_EXCLUDED); kdump output none.
        Assert.True(ulong.Parse(parts[0], CultureInfo.InvariantCulture) >= r.DumpedPages, p.Stdout);
        Assert.Equal(r.MaxPfn, parts.Take(4).Aggregate(0UL, (n, x) => n + ulong.Parse(x, CultureInfo.InvariantCulture)));
        if (format == SaveFormat.Kdump)
        {
            Assert.Equal("0", parts[2]);
        }
    }

    [Fact]
    public void Thread_counts_give_identical_files()
    {
        using var input = DumpFile.Open(SaveFixture.QemuElf);
        foreach (var (format, compression) in new[] { (SaveFormat.Kdump, PageCompression.Zlib), (SaveFormat.Kdump, PageCompression.Zstd), (SaveFormat.Elf, PageCompression.None) })
        {
            string one = fx.File("t1"), many = fx.File("t4");
            DumpSaver.Save(input, one, new SaveOptions { DumpLevel = 17, Compression = compression, Format = format, Threads = 1 }, Ct);
            DumpSaver.Save(input, many, new SaveOptions { DumpLevel = 17, Compression = compression, Format = format, Threads = 4 }, Ct);
            Assert.True(File.ReadAllBytes(one).AsSpan().SequenceEqual(File.ReadAllBytes(many)), $"{format} {compression}: threads 1 and 4 differ");
        }
    }

    [Fact]
    public void Flattened_then_rearranged_equals_a_direct_write()
    {
        using var input = DumpFile.Open(SaveFixture.QemuElf);
        string direct = fx.File("direct.kdump"), rearranged = fx.File("rearranged.kdump");
        DumpSaver.Save(input, direct, new SaveOptions { DumpLevel = 31, Compression = PageCompression.Lzo }, Ct);

        // Through the CLI and a pipe, as `fadump save -F ... | fadump save -R OUT` runs over ssh.
        string dll = typeof(FadumpCommand).Assembly.Location;
        string dotnet = RealTool.Require("dotnet");
        var p = RealTool.Run("sh", ["-c", $"'{dotnet}' '{dll}' save -F -l -d 31 --message-level 0 '{SaveFixture.QemuElf}' | '{dotnet}' '{dll}' save -R --message-level 0 '{rearranged}'"], 300);
        Assert.True(p.ExitCode == 0, p.All);
        Assert.True(File.ReadAllBytes(direct).AsSpan().SequenceEqual(File.ReadAllBytes(rearranged)), "flattened | rearranged differs from the direct write");

        // The stream overload and our rearranger agree too, and crash reads the flattened stream itself.
        using var ms = new MemoryStream();
        DumpSaver.Save(input, ms, new SaveOptions { DumpLevel = 31, Compression = PageCompression.Lzo }, Ct);
        string flat = fx.File("flat");
        File.WriteAllBytes(flat, ms.ToArray());
        using var sink = new MemorySink();
        ms.Position = 0;
        FlattenedRearranger.Rearrange(ms, sink);
        Assert.True(sink.ToArray().AsSpan().SequenceEqual(File.ReadAllBytes(direct)));
        AssertCrashReadsTheRelease(flat);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_full_disk_leaves_a_dump_flagged_incomplete_and_exits_1(bool elf)
    {
        using var mnt = new RealTool.TempDir();
        var m = RealTool.Run("mount", ["-t", "tmpfs", "-o", "size=8M", "tmpfs", mnt.Path]);
        Assert.True(m.ExitCode == 0, "mount tmpfs (needs root): " + m.All);
        try
        {
            string outFile = Path.Combine(mnt.Path, "vmcore");
            var so = new StringWriter();
            var se = new StringWriter();
            string[] args = ["save", "-d", "0", "--message-level", "7", .. elf ? new[] { "-E" } : ["-c"], SaveFixture.QemuElf, outFile];
            int rc = FadumpCommand.Run(args, so, se);
            Assert.Equal(1, rc);
            Assert.Contains("incomplete", se.ToString(), StringComparison.Ordinal);
            Assert.True(File.Exists(outFile), "the partial dump is kept under its name");
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(outFile));
            }
            using var d = DumpFile.Open(outFile);
            Assert.True(d.IsIncomplete);
            Assert.Equal(elf ? DumpFormat.Elf : DumpFormat.KdumpCompressed, d.Format);
        }
        finally
        {
            RealTool.Run("umount", [mnt.Path]);
        }
    }

    [Fact]
    public void A_size_limit_falls_back_to_the_next_dump_level()
    {
        string outFile = fx.File("limited");
        var so = new StringWriter();
        var se = new StringWriter();
        int rc = FadumpCommand.Run(["save", "-d", "0,31", "-L", "100M", "-l", "--message-level", "7", SaveFixture.QemuElf, outFile], so, se);
        Assert.True(rc == 0, se.ToString());
        Assert.Contains("retrying with dump level 31", se.ToString(), StringComparison.Ordinal);
        using var d = KdumpCompressedDump.Open(outFile);
        Assert.Equal(31, d.DumpLevel);
        Assert.False(d.IsIncomplete);
        Assert.True(new FileInfo(outFile).Length <= 100L << 20);

        // Without a fallback the limit leaves an incomplete dump and exit status 1.
        rc = FadumpCommand.Run(["save", "-f", "-d", "0", "-L", "10M", SaveFixture.QemuElf, outFile], so, se);
        Assert.Equal(1, rc);
        using var d2 = DumpFile.Open(outFile);
        Assert.True(d2.IsIncomplete);
    }

    [Fact]
    public void Qemu_s_flattened_kdump_refilters_like_its_elf_and_gets_a_phys_base_makedumpfile_can_use()
    {
        // QEMU 7.2 writes phys_base parsed as hex from a decimal: makedumpfile cannot read its kdump files.
        // Our output takes NUMBER(phys_base) from VMCOREINFO, and makedumpfile reads the log from it.
        using var flat = DumpFile.Open(Fixtures.Require("vmcore.kdump-zlib"));
        using var elf = DumpFile.Open(SaveFixture.QemuElf);
        Assert.True(flat.IsFlattened);
        string a = fx.File("from-flat.kdump"), b = fx.File("from-elf.kdump");
        DumpSaver.Save(flat, a, new SaveOptions { DumpLevel = 31, Compression = PageCompression.Zlib }, Ct);
        DumpSaver.Save(elf, b, new SaveOptions { DumpLevel = 31, Compression = PageCompression.Zlib }, Ct);
        using var da = KdumpCompressedDump.Open(a);
        using var db = KdumpCompressedDump.Open(b);
        Assert.Equal(db.DumpedRanges(), da.DumpedRanges());
        Assert.Equal((ulong)flat.VmcoreInfo!.Number("phys_base")!.Value, da.PhysBase);
        string log = fx.File("from-flat.dmesg");
        var md = RealTool.Run("makedumpfile", ["--dump-dmesg", a, log]);
        Assert.True(md.ExitCode == 0, md.All);
        Assert.Equal(File.ReadAllBytes(Fixtures.Require("makedumpfile-dmesg.txt")), File.ReadAllBytes(log));
    }

    [Fact]
    public void Dump_dmesg_writes_makedumpfile_s_log()
    {
        string log = fx.File("dmesg.txt");
        int rc = FadumpCommand.Run(["save", "--dump-dmesg", SaveFixture.QemuElf, log], new StringWriter(), new StringWriter());
        Assert.Equal(0, rc);
        Assert.Equal(File.ReadAllBytes(Fixtures.Require("makedumpfile-dmesg.txt")), File.ReadAllBytes(log));
    }
}
