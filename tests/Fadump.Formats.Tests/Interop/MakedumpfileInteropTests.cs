using Xunit;
using Fadump.Formats.Compression;
using Fadump.Formats.Flattened;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;
using Fadump.Formats.Tests.Kdump;

namespace Fadump.Formats.Tests.Interop;

/// <summary>Against the real makedumpfile (Debian 1.7.2): its output read by us, our output read by it.</summary>
[Trait("Category", "Interop")]
public sealed class MakedumpfileInteropTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly MakedumpfileInput _input = new();
    private readonly string _elf;

    public MakedumpfileInteropTests()
    {
        _elf = _dir.File("vmcore.elf");
        _input.WriteElf(_elf);
    }

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("-c -d 1", 1)]
    [InlineData("-d 1", 1)]
    [InlineData("-c -d 0", 0)]
    public void Its_kdump_output_reads_like_its_ELF_input(string options, int level)
    {
        string output = _dir.File("out.kdump");
        Tool.RunOk("makedumpfile", [.. options.Split(' '), _elf, output]);

        using var dump = DumpFile.Open(output);
        var kdump = Assert.IsType<KdumpCompressedDump>(dump);
        Assert.Equal(DumpMachine.X86_64, kdump.Machine);
        Assert.Equal(MakedumpfileInput.Release, kdump.Release);
        Assert.Equal("testnode", kdump.Nodename);
        Assert.Equal(level, kdump.DumpLevel);
        Assert.Equal(6, kdump.HeaderVersion);
        Assert.Equal(MakedumpfileInput.MaxPfn, kdump.MaxPfn);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(MakedumpfileInput.CrashTime), kdump.Timestamp);
        Assert.Equal(options.Contains("-c", StringComparison.Ordinal) ? KdumpStatus.CompressedZlib : KdumpStatus.None, kdump.Status);
        Assert.Equal(1, kdump.Header.NrCpus);
        Assert.Single(kdump.CpuStates());
        Assert.Equal(MakedumpfileInput.Release, kdump.VmcoreInfo!.OsRelease);
        _input.AssertMatches(dump);

        // Our writer lays out the same headers, bitmaps and descriptor table for the same input.
        var ours = new MemorySink();
        _input.WriteKdump(ours, level, options.Contains("-c", StringComparison.Ordinal) ? PageCompression.Zlib : PageCompression.None);
        var theirs = File.ReadAllBytes(output);
        long table = kdump.Header.DescTableOffset;
        Assert.Equal(theirs[..(int)table], ours.ToArray()[..(int)table]);
        AssertSameDescriptorLayout(theirs, ours.ToArray(), table, kdump.DumpedPageCount);
    }

    /// <summary>Same zero-page sharing and raw/compressed choice; compressed sizes may differ between zlib builds.</summary>
    private static void AssertSameDescriptorLayout(byte[] theirs, byte[] ours, long table, ulong count)
    {
        for (long i = 0; i < (long)count; i++)
        {
            int at = (int)(table + (i * 24));
            long theirOffset = BitConverter.ToInt64(theirs, at), ourOffset = BitConverter.ToInt64(ours, at);
            uint theirFlags = BitConverter.ToUInt32(theirs, at + 12), ourFlags = BitConverter.ToUInt32(ours, at + 12);
            Assert.True(theirFlags == ourFlags, $"descriptor {i}: flags {ourFlags}, makedumpfile {theirFlags}");
            Assert.True((theirOffset == table + ((long)count * 24)) == (ourOffset == table + ((long)count * 24)), $"descriptor {i}: zero-page sharing differs");
        }
    }

    [Fact]
    public void Its_flattened_output_reads_directly_and_rearranges_as_makedumpfile_R_does()
    {
        string flat = _dir.File("out.flat");
        Tool.RunOk("makedumpfile", ["-F", "-c", "-d", "1", _elf], stdoutFile: flat);

        using (var dump = DumpFile.Open(flat))
        {
            Assert.True(dump.IsFlattened);
            _input.AssertMatches(dump);
        }

        string theirs = _dir.File("theirs-R.kdump");
        Tool.RunOk("makedumpfile", ["-R", theirs], stdinFile: flat);
        string ours = _dir.File("ours-R.kdump");
        using (var input = File.OpenRead(flat))
        using (var handle = File.OpenHandle(ours, FileMode.Create, FileAccess.ReadWrite))
        {
            FlattenedRearranger.Rearrange(input, new FileSink(handle), flat);
        }

        Assert.Equal(File.ReadAllBytes(theirs), File.ReadAllBytes(ours));
    }

    [Theory]
    [InlineData("x86_64")]
    [InlineData("ppc64")]
    public void It_rearranges_our_flattened_output_into_our_direct_output(string machine)
    {
        var mem = SyntheticMemory.For(machine).WithLevel(31);
        string flat = _dir.File("ours.flat");
        using (var f = File.Create(flat))
        using (var sink = new FlattenedSink(f))
        {
            mem.Write(sink, 31, PageCompression.Zlib);
        }

        string rearranged = _dir.File("rearranged.kdump");
        Tool.RunOk("makedumpfile", ["-R", rearranged], stdinFile: flat);
        Assert.Equal(mem.WriteKdump(31, PageCompression.Zlib), File.ReadAllBytes(rearranged));
    }

    [Fact]
    public void Its_split_files_read_as_one_set()
    {
        // --splitblock-size is in KiB: 1 MiB blocks let 4 MiB of RAM split at all.
        string a = _dir.File("split.1"), b = _dir.File("split.2");
        Tool.RunOk("makedumpfile", ["-c", "-d", "1", "--splitblock-size", "1024", "--split", _elf, a, b]);
        using var dump = DumpFile.Open([a, b]);
        var set = Assert.IsType<KdumpSplitSet>(dump);
        Assert.All(set.Parts, p => Assert.True(p.EndPfn > p.StartPfn, $"{p.Path}: empty range [{p.StartPfn}, {p.EndPfn})"));
        Assert.Empty(set.MissingPfnRanges);
        _input.AssertMatches(dump);
    }

    [Fact]
    public void It_reassembles_our_split_files()
    {
        string a = _dir.File("ours.1"), b = _dir.File("ours.2"), whole = _dir.File("reassembled.kdump");
        _input.WriteKdump(a, split: (0, 300));
        _input.WriteKdump(b, split: (300, MakedumpfileInput.MaxPfn));
        Tool.RunOk("makedumpfile", ["--reassemble", a, b, whole]);
        using var dump = DumpFile.Open(whole);
        Assert.False(((KdumpCompressedDump)dump).IsSplit);
        _input.AssertMatches(dump);
    }

    /// <summary>
    /// makedumpfile -d 31 re-filters our kdump-compressed files: it reads the mem_map pages through our bitmaps
    /// and descriptors, drops free, anonymous and page-cache pages, and copies the rest byte for byte.
    /// </summary>
    [Theory]
    [InlineData(PageCompression.Zlib, "-d 31")]
    [InlineData(PageCompression.Lzo, "-d 31")]
    [InlineData(PageCompression.None, "-c -d 31")]
    public void It_refilters_our_kdump_files(PageCompression compression, string options)
    {
        string ours = _dir.File("ours.kdump"), refiltered = _dir.File("refiltered.kdump");
        _input.WriteKdump(ours, level: 1, compression);
        Tool.RunOk("makedumpfile", [.. options.Split(' '), ours, refiltered]);

        using var dump = Assert.IsType<KdumpCompressedDump>(DumpFile.Open(refiltered));
        Assert.Equal(31, dump.DumpLevel);
        Assert.Equal(MakedumpfileInput.MaxPfn, dump.MaxPfn);
        var page = new byte[MakedumpfileInput.PageSize];
        int kept = 0, dropped = 0;
        for (ulong pfn = 0; pfn < MakedumpfileInput.MaxPfn; pfn++)
        {
            var state = dump.ReadPage(pfn, page);
            var want = _input.KeptAtLevel31(pfn) ? PageState.Dumped : MakedumpfileInput.IsRam(pfn) ? PageState.Excluded : PageState.NotPresent;
            Assert.True(want == state, $"PFN {pfn}: {state}, expected {want}");
            if (state == PageState.Dumped)
            {
                Assert.True(_input.Page(pfn).AsSpan().SequenceEqual(page), $"PFN {pfn}: content differs");
                kept++;
            }
            else if (state == PageState.Excluded)
            {
                dropped++;
            }
        }

        Assert.Equal(64 + 10 + 11, dropped);
        Assert.Equal(600 + 384 - dropped, kept);
    }
}
