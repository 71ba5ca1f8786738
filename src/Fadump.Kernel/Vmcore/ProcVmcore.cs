using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using Fadump.Machine;

namespace Fadump.Kernel.Vmcore;

/// <summary>
/// /proc/vmcore as fs/proc/vmcore.c builds it from an ELF core header in old memory: the header is
/// validated, every PT_NOTE is read from physical memory and merged into one page-rounded note
/// buffer, each PT_LOAD becomes a page-aligned chunk of physical memory with a new p_offset; reads
/// are served from the header buffer, the notes buffer, then the chunks (non-RAM reads as zeros).
/// </summary>
public sealed class ProcVmcore : IRandomAccessSource
{
    private const int Ehdr = 64;
    private const int Phdr = 56;
    private readonly PhysicalMemory _memory;
    private readonly byte[] _header;
    private readonly byte[] _notes;
    private readonly (long FileOffset, ulong PhysStart, ulong Size)[] _chunks;

    private ProcVmcore(PhysicalMemory memory, byte[] header, byte[] notes, (long, ulong, ulong)[] chunks, long length)
    {
        _memory = memory;
        _header = header;
        _notes = notes;
        _chunks = chunks;
        Length = length;
    }

    public string Name => "/proc/vmcore";

    public long Length { get; }

    /// <summary>Builds /proc/vmcore (vmcore_init); returns null and a log line when the header is not sane (e_machine: the arch's).</summary>
    public static ProcVmcore? Build(PhysicalMemory memory, Arch.KernelArch arch, ulong elfcorehdr, ulong size, List<string> log)
    {
        bool bigEndian = arch.BigEndian;
        int pageSize = arch.PageSize;
        var eh = new byte[Ehdr];
        memory.Read(elfcorehdr, eh);
        ushort phnum = Endian.U16(eh.AsSpan(56), bigEndian);
        bool sane = eh[0] == 0x7f && eh[1] == 'E' && eh[2] == 'L' && eh[3] == 'F' && eh[4] == 2 && eh[6] == 1
            && Endian.U16(eh.AsSpan(16), bigEndian) == 4 && Endian.U16(eh.AsSpan(18), bigEndian) == arch.Machine.ElfMachine
            && Endian.U16(eh.AsSpan(52), bigEndian) == Ehdr && Endian.U16(eh.AsSpan(54), bigEndian) == Phdr
            && phnum > 0 && Ehdr + ((ulong)phnum * Phdr) <= size;
        if (!sane)
        {
            log.Add("Warning: Core image elf header is not sane");
            return null;
        }

        var ph = new byte[phnum * Phdr];
        memory.Read(elfcorehdr + Endian.U64(eh.AsSpan(32), bigEndian), ph);
        var notes = new List<byte>();
        var loads = new List<(ulong Off, ulong Paddr, ulong Vaddr, ulong Filesz, ulong Memsz, uint Flags)>();
        int nNotes = 0;
        for (int i = 0; i < phnum; i++)
        {
            var h = ElfHeaders.ReadProgramHeader(ph.AsSpan(i * Phdr, Phdr), bigEndian);
            ulong off = h.Offset, filesz = h.FileSize, memsz = h.MemorySize;
            if (h.Type == ElfProgramHeader.PtNote)
            {
                nNotes++;
                var seg = new byte[memsz];
                memory.Read(off, seg);
                // Walk the notes until a zero namesz; keep whole notes only (fs/proc/vmcore.c).
                int pos = 0;
                while (pos + 12 <= seg.Length)
                {
                    uint namesz = Endian.U32(seg.AsSpan(pos), bigEndian);
                    uint descsz = Endian.U32(seg.AsSpan(pos + 4), bigEndian);
                    if (namesz == 0)
                    {
                        break;
                    }

                    long sz = 12 + ((namesz + 3) & ~3L) + ((descsz + 3) & ~3L);
                    if (pos + sz > seg.Length)
                    {
                        log.Add("Warning: Exceeded p_memsz, dropping PT_NOTE entry n_namesz=0x" + namesz.ToString("x", System.Globalization.CultureInfo.InvariantCulture) + ", n_descsz=0x" + descsz.ToString("x", System.Globalization.CultureInfo.InvariantCulture));
                        break;
                    }

                    notes.AddRange(seg.AsSpan(pos, (int)sz));
                    pos += (int)sz;
                }
            }
            else if (h.Type == ElfProgramHeader.PtLoad)
            {
                loads.Add((off, h.PhysicalAddress, h.VirtualAddress, filesz, memsz, h.Flags));
            }
        }

        ulong page = (ulong)pageSize;
        int newPhnum = phnum - nNotes + 1;
        ulong elfsz = Roundup((ulong)(Ehdr + (newPhnum * Phdr)), page);
        ulong notesSz = Roundup((ulong)notes.Count, page);
        var header = new byte[elfsz];
        eh.CopyTo(header, 0);
        Endian.Write(header.AsSpan(56), (ushort)newPhnum, bigEndian);
        Endian.Write(header.AsSpan(32), (ulong)Ehdr, bigEndian);
        ElfHeaders.WriteProgramHeader(header.AsSpan(Ehdr), bigEndian, new(ElfProgramHeader.PtNote, 0, elfsz, 0, 0, (ulong)notes.Count, (ulong)notes.Count, 4));
        var chunks = new List<(long, ulong, ulong)>();
        ulong fileOff = elfsz + notesSz;
        for (int i = 0; i < loads.Count; i++)
        {
            var l = loads[i];
            ulong start = l.Off & ~(page - 1);
            ulong end = Roundup(l.Off + l.Memsz, page);
            ulong newOff = fileOff + (l.Off - start);
            ElfHeaders.WriteProgramHeader(header.AsSpan(Ehdr + ((i + 1) * Phdr)), bigEndian, new(ElfProgramHeader.PtLoad, l.Flags, newOff, l.Vaddr, l.Paddr, l.Filesz, l.Memsz, 0));
            chunks.Add(((long)fileOff, start, end - start));
            fileOff += end - start;
        }

        var noteBuf = new byte[notesSz];
        notes.CopyTo(noteBuf);
        return new ProcVmcore(memory, header, noteBuf, [.. chunks], (long)fileOff);
    }

