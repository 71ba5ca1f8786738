using Fadump.Formats.IO;

namespace Fadump.Formats.Elf;

/// <summary>
/// An ELF64 core (/proc/vmcore, kdump, FADump, QEMU dump-guest-memory): header, merged notes and
/// PT_LOADs, with random-access reads by physical address (p_paddr) or by p_vaddr.
/// Bytes past p_filesz and up to p_memsz read as zeros.
/// </summary>
public sealed class ElfCoreFile : IDisposable
{
    private readonly IRandomAccessSource _source;
    private readonly ElfLoadSegment[] _byPhys;
    private readonly ElfLoadSegment[] _byVirt;

    private ElfCoreFile(IRandomAccessSource source, DumpMachine machine, uint flags, ElfLoadSegment[] loads, List<ElfNote> notes)
    {
        _source = source;
        Machine = machine;
        Flags = flags;
        _byPhys = [.. loads.OrderBy(l => l.PhysicalAddress)];
        _byVirt = [.. loads.OrderBy(l => l.VirtualAddress)];
        Loads = loads;
        Notes = notes;
    }

    public DumpMachine Machine { get; }

    public uint Flags { get; }

    /// <summary>PT_LOADs in file order.</summary>
    public IReadOnlyList<ElfLoadSegment> Loads { get; }

    /// <summary>All notes of all PT_NOTE segments, in order.</summary>
    public IReadOnlyList<ElfNote> Notes { get; }

    public IRandomAccessSource Source => _source;

    /// <summary>Checks the ELF magic without parsing anything else.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> start) =>
        start.Length >= 4 && start[0] == 0x7f && start[1] == (byte)'E' && start[2] == (byte)'L' && start[3] == (byte)'F';

