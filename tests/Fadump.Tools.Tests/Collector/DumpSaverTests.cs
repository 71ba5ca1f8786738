using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Formats.Flattened;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;
using Fadump.Tools.Collector;
using Fadump.Tools.Tests.Synthetic;

namespace Fadump.Tools.Tests.Collector;

/// <summary>DumpSaver's outputs and failure policy on a small synthetic x86_64 dump (no real tools).</summary>
public sealed class DumpSaverTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>4 MiB of RAM: every third page zero, the others random or text, struct pages readable.</summary>
    private static IDump Synthetic()
    {
        var x = new SyntheticX86_64();
        x.MapVmemmap();
        var k = x.Kernel;
        k.Info.AddNumber("PG_lru", 4);
        var rng = new Random(7);
        for (int pfn = 0; pfn < 1024; pfn++)
        {
            if (pfn % 3 == 0)
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
        AssertSamePages(input, output, r);
        Assert.Equal(1, output.DumpLevel);
        Assert.True(r.ExcludedByClass[PageClassNames.Zero] >= 10);
    }

    [Fact]
    public void Elf_output_reads_back_the_input_s_pages_and_drops_zero_pages()
    {
        using var input = Synthetic();
        using var dir = new TempDir();
        var r = DumpSaver.Save(input, dir.File("out"), new SaveOptions { DumpLevel = 1, Format = SaveFormat.Elf }, Ct);
        using var output = DumpFile.Open(dir.File("out"));
        Assert.Equal(DumpFormat.Elf, output.Format);
        AssertSamePages(input, output, r);
        Assert.Equal(input.Notes.Count, output.Notes.Count);
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

    private static void AssertSamePages(IDump input, IDump output, SaveResult r)
    {
        var a = new byte[4096];
        var b = new byte[4096];
        ulong dumped = 0;
        for (ulong pfn = 0; pfn < input.MaxPfn; pfn++)
        {
            input.ReadPage(pfn, a);
            var state = output.ReadPage(pfn, b);
            Assert.True(a.AsSpan().SequenceEqual(b) || (state != PageState.Dumped && !b.AsSpan().ContainsAnyExcept((byte)0)), $"PFN {pfn}: {state}");
            if (state == PageState.Dumped && a.AsSpan().ContainsAnyExcept((byte)0))
            {
                dumped++;
            }
        }

        Assert.Equal(r.DumpedPages, dumped);
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
