using Fadump.Formats.Compression;
using Fadump.Formats.Flattened;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;
using Fadump.Formats.Tests.Kdump;

namespace Fadump.Formats.Tests.Robustness;

/// <summary>
/// The valid files that the mutation test starts from: every format (ELF, kdump-compressed, flattened around
/// both), machine and byte order, and the page compressions whose decoders parse untrusted data. The kdump
/// samples are small (4 KiB pages, 300 PFNs: header, sub-header, bitmaps and table in the first 5 blocks) so
/// that thousands of mutations run in seconds.
/// </summary>
internal static class MutationCorpus
{
    public static readonly string[] Names =
    [
        "elf-x86_64", "elf-ppc64le", "elf-ppc64",
        "kdump-x86_64-zlib", "kdump-x86_64-lzo", "kdump-ppc64-zlib", "kdump-ppc64-lzo",
        "kdump-x86_64-snappy", "kdump-ppc64le-zstd", "kdump-x86_64-none", "kdump-x86_64-incomplete",
        "flat-kdump-x86_64-zlib", "flat-kdump-ppc64-lzo", "flat-elf-x86_64",
    ];

    private static readonly (ulong Start, ulong End)[] SmallRam = [(0, 24), (30, 40), (250, 262)];

    public static byte[] Build(string name) => name switch
    {
        "elf-x86_64" => TestDumps.BuildElf(DumpMachine.X86_64, 4096),
        "elf-ppc64le" => TestDumps.BuildElf(DumpMachine.Ppc64le, 65536),
        "elf-ppc64" => TestDumps.BuildElf(DumpMachine.Ppc64, 65536),
        "kdump-x86_64-zlib" => Small(DumpMachine.X86_64).WriteKdump(31, PageCompression.Zlib),
        "kdump-x86_64-lzo" => Small(DumpMachine.X86_64).WriteKdump(31, PageCompression.Lzo),
        "kdump-ppc64-zlib" => Small(DumpMachine.Ppc64).WriteKdump(31, PageCompression.Zlib),
        "kdump-ppc64-lzo" => Small(DumpMachine.Ppc64).WriteKdump(31, PageCompression.Lzo),
        "kdump-x86_64-snappy" => Small(DumpMachine.X86_64).WriteKdump(31, PageCompression.Snappy),
        "kdump-ppc64le-zstd" => Small(DumpMachine.Ppc64le).WriteKdump(31, PageCompression.Zstd),
        "kdump-x86_64-none" => Small(DumpMachine.X86_64).WriteKdump(1, PageCompression.None),
        "kdump-x86_64-incomplete" => Incomplete(),
        "flat-kdump-x86_64-zlib" => Flattened(sink => Small(DumpMachine.X86_64).Write(sink, 31, PageCompression.Zlib)),
        "flat-kdump-ppc64-lzo" => Flattened(sink => Small(DumpMachine.Ppc64).Write(sink, 31, PageCompression.Lzo)),
        "flat-elf-x86_64" => Flattened(sink => Small(DumpMachine.X86_64).WriteElf(sink)),
        _ => throw new ArgumentException(name),
    };

    /// <summary>Where a sample's structure is (headers, bitmaps, tables): the mutator aims there most of the time.</summary>
    public static int HotBytes(string name) => name.StartsWith("flat-", StringComparison.Ordinal) ? 4096 + (6 * 4096) : name.StartsWith("kdump-", StringComparison.Ordinal) ? 6 * 4096 : 8192;

    private static SyntheticMemory Small(DumpMachine m) => new SyntheticMemory(m, 4096, 300, SmallRam).WithLevel(31);

    private static byte[] Flattened(Action<IPositionedSink> write)
    {
        using var ms = new MemoryStream();
        using (var sink = new FlattenedSink(ms, leaveOpen: true))
        {
            write(sink);
        }

        return ms.ToArray();
    }

    /// <summary>A dump whose writer stopped half-way (ENOSPC): status 0x8, the later descriptors zero.</summary>
    private static byte[] Incomplete()
    {
        var mem = Small(DumpMachine.X86_64);
        var sink = new MemorySink();
        var w = new KdumpCompressedWriter(sink, mem.Options(31, PageCompression.Zlib));
        mem.WritePages(w, 0, 35);
        w.MarkIncomplete();
        return sink.ToArray();
    }
}