    /// <summary>Parses an ELF core. Takes ownership of the source.</summary>
    public static ElfCoreFile Open(IRandomAccessSource source)
    {
        try
        {
            return Parse(source);
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    public static ElfCoreFile Open(string path) => Open(new FileSource(path));

    private static ElfCoreFile Parse(IRandomAccessSource src)
    {
        string path = src.Name;
        Span<byte> eh = stackalloc byte[ElfLayout.EhdrSize];
        src.ReadExactly(0, eh, "ELF header");
        if (!HasMagic(eh))
        {
            throw new DumpFormatException(path, 0, "expected the ELF magic 7f 45 4c 46");
        }

        if (eh[ElfLayout.EiClass] != ElfLayout.ElfClass64)
        {
            throw new DumpFormatException(path, ElfLayout.EiClass,
                FormattableString.Invariant($"ELF class {eh[ElfLayout.EiClass]}: expected 2 (ELFCLASS64)"));
        }

        bool be = eh[ElfLayout.EiData] switch
        {
            ElfLayout.ElfData2Lsb => false,
            ElfLayout.ElfData2Msb => true,
            byte d => throw new DumpFormatException(path, ElfLayout.EiData,
                FormattableString.Invariant($"ELF data encoding {d}: expected 1 (little-endian) or 2 (big-endian)")),
        };

        ushort type = Endian.U16(eh[ElfLayout.EType..], be);
        if (type != ElfLayout.EtCore)
        {
            throw new DumpFormatException(path, ElfLayout.EType,
                FormattableString.Invariant($"ELF type {type}: expected 4 (ET_CORE)"));
        }

        ushort em = Endian.U16(eh[ElfLayout.EMachine..], be);
        DumpMachine machine = em switch
        {
            62 when !be => DumpMachine.X86_64,
            21 => new DumpMachine(DumpArch.Ppc64, be),
            _ => throw new DumpFormatException(path, ElfLayout.EMachine,
                FormattableString.Invariant($"ELF machine {em} ({(be ? "big" : "little")}-endian): expected 62 (EM_X86_64, little-endian) or 21 (EM_PPC64)")),
        };

        uint flags = Endian.U32(eh[ElfLayout.EFlags..], be);
        bool incomplete = !be && (flags & ElfLayout.DumpElfIncomplete) != 0;
        ulong phoff = Endian.U64(eh[ElfLayout.EPhoff..], be);
        ushort phentsize = Endian.U16(eh[ElfLayout.EPhentsize..], be);
        long phnum = Endian.U16(eh[ElfLayout.EPhnum..], be);
        if (phentsize != ElfLayout.PhdrSize)
        {
            throw new DumpFormatException(path, ElfLayout.EPhentsize,
                FormattableString.Invariant($"e_phentsize {phentsize}: expected {ElfLayout.PhdrSize}"));
        }

        if (phnum == ElfLayout.PnXnum)
        {
            // More than 65534 segments: the real count is in section header 0's sh_info.
            ulong shoff = Endian.U64(eh[ElfLayout.EShoff..], be);
            Span<byte> sh = stackalloc byte[ElfLayout.ShdrSize];
            src.ReadExactly(CheckedOffset(path, shoff, ElfLayout.EShoff, "e_shoff"), sh, "section header 0 (PN_XNUM)");
            phnum = Endian.U32(sh[ElfLayout.ShInfo..], be);
        }

        if (phnum == 0 || phnum > ElfLayout.MaxPhnum)
        {
            throw new DumpFormatException(path, ElfLayout.EPhnum,
                FormattableString.Invariant($"{phnum} program headers: expected 1 to {ElfLayout.MaxPhnum}"));
        }

        long phStart = CheckedOffset(path, phoff, ElfLayout.EPhoff, "e_phoff");
        long phBytes = phnum * ElfLayout.PhdrSize;

        // Sized by the data the file stores, not its logical length (a flattened file may be mostly hole).
        long stored = src.StoredLength;
        if (phBytes > stored)
        {
            throw new DumpFormatException(path, ElfLayout.EPhnum,
                FormattableString.Invariant($"{phnum} program headers ({phBytes} bytes): expected at most the {stored} bytes of data the file stores"));
        }

        if (phStart > src.Length - phBytes)
        {
            throw new DumpFormatException(path, ElfLayout.EPhoff,
                FormattableString.Invariant($"{phnum} program headers at 0x{phoff:x}: expected them inside the {src.Length}-byte file"));
        }

        var ph = new byte[phBytes];
        src.ReadExactly(phStart, ph, "program headers");

        var loads = new List<ElfLoadSegment>();
        var notes = new List<ElfNote>();
        long notesTotal = 0;
        for (int i = 0; i < phnum; i++)
        {
            long at = phStart + ((long)i * ElfLayout.PhdrSize);
            ReadOnlySpan<byte> p = ph.AsSpan(i * ElfLayout.PhdrSize, ElfLayout.PhdrSize);
            uint ptype = Endian.U32(p[ElfLayout.PType..], be);
            ulong off = Endian.U64(p[ElfLayout.POffset..], be);
            ulong filesz = Endian.U64(p[ElfLayout.PFilesz..], be);
            ulong memsz = Endian.U64(p[ElfLayout.PMemsz..], be);
            if (ptype == ElfLayout.PtNote)
            {
                if (filesz > (ulong)src.Length || off > (ulong)src.Length - filesz)
                {
                    throw new DumpFormatException(path, at,
                        FormattableString.Invariant($"PT_NOTE [0x{off:x}, +0x{filesz:x}): expected it inside the {src.Length}-byte file"));
                }

                notesTotal += (long)filesz;
                long maxNotes = Math.Min(ElfLayout.MaxNotesSize, stored);
                if (notesTotal > maxNotes)
                {
                    throw new DumpFormatException(path, at,
                        FormattableString.Invariant($"notes of {notesTotal} bytes: expected at most {maxNotes} ({(maxNotes == stored ? "the bytes of data the file stores" : "the notes limit")})"));
                }

                var buf = new byte[filesz];
                src.ReadExactly((long)off, buf, "PT_NOTE segment");
                notes.AddRange(ElfNote.ParseAll(buf, be, path, (long)off));
            }
            else if (ptype == ElfLayout.PtLoad)
            {
                ulong paddr = Endian.U64(p[ElfLayout.PPaddr..], be);
                ulong vaddr = Endian.U64(p[ElfLayout.PVaddr..], be);
                if (filesz > memsz)
                {
                    throw new DumpFormatException(path, at,
                        FormattableString.Invariant($"PT_LOAD p_filesz 0x{filesz:x} > p_memsz 0x{memsz:x}: expected p_filesz <= p_memsz"));
                }

                if (filesz > (ulong)src.Length || off > (ulong)src.Length - filesz)
                {
                    if (!incomplete)
                    {
                        // A copy cut short, a writer killed before it could flag the file, a power loss; or a bad header.
                        throw new DumpFormatException(path, at,
                            FormattableString.Invariant($"PT_LOAD [0x{off:x}, +0x{filesz:x}) of physical 0x{paddr:x}: expected it inside the {src.Length}-byte file: the dump is truncated (incomplete) or its program header is corrupt"));
                    }

                    // A dump flagged incomplete was cut short by its writer: what is missing reads as zeros.
                    filesz = off >= (ulong)src.Length ? 0 : (ulong)src.Length - off;
                }

                if (memsz > ulong.MaxValue - paddr || memsz > ulong.MaxValue - vaddr)
                {
                    throw new DumpFormatException(path, at,
                        FormattableString.Invariant($"PT_LOAD at 0x{paddr:x} of 0x{memsz:x} bytes: wraps the address space"));
                }

                if (memsz > 0)
                {
                    loads.Add(new ElfLoadSegment(paddr, vaddr, (long)off, filesz, memsz));
                }
            }
        }

        return new ElfCoreFile(src, machine, flags, [.. loads], notes);
    }

    private static long CheckedOffset(string path, ulong value, long fieldOffset, string field) =>
        value > long.MaxValue
            ? throw new DumpFormatException(path, fieldOffset, FormattableString.Invariant($"{field} 0x{value:x}: expected an offset inside the file"))
            : (long)value;

    /// <summary>
    /// Reads at a physical address. Returns the number of bytes read before the first byte that no
    /// PT_LOAD covers (0 when the address itself is not in the dump).
    /// </summary>
    public int ReadPhysical(ulong address, Span<byte> buffer) => ReadMapped(_byPhys, address, buffer, virt: false);

    /// <summary>Reads at a p_vaddr address; same contract as <see cref="ReadPhysical"/>.</summary>
    public int ReadVirtual(ulong address, Span<byte> buffer) => ReadMapped(_byVirt, address, buffer, virt: true);

    /// <summary>
    /// Reads a physical range that PT_LOADs may cover only in part: uncovered bytes read as zeros.
    /// Returns the count of covered bytes.
    /// </summary>
    public int ReadPhysicalSparse(ulong address, Span<byte> buffer)
    {
        int covered = 0, pos = 0;
        while (pos < buffer.Length)
        {
            int n = ReadPhysical(address + (ulong)pos, buffer[pos..]);
            covered += n;
            pos += n;
            if (pos >= buffer.Length)
            {
                break;
            }

            // Skip to the next segment start inside the buffer, zero-filling the gap.
            ulong a = address + (ulong)pos;
            ulong next = ulong.MaxValue;
            foreach (var s in _byPhys)
            {
                if (s.PhysicalAddress > a)
                {
                    next = s.PhysicalAddress;
                    break;
                }
            }

            int gap = (int)Math.Min((ulong)(buffer.Length - pos), next - a);
            buffer.Slice(pos, gap).Clear();
            pos += gap;
        }

        return covered;
    }

    /// <summary>True when some PT_LOAD covers the physical address.</summary>
    public bool ContainsPhysical(ulong address) => Find(_byPhys, address, virt: false) >= 0;

    private int ReadMapped(ElfLoadSegment[] sorted, ulong address, Span<byte> buffer, bool virt)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            ulong a = address + (ulong)done;
            int i = Find(sorted, a, virt);
            if (i < 0)
            {
                break;
            }

            var seg = sorted[i];
            ulong rel = a - (virt ? seg.VirtualAddress : seg.PhysicalAddress);
            int n = (int)Math.Min((ulong)(buffer.Length - done), seg.MemorySize - rel);
            Span<byte> dest = buffer.Slice(done, n);
            if (rel < seg.FileSize)
            {
                int inFile = (int)Math.Min((ulong)n, seg.FileSize - rel);
                _source.ReadExactly(seg.FileOffset + (long)rel, dest[..inFile], "PT_LOAD data");
                dest[inFile..].Clear();
            }
            else
            {
                dest.Clear();
            }

            done += n;
        }

        return done;
    }

    private static int Find(ElfLoadSegment[] sorted, ulong address, bool virt)
    {
        int lo = 0, hi = sorted.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            ulong start = virt ? sorted[mid].VirtualAddress : sorted[mid].PhysicalAddress;
            if (start <= address)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        // Overlapping segments (x86_64 kernel text alias) are rare; fall back to a scan backwards.
        for (int i = found; i >= 0; i--)
        {
            var s = sorted[i];
            ulong start = virt ? s.VirtualAddress : s.PhysicalAddress;
            if (address - start < s.MemorySize)
            {
                return i;
            }

            if (i < found - 8)
            {
                break;
            }
        }

        return -1;
    }

    public void Dispose() => _source.Dispose();
}
