using Xunit;
using Fadump.Formats.Compression;
using Fadump.Formats.Flattened;
using Fadump.Formats.Tests.Kdump;

namespace Fadump.Formats.Tests.Interop;

/// <summary>
/// crash 8.0.2 (x86_64 build): --osrelease reads the dump header and VMCOREINFO without a vmlinux. It only
/// handles dumps of its own architecture: ppc64 files are rejected whoever wrote them (recorded below).
/// </summary>
[Trait("Category", "Interop")]
public sealed class CrashInteropTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(PageCompression.Zlib, false)]
    [InlineData(PageCompression.None, false)]
    [InlineData(PageCompression.Zlib, true)]
    public void It_prints_the_release_of_our_dump(PageCompression compression, bool flattened)
    {
        var mem = SyntheticMemory.For("x86_64").WithLevel(31);
        string path = _dir.File("ours.kdump");
        using (var f = File.Create(path))
        {
            if (flattened)
            {
                using var sink = new FlattenedSink(f, leaveOpen: true);
                mem.Write(sink, 31, compression);
            }
            else
            {
                f.Write(mem.WriteKdump(31, compression));
            }
        }

        var r = Tool.RunOk("crash", ["--osrelease", path]);
        Assert.Equal(SyntheticMemory.Release, r.Stdout.Trim());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void It_prints_the_release_of_our_elf_dump(bool flattened)
    {
        var mem = SyntheticMemory.For("x86_64");
        string path = _dir.File("ours.elf");
        using (var f = File.Create(path))
        {
            if (flattened)
            {
                using var sink = new FlattenedSink(f, leaveOpen: true);
                mem.WriteElf(sink);
            }
            else
            {
                f.Write(mem.WriteElf());
            }
        }

        var r = Tool.RunOk("crash", ["--osrelease", path]);
        Assert.Equal(SyntheticMemory.Release, r.Stdout.Trim());
    }

    /// <summary>
    /// The x86_64 build of crash refuses other architectures' dumps. kdump-compressed: "WARNING: machine type
    /// mismatch: crash utility: X86_64, FILE: PPC64", then "unknown", exit 1. ELF: it does not recognise a
    /// ppc64 ELF core as a dump at all and prints "unknown", exit 1, as for any other file.
    /// </summary>
    [Theory]
    [InlineData("ppc64", "kdump")]
    [InlineData("ppc64le", "kdump")]
    [InlineData("ppc64", "elf")]
    [InlineData("ppc64le", "elf")]
    public void It_rejects_ppc64_dumps(string machine, string format)
    {
        var mem = SyntheticMemory.For(machine);
        string path = _dir.Write("ours." + format, format == "elf" ? mem.WriteElf() : mem.WriteKdump(31, PageCompression.Zlib));

        var r = Tool.Run("crash", ["--osrelease", path]);
        TestContext.Current.TestOutputHelper?.WriteLine(r.ToString());
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("unknown", r.Stdout.Trim().Split('\n')[^1].Trim());
        if (format == "kdump")
        {
            Assert.Contains("WARNING: machine type mismatch:", r.Stdout, StringComparison.Ordinal);
            Assert.Contains($"{path}: PPC64", r.Stdout, StringComparison.Ordinal);
        }
    }
}
