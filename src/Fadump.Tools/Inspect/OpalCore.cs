using System.Buffers.Binary;
using Fadump.Formats;
using Fadump.Formats.Elf;

namespace Fadump.Tools.Inspect;

/// <summary>One thread of an OPAL core: its NT_PRSTATUS, labelled by PIR (kernel: opal-core.c fill_prstatus).</summary>
public sealed record OpalThread(int Pir, PrStatus Status, bool Crashing);

/// <summary>One PT_LOAD of an OPAL core: p_vaddr is the physical address (OPAL base + p_paddr).</summary>
public sealed record OpalRegion(ulong VirtualAddress, ulong PhysicalAddress, ulong Size, long FileOffset, ulong FileSize)
{
    public ulong VirtualEnd => VirtualAddress + Size;
}

/// <summary>
/// The OPAL core of a PowerNV MPIPL crash (/sys/firmware/opal/mpipl/core; kernel:
/// arch/powerpc/platforms/powernv/opal-core.c create_opalcore): a big-endian ELF64 ppc64 core whatever the
/// kernel's byte order, one NT_PRSTATUS per active thread (the crashing one first, pr_pid = 100 + PIR), an NT_AUXV
/// note with OPAL's entry point (AT_ENTRY), and up to 8 PT_LOADs of skiboot's memory. It has no VMCOREINFO.
/// The ELF container is <see cref="ElfCoreFile"/>'s; this type only reads what makes it an OPAL core.
/// </summary>
public sealed class OpalCore
{
    /// <summary>opal-core.c fill_prstatus: "add an offset of '100' to every PIR to avoid misinterpretations in GDB".</summary>
    public const int PirPidOffset = 100;

    /// <summary>include/uapi/linux/elf.h NT_AUXV.</summary>
    public const uint NtAuxv = 6;

    public const ulong AtNull = 0;
    public const ulong AtEntry = 9;

    /// <summary>pr_cursig of the crashing thread: SIGUSR1 when the kernel initiated the crash, SIGTERM otherwise.</summary>
    public const short SigUsr1 = 10;
    public const short SigTerm = 15;

    private OpalCore(ElfDump dump, List<OpalThread> threads, ulong? entry, List<OpalRegion> regions, List<string> warnings)
    {
        Dump = dump;
        Threads = threads;
        OpalEntry = entry;
        Regions = regions;
        Warnings = warnings;
    }

    internal ElfDump Dump { get; }

    public string Path => Dump.Path;

    /// <summary>Threads in note order: the crashing thread first.</summary>
    public IReadOnlyList<OpalThread> Threads { get; }

    public OpalThread CrashingThread => Threads[0];

    /// <summary>True for SIGUSR1 (the kernel initiated the crash), false for SIGTERM, null for anything else.</summary>
    public bool? KernelInitiated => CrashingThread.Status.CurSig switch
    {
        SigUsr1 => true,
        SigTerm => false,
        _ => null,
    };

    /// <summary>AT_ENTRY of the NT_AUXV note (the device tree's opal-boot-address), or null when absent.</summary>
    public ulong? OpalEntry { get; }

    /// <summary>PT_LOADs in file order.</summary>
    public IReadOnlyList<OpalRegion> Regions { get; }

    /// <summary>OPAL's base address: p_vaddr − p_paddr of the first PT_LOAD (0x30000000 on real systems); 0 without one.</summary>
    public ulong OpalBase => Regions.Count == 0 ? 0 : Regions[0].VirtualAddress - Regions[0].PhysicalAddress;

