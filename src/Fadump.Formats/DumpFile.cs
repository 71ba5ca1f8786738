using Fadump.Formats.Elf;
using Fadump.Formats.Flattened;
using Fadump.Formats.IO;
using Fadump.Formats.Kdump;

namespace Fadump.Formats;

/// <summary>Opens a dump of any supported format, detected from its first bytes.</summary>
public static class DumpFile
{
    private const int MagicLength = 16;

    public static IDump Open(string path) => Open(new FileSource(path));

    /// <summary>
    /// Opens several files: one is opened as usual; more must be the files of a makedumpfile --split set
    /// (plain or flattened), read as one dump.
    /// </summary>
    public static IDump Open(IEnumerable<string> paths)
    {
        var list = paths.ToList();
        return list.Count switch
        {
            0 => throw new ArgumentException("no dump file given", nameof(paths)),
            1 => Open(list[0]),
            _ => KdumpSplitSet.Open(list),
        };
    }

    /// <summary>Detects the format and opens the dump. Takes ownership of the source.</summary>
    public static IDump Open(IRandomAccessSource source)
    {
        try
        {
            Span<byte> magic = stackalloc byte[MagicLength];
            int n = source.Read(0, magic);
            magic = magic[..n];
            if (ElfCoreFile.HasMagic(magic))
            {
                return ElfDump.Open(source);
            }

            if (KdumpHeader.HasSignature(magic))
            {
                return KdumpCompressedDump.Open(source);
            }

            if (FlattenedSource.HasSignature(magic))
            {
                return OpenFlattened(FlattenedSource.Open(source));
            }

            throw new DumpFormatException(source.Name, 0,
                "unknown dump format: expected an ELF core, a kdump-compressed file (\"KDUMP   \") or a flattened file (\"makedumpfile\")");
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    private static IDump OpenFlattened(FlattenedSource flat)
    {
        Span<byte> magic = stackalloc byte[MagicLength];
        int n = flat.Read(0, magic);
        magic = magic[..n];
        if (ElfCoreFile.HasMagic(magic))
        {
            return ElfDump.Open(flat, flattened: true);
        }

        if (KdumpHeader.HasSignature(magic))
        {
            return KdumpCompressedDump.Open(flat, flattened: true);
        }

        throw new DumpFormatException(flat.Name, 0,
            "flattened file: expected an ELF core or a kdump-compressed file at logical offset 0");
    }
}
