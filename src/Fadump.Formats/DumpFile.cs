using Fadump.Formats.Elf;
using Fadump.Formats.IO;

namespace Fadump.Formats;

/// <summary>Opens a dump of any supported format, detected from its first bytes.</summary>
public static class DumpFile
{
    public static IDump Open(string path) => Open(new FileSource(path));

    /// <summary>Detects the format and opens the dump. Takes ownership of the source.</summary>
    public static IDump Open(IRandomAccessSource source)
    {
        try
        {
            Span<byte> magic = stackalloc byte[16];
            int n = source.Read(0, magic);
            magic = magic[..n];
            if (ElfCoreFile.HasMagic(magic))
            {
                return ElfDump.Open(source);
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
}