    /// <summary>What is odd but does not stop the core from being read.</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>
    /// The OPAL core view of a dump, or null when it is not one: a big-endian ppc64 ELF core with no VMCOREINFO,
    /// an NT_AUXV note, and at least one NT_PRSTATUS, every pr_pid at least 100.
    /// </summary>
    /// <exception cref="DumpFormatException">It is an OPAL core whose notes are damaged.</exception>
    public static OpalCore? TryRead(IDump dump)
    {
        ArgumentNullException.ThrowIfNull(dump);
        if (dump is not ElfDump elf || elf.Machine != DumpMachine.Ppc64 || elf.VmcoreInfo is not null)
        {
            return null;
        }

        var auxv = elf.Notes.FirstOrDefault(n => n.Type == NtAuxv && n.Name == "CORE");
        var prstatus = elf.Notes.Where(n => n.Type == ElfNote.NT_PRSTATUS && n.Name == "CORE").ToList();
        if (auxv is null || prstatus.Count == 0)
        {
            return null;
        }

        var warnings = new List<string>();
        var statuses = new List<PrStatus>(prstatus.Count);
        for (int i = 0; i < prstatus.Count; i++)
        {
            statuses.Add(PrStatus.Parse(prstatus[i].Desc, elf.Machine, elf.Path, NoteOffset(elf, prstatus[i])));
        }

        if (statuses.Any(s => s.Pid < PirPidOffset))
        {
            return null;
        }

        var threads = new List<OpalThread>(statuses.Count);
        var seen = new HashSet<int>();
        for (int i = 0; i < statuses.Count; i++)
        {
            int pir = statuses[i].Pid - PirPidOffset;
            if (!seen.Add(pir))
            {
                warnings.Add(FormattableString.Invariant($"NT_PRSTATUS note {i}: PIR 0x{pir:x} appears twice"));
            }

            if (i > 0 && statuses[i].CurSig != 0)
            {
                warnings.Add(FormattableString.Invariant($"NT_PRSTATUS note {i} (PIR 0x{pir:x}): pr_cursig {statuses[i].CurSig}: expected 0 (only the crashing thread, the first note, has a signal)"));
            }

            threads.Add(new OpalThread(pir, statuses[i], Crashing: i == 0));
        }

        if (statuses[0].CurSig is not (SigUsr1 or SigTerm))
        {
            warnings.Add(FormattableString.Invariant($"the crashing thread (PIR 0x{threads[0].Pir:x}) has pr_cursig {statuses[0].CurSig}: expected {SigUsr1} (SIGUSR1, crash initiated by the kernel) or {SigTerm} (SIGTERM)"));
        }

        ulong? entry = ParseAuxv(auxv, elf, warnings);
        var regions = elf.Elf.Loads.Select(l => new OpalRegion(l.VirtualAddress, l.PhysicalAddress, l.MemorySize, l.FileOffset, l.FileSize)).ToList();
        if (regions.Count == 0)
        {
            warnings.Add("no PT_LOAD: the core holds no OPAL memory");
        }
        else if (regions.Any(r => r.VirtualAddress - r.PhysicalAddress != regions[0].VirtualAddress - regions[0].PhysicalAddress))
        {
            warnings.Add("the PT_LOADs disagree on the OPAL base (p_vaddr - p_paddr)");
        }

        return new OpalCore(elf, threads, entry, regions, warnings);
    }

    /// <summary>Reads the auxiliary vector: {type, value} big-endian u64 pairs up to AT_NULL.</summary>
    private static ulong? ParseAuxv(ElfNote auxv, ElfDump elf, List<string> warnings)
    {
        ReadOnlySpan<byte> d = auxv.Desc;
        long at = NoteOffset(elf, auxv);
        ulong? entry = null;
        int pos = 0;
        for (; pos + sizeof(ulong) <= d.Length; pos += 2 * sizeof(ulong))
        {
            ulong type = BinaryPrimitives.ReadUInt64BigEndian(d[pos..]);
            if (type == AtNull)
            {
                break;
            }

            if (pos + (2 * sizeof(ulong)) > d.Length)
            {
                throw new DumpFormatException(elf.Path, at,
                    FormattableString.Invariant($"NT_AUXV note of {d.Length} bytes: entry {pos / 16} (type {type}) has no value: expected {{type, value}} pairs of 8-byte words ending with AT_NULL"));
            }

            if (type == AtEntry)
            {
                entry = BinaryPrimitives.ReadUInt64BigEndian(d[(pos + sizeof(ulong))..]);
            }
        }

        if (pos + sizeof(ulong) > d.Length)
        {
            warnings.Add(FormattableString.Invariant($"the NT_AUXV note ({d.Length} bytes) does not end with AT_NULL"));
        }

        if (entry is null)
        {
            warnings.Add("the NT_AUXV note has no AT_ENTRY: OPAL's entry point is unknown");
        }

        return entry;
    }

    /// <summary>
    /// The file offset of a note's header, for messages: the notes of the first PT_NOTE are laid end to end from
    /// its p_offset (ElfNote.ParseAll reads them so). -1 when the program headers cannot be read again.
    /// </summary>
    private static long NoteOffset(ElfDump elf, ElfNote note)
    {
        const int EPhoff = 32, EPhnum = 56, PhdrSize = 56, POffset = 8;
        const uint PtNote = 4;
        var src = elf.Elf.Source;
        Span<byte> eh = stackalloc byte[64];
        if (src.Read(0, eh) < eh.Length)
        {
            return -1;
        }

        ulong phoff = BinaryPrimitives.ReadUInt64BigEndian(eh[EPhoff..]);
        int phnum = BinaryPrimitives.ReadUInt16BigEndian(eh[EPhnum..]);
        Span<byte> ph = stackalloc byte[PhdrSize];
        for (int i = 0; i < phnum && phoff <= long.MaxValue - ((ulong)(i + 1) * PhdrSize); i++)
        {
            if (src.Read((long)phoff + (i * PhdrSize), ph) < PhdrSize)
            {
                return -1;
            }

            if (BinaryPrimitives.ReadUInt32BigEndian(ph) == PtNote)
            {
                long off = (long)Math.Min(BinaryPrimitives.ReadUInt64BigEndian(ph[POffset..]), long.MaxValue / 2);
                foreach (var n in elf.Notes)
                {
                    if (ReferenceEquals(n, note))
                    {
                        return off;
                    }

                    off += n.EncodedSize;
                }

                return -1;
            }
        }

        return -1;
    }
}
