using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Formats.Kdump;

namespace Fadump.Interop.Tests;

/// <summary>
/// The real QEMU ELF dump converted once per test class with our writers: ours.kdump (zlib, dump level 1:
/// zero pages shared, all of QEMU's ranges up to 4 GiB), ours-cut.kdump (lzo, cut at the end of RAM as
/// makedumpfile cuts its own output) and ours.elf (/proc/vmcore-like program headers). With FADUMP_INTEROP_KEEP set to a
/// directory, the files go there and are kept (to run the real tools on them by hand).
/// </summary>
public sealed class ConvertedQemuDump : IDisposable
{
    private readonly RealTool.TempDir _dir = new();
    private readonly string _path;

    public ConvertedQemuDump()
    {
        _path = Environment.GetEnvironmentVariable("FADUMP_INTEROP_KEEP") is { Length: > 0 } keep
            ? Directory.CreateDirectory(keep).FullName
            : _dir.Path;
        Source = Fixtures.Require(QemuDumps.Elf);
        Kdump = File("ours.kdump");
        Elf = File("ours.elf");
        using var src = DumpFile.Open(Source);
        Header = DumpConverter.ToKdump(src, Kdump, PageCompression.Zlib, dumpLevel: 1);

        // The guest has 512 MiB (make-dumps.sh: -m 512): RAM is PT_LOAD [0xc0000, 0x20000000); the two
        // ranges above it are the VGA framebuffer and the BIOS, for which the kernel has no mem_map.
        Assert.Contains(src.MemoryRanges(), r => r.End == RamEnd);
        CutKdump = File("ours-cut.kdump");
        DumpConverter.ToKdump(src, CutKdump, PageCompression.Lzo, dumpLevel: 1, maxPfn: RamEnd / 4096);
        DumpConverter.ToElf(src, Elf);
        PhysBase = src.VmcoreInfo!.Number("phys_base")!.Value;
    }

    /// <summary>QEMU's vmcore.elf.</summary>
    public string Source { get; }

    public string Kdump { get; }

    public string Elf { get; }

    /// <summary>Physical end of the guest's RAM.</summary>
    public const ulong RamEnd = 0x20000000;

    /// <summary>Lzo, max PFN at the end of RAM: no PFNs past the last memory section.</summary>
    public string CutKdump { get; }

    public KdumpHeader Header { get; }

    /// <summary>NUMBER(phys_base) of the guest's VMCOREINFO.</summary>
    public long PhysBase { get; }

    public string File(string name) => Path.Combine(_path, name);

    public void Dispose() => _dir.Dispose();
}
