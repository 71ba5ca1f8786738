using Xunit;
using Fadump.Formats.Compression;
using Fadump.Formats.Flattened;
using Fadump.Formats.Tests.Kdump;

namespace Fadump.Formats.Tests.Interop;

/// <summary>
/// crash 8.0.2 (x86_64 build): --osrelease reads the dump header and VMCOREINFO without a vmlinux. It only
/// handles dumps of its own architecture ("machine type mismatch" for ppc64), so x86_64 only.
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
}
