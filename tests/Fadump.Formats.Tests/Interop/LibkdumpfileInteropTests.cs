using System.Globalization;
using System.Security.Cryptography;
using Xunit;
using Fadump.Formats.Compression;
using Fadump.Formats.Flattened;
using Fadump.Formats.Tests.Kdump;

namespace Fadump.Formats.Tests.Interop;

/// <summary>
/// libkdumpfile 0.5.1 (python3-libkdumpfile): opens our files in all three byte order / page size variants and
/// reads machine-physical addresses (KDUMP_MACHPHYSADDR needs no address translation setup), from our
/// kdump-compressed files with every compression and from our ELF files. Version 0.5.1
/// does not open flattened files at all, makedumpfile's own included ("Cannot set file.set.0.fd: Unknown file
/// format"), so flattened output is checked with crash and makedumpfile -R instead.
/// </summary>
[Trait("Category", "Interop")]
public sealed class LibkdumpfileInteropTests : IDisposable
{
    private const string Script = """
        import sys, hashlib, kdumpfile, kdumpfile.exceptions
        k = kdumpfile.kdumpfile(sys.argv[1])
        ps = int(sys.argv[2])
        print("format", k.attr['file.format'])
        print("arch", k.attr['arch.name'])
        print("page_size", k.attr['arch.page_size'])
        print("max_pfn", k.attr['max_pfn'])
        print("release", k.attr['linux.uts.release'])
        for pfn in sys.argv[3:]:
            try:
                data = k.read(kdumpfile.KDUMP_MACHPHYSADDR, int(pfn) * ps, ps)
                print(pfn, hashlib.sha256(data).hexdigest())
            except kdumpfile.exceptions.NoDataException:
                print(pfn, "nodata")
        """;

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("x86_64", "kdump", PageCompression.Zlib)]
    [InlineData("ppc64le", "kdump", PageCompression.Zlib)]
    [InlineData("ppc64", "kdump", PageCompression.Zlib)]
    [InlineData("ppc64", "kdump", PageCompression.None)]
    [InlineData("x86_64", "kdump", PageCompression.Lzo)]
    [InlineData("x86_64", "kdump", PageCompression.Snappy)]
    [InlineData("x86_64", "kdump", PageCompression.Zstd)]
    [InlineData("ppc64", "kdump", PageCompression.Lzo)]
    [InlineData("ppc64le", "kdump", PageCompression.Zstd)]
    [InlineData("ppc64", "kdump", PageCompression.Snappy)]
    [InlineData("x86_64", "elf", PageCompression.None)]
    [InlineData("ppc64le", "elf", PageCompression.None)]
    [InlineData("ppc64", "elf", PageCompression.None)]
    public void It_reads_the_same_pages_as_we_wrote(string machine, string container, PageCompression compression)
    {
        bool elf = container == "elf";

        // ELF has no dump level: every RAM page is in the file.
        var mem = elf ? SyntheticMemory.For(machine) : SyntheticMemory.For(machine).WithLevel(31);
        string path = _dir.Write("ours." + container, elf ? mem.WriteElf() : mem.WriteKdump(31, compression));

        string script = _dir.Write("read.py", System.Text.Encoding.UTF8.GetBytes(Script));

        // Every dumped page, plus an excluded page and a hole.
        var pfns = mem.DumpedPfns().Append(3UL).Append(110UL).Distinct().ToList();
        var r = Tool.RunOk(Tool.Python, [script, path, mem.PageSize.ToString(CultureInfo.InvariantCulture), .. pfns.Select(p => p.ToString(CultureInfo.InvariantCulture))]);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', 2)).ToDictionary(l => l[0], l => l[1]);

        Assert.Equal(elf ? "elf" : "diskdump", lines["format"]);
        Assert.Equal(machine == "x86_64" ? "x86_64" : "ppc64", lines["arch"]);
        Assert.Equal(mem.PageSize.ToString(CultureInfo.InvariantCulture), lines["page_size"]);
        // kdump: max_mapnr; ELF: the end of the highest PT_LOAD.
        Assert.Equal((elf ? mem.RamRuns[^1].End : mem.MaxPfn).ToString(CultureInfo.InvariantCulture), lines["max_pfn"]);
        Assert.Equal(SyntheticMemory.Release, lines["release"]);
        foreach (var pfn in pfns)
        {
            string want = mem.IsDumped(pfn) ? Convert.ToHexStringLower(SHA256.HashData(mem.Page(pfn))) : "nodata";
            Assert.True(want == lines[pfn.ToString(CultureInfo.InvariantCulture)], $"PFN {pfn}: libkdumpfile {lines[pfn.ToString(CultureInfo.InvariantCulture)]}, expected {want}");
        }
    }

    /// <summary>Recorded limitation of 0.5.1: flattened files do not open, whoever wrote them (QEMU's too).</summary>
    [Fact]
    public void It_does_not_open_flattened_files()
    {
        var mem = SyntheticMemory.For("x86_64");
        string path = _dir.File("ours.flat");
        using (var f = File.Create(path))
        using (var sink = new FlattenedSink(f))
        {
            mem.Write(sink, 31, PageCompression.Zlib);
        }

        string script = _dir.Write("open.py", "import sys, kdumpfile\nkdumpfile.kdumpfile(sys.argv[1])\n"u8.ToArray());
        var r = Tool.Run(Tool.Python, [script, path]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("Cannot set file.set.0.fd: Unknown file format", r.Stderr, StringComparison.Ordinal);
    }
}
