using Fadump.Formats;
using Fadump.Tools.Collector;

namespace Fadump.Interop.Tests;

/// <summary>
/// The real QEMU x86_64 dump, and the same memory as an ELF core makedumpfile 1.7.2 can read (it cannot read
/// QEMU's own ELF layout): written once by `fadump convert --format elf -d 0`, with linear-map p_vaddrs.
/// </summary>
public sealed class SaveFixture : IDisposable
{
    private readonly Lazy<string> _standardElf;
    private readonly RealTool.TempDir _dir;

    public SaveFixture()
    {
        _dir = new RealTool.TempDir();
        _standardElf = new Lazy<string>(() =>
        {
            string path = _dir.File("standard.elf");
            using var input = DumpFile.Open(QemuElf);
            var r = DumpSaver.Save(input, path, new SaveOptions { DumpLevel = 0, Format = SaveFormat.Elf });
            Assert.False(r.Incomplete, r.Error);
            return path;
        });
    }

    /// <summary>A path in the fixture's scratch directory.</summary>
    public string File(string name) => _dir.File(name);

    public static string QemuElf => Fixtures.Require("vmcore.elf");

    /// <summary>An ELF of the QEMU dump that makedumpfile reads.</summary>
    public string StandardElf => _standardElf.Value;

    public void Dispose() => _dir.Dispose();
}
