using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Formats.Flattened;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;
using Fadump.Tools.Collector;
using Fadump.Tools.Tests.Synthetic;
using static System.FormattableString;

namespace Fadump.Tools.Tests.Collector;

/// <summary>DumpSaver's outputs and failure policy on a small synthetic x86_64 dump (no real tools).</summary>
public sealed class DumpSaverTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>4 MiB of RAM: every third page zero, the others random or text, struct pages readable; with
    /// <paramref name="zeroRun"/> also PFNs 600–899 left zero (a run long enough to end an ELF segment).</summary>
    private static IDump Synthetic(bool zeroRun = false)
    {
        var x = new SyntheticX86_64();
        x.MapVmemmap();
        var k = x.Kernel;
        k.Info.AddNumber("PG_lru", 4);
        var rng = new Random(7);
        for (int pfn = 0; pfn < 1024; pfn++)
        {
            if (pfn % 3 == 0 || (zeroRun && pfn is >= 600 and < 900))
            {
                continue; // stays zero
            }

            var page = k.Ram.AsSpan(pfn * 4096, 4096);
            if (!page.ContainsAnyExcept((byte)0))
            {
                // Half random, half text-like: both compressible and incompressible pages.
                if (pfn % 2 == 0)
                {
                    rng.NextBytes(page);
                }
                else
                {
                    System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat($"page {pfn} of the synthetic kernel; ", 200)).AsSpan(0, 4096), page);
                }
            }
        }

        return k.Open();
    }

    [Theory]
    [InlineData(PageCompression.None)]
    [InlineData(PageCompression.Zlib)]
    [InlineData(PageCompression.Lzo)]
    [InlineData(PageCompression.Snappy)]
    [InlineData(PageCompression.Zstd)]
    public void Kdump_output_reads_back_the_input_s_pages(PageCompression compression)
    {
        using var input = Synthetic();
        using var dir = new TempDir();
        var r = DumpSaver.Save(input, dir.File("out"), new SaveOptions { DumpLevel = 1, Compression = compression, Threads = 3 }, Ct);
        using var output = DumpFile.Open(dir.File("out"));
        AssertSamePages(input, output, r, 1);
        Assert.Equal(1, output.DumpLevel);
        Assert.True(r.ExcludedByClass[PageClassNames.Zero] >= 10);
    }

    [Fact]
    public void Elf_output_reads_back_the_input_s_pages_and_drops_zero_pages()
    {
        using var input = Synthetic(zeroRun: true);
        using var dir = new TempDir();
        var r = DumpSaver.Save(input, dir.File("out"), new SaveOptions { DumpLevel = 1, Format = SaveFormat.Elf }, Ct);
        using var output = DumpFile.Open(dir.File("out"));
        Assert.Equal(DumpFormat.Elf, output.Format);
        AssertSamePages(input, output, r, 1);
        // The input's notes, then ours with the dump level (makedumpfile records none in an ELF dump).
        Assert.Equal(input.Notes.Count + 1, output.Notes.Count);
        Assert.Equal(DumpLevelNote.Name, output.Notes[^1].Name);

        // Dropped, not only counted: the long zero run is outside every PT_LOAD (short zero runs stay inside
        // segments as zeros, as makedumpfile writes them).
        var page = new byte[4096];
        for (ulong pfn = 600; pfn < 900; pfn++)
        {
            input.ReadPage(pfn, page);
            Assert.False(page.AsSpan().ContainsAnyExcept((byte)0), $"PFN {pfn}: the source's zero run has data");
            Assert.True(output.ReadPage(pfn, page) != PageState.Dumped, $"PFN {pfn}: a zero page of the long run is in the ELF output");
        }
    }

    [Theory]
    [InlineData(SaveFormat.Kdump)]
    [InlineData(SaveFormat.Elf)]
    public void Flattened_stream_rearranges_to_the_file_output(SaveFormat format)
    {
        using var input = Synthetic();
        using var dir = new TempDir();
        var o = new SaveOptions { DumpLevel = 31, Format = format, Compression = format == SaveFormat.Kdump ? PageCompression.Zlib : PageCompression.None };
        DumpSaver.Save(input, dir.File("direct"), o, Ct);
        DumpSaver.Save(input, dir.File("flat"), o with { Flattened = true }, Ct);
        using var ms = new MemoryStream();
        var r = DumpSaver.Save(input, ms, o, Ct);
        Assert.Equal(File.ReadAllBytes(dir.File("flat")), ms.ToArray());
        ms.Position = 0;
        using var sink = new MemorySink();
        FlattenedRearranger.Rearrange(ms, sink);
        Assert.Equal(File.ReadAllBytes(dir.File("direct")), sink.ToArray());
        Assert.Equal(sink.Length, r.BytesWritten);
        using var flat = DumpFile.Open(dir.File("flat"));
        Assert.True(flat.IsFlattened);
    }

    [Theory]
    [InlineData(SaveFormat.Kdump)]
    [InlineData(SaveFormat.Elf)]
    public void A_size_limit_leaves_a_private_file_flagged_incomplete(SaveFormat format)
    {
        using var input = Synthetic();
        using var dir = new TempDir();
        var r = DumpSaver.Save(input, dir.File("out"), new SaveOptions { DumpLevel = 0, Format = format, SizeLimit = 1 << 20 }, Ct);
        Assert.True(r.Incomplete);
        Assert.Contains("size limit", r.Error, StringComparison.Ordinal);
        Assert.True(new FileInfo(dir.File("out")).Length <= 1 << 20);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(dir.File("out")));
        }

        using var output = DumpFile.Open(dir.File("out"));
        Assert.True(output.IsIncomplete);
        Assert.Empty(Directory.GetFiles(dir.Path, ".*"));   // no temporary file left behind
    }

    [Theory]
    [InlineData(SaveFormat.Kdump, 1)]
    [InlineData(SaveFormat.Kdump, 4)]
    [InlineData(SaveFormat.Elf, 3)]
    public void Durability_is_reported_in_pfn_order_every_n_bytes_then_once_complete(SaveFormat format, int threads)
    {
        using var input = Synthetic();
        using var dir = new TempDir();
        var reports = new List<(ulong Through, long FileBytes)>();
        var missing = new List<string>();
        string? part = null;
        var o = new SaveOptions
        {
            DumpLevel = 1,
            Format = format,
            Compression = format == SaveFormat.Kdump ? PageCompression.Zlib : PageCompression.None,
            Threads = threads,
            DurableReportBytes = 256 << 10,
            DurableThrough = through =>
            {
                part ??= Directory.GetFiles(dir.Path, ".out.part-*").SingleOrDefault();
                reports.Add((through, part is not null && File.Exists(part) ? new FileInfo(part).Length : -1));
                if (through != ulong.MaxValue && part is not null)
                {
                    // Every page below the reported address reads back from the file as it is now (a copy by cp:
                    // the writer holds it with FileShare.None, which .NET enforces against its own opens).
                    string copy = dir.File("snapshot");
                    using (var cp = System.Diagnostics.Process.Start("cp", [part, copy])!)
                    {
                        cp.WaitForExit();
                    }

                    using var partial = Fadump.Tools.Service.PhypPartialDump.Open(copy);
                    var a = new byte[4096];
                    var b = new byte[4096];
                    for (ulong pfn = 0; pfn < through / 4096; pfn++)
                    {
                        input.ReadPage(pfn, a);
                        var st = partial.ReadPage(pfn, b);
                        if ((st != PageState.Dumped && a.AsSpan().ContainsAnyExcept((byte)0)) || !a.AsSpan().SequenceEqual(b))
                        {
                            missing.Add(Invariant($"report 0x{through:x}: PFN 0x{pfn:x} is {st} in the file"));
                            break;
                        }
                    }
                }
            },
        };

        var r = DumpSaver.Save(input, dir.File("out"), o, Ct);

        Assert.False(r.Incomplete);
        Assert.Empty(missing);

        // Several reports during the save, ascending, each with the file already that long on disk; the last once committed.
        Assert.True(reports.Count >= 4, $"{reports.Count} reports for {r.BytesWritten} bytes");
        Assert.Equal(ulong.MaxValue, reports[^1].Through);
        var during = reports[..^1];
        Assert.True(during.Zip(during.Skip(1)).All(p => p.First.Through < p.Second.Through && p.First.FileBytes <= p.Second.FileBytes));
        Assert.All(during, x => Assert.True(x.Through % 4096 == 0 && x.Through <= input.MaxPfn * 4096 && x.FileBytes > 0));

        // At most one report a batch (up to 1 MiB of pages): the interval, or the batch where that is coarser.
        Assert.True(during.Count >= (r.BytesWritten / (1 << 20)) - 1, $"{during.Count} reports for {r.BytesWritten} bytes");
    }

    [Fact]
    public void No_durability_is_reported_during_a_save_with_fallback_levels()
    {
        using var input = Synthetic();
        using var dir = new TempDir();
        var reports = new List<ulong>();

        DumpSaver.Save(input, dir.File("out"), new SaveOptions { DumpLevel = 0, FallbackLevels = [1], DurableReportBytes = 64 << 10, DurableThrough = reports.Add }, Ct);

        // A retry at the next level starts a new file: memory released after the first one's reports would be lost.
        Assert.Equal([ulong.MaxValue], reports);
    }

    [Fact]
    public void Fallback_levels_retry_until_the_dump_fits()
    {
        using var input = Synthetic();
        using var dir = new TempDir();
        var r = DumpSaver.Save(input, dir.File("out"), new SaveOptions { DumpLevel = 0, FallbackLevels = [1, 31], SizeLimit = 3500 * 1024 }, Ct);
        Assert.False(r.Incomplete);
        Assert.Equal(1, r.DumpLevelUsed);
        Assert.Single(r.Warnings, w => w.Contains("retrying with dump level 1", StringComparison.Ordinal));
        using var output = KdumpCompressedDump.Open(dir.File("out"));
        Assert.Equal(1, output.DumpLevel);
    }

    [Fact]
    public void Progress_reaches_done_with_rate_and_position()
    {
        using var input = Synthetic();
        using var dir = new TempDir();
        var seen = new List<SaveProgress>();
        DumpSaver.Save(input, dir.File("out"), new SaveOptions { DumpLevel = 0, Progress = new Collect(seen) }, Ct);
        var last = seen[^1];
        Assert.Equal(SavePhase.Done, last.Phase);
        Assert.Equal(1.0, last.Fraction);
        Assert.True(last.BytesRead > 0 && last.BytesWritten > 0);
    }

    [Fact]
    public void Cancellation_keeps_an_incomplete_file_and_throws()
    {
        using var input = Synthetic();
        using var dir = new TempDir();
        using var cts = new CancellationTokenSource();
        var o = new SaveOptions { DumpLevel = 0, Progress = new Collect([], cts.Cancel) };
        Assert.ThrowsAny<OperationCanceledException>(() => DumpSaver.Save(input, dir.File("out"), o, cts.Token));
        using var output = DumpFile.Open(dir.File("out"));
        Assert.True(output.IsIncomplete);
    }

    /// <summary>
    /// Page by page against the source, not the saver's own count: every page the output holds reads as the
    /// source's bytes (kdump keeps zero pages as the shared zero page, ELF keeps short zero runs inside its
    /// segments: both read as zeros, so they compare equal); every page it lacks is one the dump level allows to
    /// drop by an independent classification of the source (this synthetic kernel's struct pages are random
    /// bytes, so only the zero class is known: the levels used here are 0 and 1) and reads as zeros; and the
    /// counts are the source's: at level 1 exactly its zero pages are excluded.
    /// </summary>
    private static void AssertSamePages(IDump input, IDump output, SaveResult r, int dumpLevel)
    {
        Assert.True(dumpLevel is 0 or 1, "this oracle knows only the zero class of the synthetic kernel");
        var a = new byte[4096];
        var b = new byte[4096];
        ulong zero = 0;
        for (ulong pfn = 0; pfn < input.MaxPfn; pfn++)
        {
            input.ReadPage(pfn, a);
            b.AsSpan().Fill(0x5a);
            var state = output.ReadPage(pfn, b);
            bool sourceZero = !a.AsSpan().ContainsAnyExcept((byte)0);
            zero += sourceZero ? 1UL : 0;
            if (state == PageState.Dumped)
            {
                Assert.True(a.AsSpan().SequenceEqual(b), $"PFN {pfn}: kept but its bytes differ from the source");
            }
            else
            {
                Assert.True(dumpLevel == 1 && sourceZero, $"PFN {pfn}: {state}, but dump level {dumpLevel} does not allow dropping it (source zero: {sourceZero})");
                Assert.False(b.AsSpan().ContainsAnyExcept((byte)0), $"PFN {pfn}: {state} but does not read as zeros");
            }
        }

        Assert.True(zero > 0, "the synthetic source has zero pages");
        Assert.Equal(input.MaxPfn, r.TotalPages);
        Assert.Equal(dumpLevel == 1 ? zero : 0, r.ExcludedByClass.GetValueOrDefault(PageClassNames.Zero));
        Assert.Equal(input.MaxPfn - (dumpLevel == 1 ? zero : 0), r.DumpedPages);
    }

    private sealed class Collect(List<SaveProgress> into, Action? onFirst = null) : IProgress<SaveProgress>
    {
        public void Report(SaveProgress value)
        {
            into.Add(value);
            onFirst?.Invoke();
        }
    }
}