    public int Read(long offset, Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length && offset + done < Length)
        {
            long o = offset + done;
            Span<byte> dest = buffer[done..];
            int n;
            if (o < _header.Length)
            {
                n = Math.Min(dest.Length, _header.Length - (int)o);
                _header.AsSpan((int)o, n).CopyTo(dest);
            }
            else if (o < _header.Length + _notes.Length)
            {
                int no = (int)(o - _header.Length);
                n = Math.Min(dest.Length, _notes.Length - no);
                _notes.AsSpan(no, n).CopyTo(dest);
            }
            else
            {
                int i = FindChunk(o);
                var (fo, phys, size) = _chunks[i];
                ulong rel = (ulong)(o - fo);
                n = (int)Math.Min((ulong)dest.Length, size - rel);
                ReadOldMemory(phys + rel, dest[..n]);
            }

            done += n;
        }

        return done;
    }

    private int FindChunk(long offset)
    {
        int lo = 0, hi = _chunks.Length - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >>> 1;
            if (_chunks[mid].FileOffset <= offset)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return lo;
    }

    /// <summary>read_from_oldmem: RAM is read, anything else reads as zeros (pfn_is_ram / copy_oldmem_page).</summary>
    private void ReadOldMemory(ulong address, Span<byte> dest)
    {
        while (!dest.IsEmpty)
        {
            int n = (int)Math.Min((ulong)dest.Length, PhysicalMemory.FrameSize - (address % PhysicalMemory.FrameSize));
            if (_memory.IsRam(address, (ulong)n))
            {
                _memory.Read(address, dest[..n]);
            }
            else
            {
                dest[..n].Clear();
            }

            dest = dest[n..];
            address += (ulong)n;
        }
    }

    private static ulong Roundup(ulong v, ulong a) => (v + a - 1) / a * a;

    public void Dispose()
    {
    }
}
