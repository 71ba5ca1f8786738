using System.Text;

namespace Fadump.Formats.Elf;

/// <summary>One ELF note: {u32 namesz, u32 descsz, u32 type}, name and desc each padded to 4 bytes.</summary>
public sealed record ElfNote(string Name, uint Type, byte[] Desc)
{
    public const uint NT_PRSTATUS = 1;
    public const uint NT_PRPSINFO = 3;
    public const uint NT_TASKSTRUCT = 4;
    public const uint VMCOREINFO_TYPE = 0;
    public const int HeaderSize = 12;

    /// <summary>Cap on a single note's name or descriptor: far above any real note (VMCOREINFO is one page).</summary>
    public const int MaxFieldSize = 16 << 20;

    public int EncodedSize => HeaderSize + Align4(Encoding.ASCII.GetByteCount(Name) + 1) + Align4(Desc.Length);

    public static int Align4(int n) => (n + 3) & ~3;

    /// <summary>
    /// Parses a note segment. Stops at a zero header (the kernel's terminator) or at the end.
    /// A note that runs past the segment is an error, as for /proc/vmcore ("Exceeded p_memsz").
    /// </summary>
    public static List<ElfNote> ParseAll(ReadOnlySpan<byte> data, bool bigEndian, string path, long baseOffset)
    {
        var notes = new List<ElfNote>();
        int pos = 0;
        while (pos + HeaderSize <= data.Length)
        {
            uint namesz = Endian.U32(data[pos..], bigEndian);
            uint descsz = Endian.U32(data[(pos + 4)..], bigEndian);
            uint type = Endian.U32(data[(pos + 8)..], bigEndian);
            if (namesz == 0 && descsz == 0 && type == 0)
            {
                break;
            }

            if (namesz > MaxFieldSize || descsz > MaxFieldSize)
            {
                throw new DumpFormatException(path, baseOffset + pos,
                    FormattableString.Invariant($"ELF note with namesz {namesz} / descsz {descsz}: expected at most {MaxFieldSize}"));
            }

            long end = (long)pos + HeaderSize + Align4((int)namesz) + Align4((int)descsz);
            if (end > data.Length && (long)pos + HeaderSize + Align4((int)namesz) + descsz > data.Length)
            {
                throw new DumpFormatException(path, baseOffset + pos,
                    FormattableString.Invariant($"ELF note of {end - pos} bytes runs past the end of its {data.Length}-byte segment"));
            }

            ReadOnlySpan<byte> nameBytes = data.Slice(pos + HeaderSize, (int)namesz);
            int nul = nameBytes.IndexOf((byte)0);
            string name = Encoding.ASCII.GetString(nul >= 0 ? nameBytes[..nul] : nameBytes);
            byte[] desc = data.Slice(pos + HeaderSize + Align4((int)namesz), (int)descsz).ToArray();
            notes.Add(new ElfNote(name, type, desc));
            pos = (int)Math.Min(end, data.Length);
        }

        return notes;
    }

    /// <summary>Encodes notes back to back, as one merged PT_NOTE segment.</summary>
    public static byte[] EncodeAll(IEnumerable<ElfNote> notes, bool bigEndian)
    {
        var list = notes.ToList();
        var buf = new byte[list.Sum(n => n.EncodedSize)];
        int pos = 0;
        foreach (var n in list)
        {
            pos += n.Encode(buf.AsSpan(pos), bigEndian);
        }

        return buf;
    }

    public int Encode(Span<byte> dest, bool bigEndian)
    {
        int namesz = Encoding.ASCII.GetByteCount(Name) + 1;
        Endian.Write(dest, (uint)namesz, bigEndian);
        Endian.Write(dest[4..], (uint)Desc.Length, bigEndian);
        Endian.Write(dest[8..], Type, bigEndian);
        dest.Slice(HeaderSize, Align4(namesz)).Clear();
        Encoding.ASCII.GetBytes(Name, dest[HeaderSize..]);
        int d = HeaderSize + Align4(namesz);
        dest.Slice(d, Align4(Desc.Length)).Clear();
        Desc.CopyTo(dest[d..]);
        return d + Align4(Desc.Length);
    }
}
