using System.Buffers.Binary;
using System.Text;

namespace Fadump.Tools.Tests.Synthetic;

/// <summary>
/// Builds OPAL cores byte for byte as Linux's create_opalcore (arch/powerpc/platforms/powernv/opal-core.c)
/// lays them out: a big-endian ELF64 EM_PPC64 ET_CORE; the PT_NOTE first (p_offset = the header size,
/// p_vaddr = p_paddr = 0, room for every CPU's note plus NT_AUXV, zero tail for threads that were skipped); up to 8
/// PT_LOADs (PF_R|PF_W|PF_X, p_align 0, p_paddr cumulative from 0, p_vaddr = OPAL base + p_paddr) whose data
/// starts at PAGE_ALIGN(header + notes) with 64 KiB pages; the crashing thread's NT_PRSTATUS first, then the
/// other active threads', then NT_AUXV {AT_ENTRY, entry, AT_NULL}. The first PT_LOAD is skiboot's memory and
/// holds a struct memcons whose output buffer is at INMEM_CON_START (skiboot include/mem-map.h). Used by the tests
/// and the fuzz seeds (no test framework here).
/// </summary>
public sealed class OpalCoreBuilder
{
    public const ulong SkibootBase = 0x30000000;
    public const ulong SkibootSize = 0x1C10000;
    public const ulong StackPerCpu = 32 << 10;
    public const ulong InMemConOffset = 0x1000000;
    public const uint InMemConLen = 0x100000;
    public const uint InMemConInLen = 16;
    public const int PageSize = 64 << 10;
    public const int EhdrSize = 64;
    public const int PhdrSize = 56;
    public const int NoteHeadBytes = 12;
    public const int NoteNameBytes = 8;   // ALIGN(sizeof("CORE"), 4)
    public const int PrstatusBytes = 504; // sizeof(struct elf_prstatus) on ppc64
    public const int AuxvBytes = 24;      // ((2 * AUXV_CNT) + 1) * sizeof(Elf64_Off)
    public const int PrPidOffset = 32;
    public const int PrPpidOffset = 36;
    public const int PrCursigOffset = 12;
    public const int PrRegOffset = 112;
    public const int Registers = 48;      // ELF_NGREG: pt_regs' 44 then 4 unused

    /// <summary>One hardware thread as the firmware's register save area describes it.</summary>
    public sealed record Thread(int Pir, bool Active, ulong[] Regs);

    public ulong OpalBase { get; set; } = SkibootBase;

    /// <summary>The device tree's opal-boot-address (AT_ENTRY).</summary>
    public ulong OpalEntry { get; set; } = SkibootBase + 0x10;

    public List<Thread> Threads { get; } = [];

    public int CrashingPir { get; set; }

    public bool KernelInitiated { get; set; } = true;

    /// <summary>PT_LOAD sizes; the first is skiboot's memory (SKIBOOT_SIZE plus a stack per thread by default).</summary>
    public List<ulong> RegionSizes { get; } = [];

    /// <summary>Core paddr of the struct memcons (8-byte aligned, in the first PT_LOAD); null: none.</summary>
    public ulong? MemconsOffset { get; set; } = 0x00d3_6e58;

    /// <summary>Core paddr of the output buffer (INMEM_CON_START − OPAL base).</summary>
    public ulong ObufOffset { get; set; } = InMemConOffset;

    public uint ObufSize { get; set; } = InMemConLen - InMemConInLen;

    /// <summary>What skiboot wrote to its console, in order; wraps past <see cref="ObufSize"/> as skiboot's console does.</summary>
    public StringBuilder Console { get; } = new();

    /// <summary>Overrides the memcons fields after they are laid out (for damaged cores).</summary>
    public Action<byte[]>? DamageMemcons { get; set; }

    /// <summary>A 4-thread core of skiboot's real size, console at INMEM_CON_START.</summary>
    public static OpalCoreBuilder Standard(int threads = 4)
    {
        var b = new OpalCoreBuilder();
        for (int i = 0; i < threads; i++)
        {
            b.AddThread(i * 8);
        }

        b.CrashingPir = threads > 1 ? 8 : 0;
        b.RegionSizes.Add(SkibootSize + ((ulong)threads * StackPerCpu));
        b.Console.Append("[    0.000000000,5] SkiBoot skiboot-v7.1 starting...\n");
        b.Console.Append("[    1.234567890,5] CPU: 4 threads\n");
        b.Console.Append("[   12.345678901,5] DUMP: Payload registered for MPIPL\n");
        return b;
    }

    /// <summary>A core small enough for a fuzz seed: a 192 KiB skiboot region, the console at 0x20000.</summary>
    public static OpalCoreBuilder Small(int threads = 2)
    {
        var b = new OpalCoreBuilder { MemconsOffset = 0x1_0008, ObufOffset = 0x2_0000, ObufSize = 0x1000 };
        for (int i = 0; i < threads; i++)
        {
            b.AddThread(i * 4);
        }

        b.CrashingPir = threads > 1 ? 4 : 0;
        b.RegionSizes.Add(0x3_0000);
        b.Console.Append("[    0.000000000,5] SkiBoot starting\n[   12.345678901,5] DUMP: Payload registered for MPIPL\n");
        return b;
    }

    public Thread AddThread(int pir, bool active = true)
    {
        var regs = new ulong[Registers];
        for (int r = 0; r < 44; r++)
        {
            regs[r] = 0xc000_0000_0000_0000UL | ((ulong)(uint)pir << 16) | (uint)r;
        }

        var t = new Thread(pir, active, regs);
        Threads.Add(t);
        return t;
    }

    public int HeaderSize => EhdrSize + ((RegionSizes.Count + 1) * PhdrSize);

    /// <summary>cpu_notes_size: every CPU's note (active or not) plus NT_AUXV.</summary>
    public int NotesSize => (Threads.Count * (NoteHeadBytes + NoteNameBytes + PrstatusBytes)) + NoteHeadBytes + NoteNameBytes + AuxvBytes;

    /// <summary>opalcorebuf_sz: where the PT_LOAD data starts.</summary>
    public long DataOffset => Align(HeaderSize + NotesSize, PageSize);

    public byte[] Build()
    {
        long total = DataOffset + RegionSizes.Sum(s => (long)s);
        var f = new byte[total];
        var s = f.AsSpan();

        // Elf64_Ehdr
        s[0] = 0x7f;
        s[1] = (byte)'E';
        s[2] = (byte)'L';
        s[3] = (byte)'F';
        s[4] = 2;   // EI_CLASS ELFCLASS64
        s[5] = 2;   // EI_DATA ELFDATA2MSB
        s[6] = 1;   // EI_VERSION EV_CURRENT
        s[7] = 0;   // EI_OSABI ELF_OSABI (ELFOSABI_NONE)
        BinaryPrimitives.WriteUInt16BigEndian(s[16..], 4);      // e_type ET_CORE
        BinaryPrimitives.WriteUInt16BigEndian(s[18..], 21);     // e_machine EM_PPC64
        BinaryPrimitives.WriteUInt32BigEndian(s[20..], 1);      // e_version
        BinaryPrimitives.WriteUInt64BigEndian(s[32..], EhdrSize); // e_phoff
        BinaryPrimitives.WriteUInt16BigEndian(s[52..], EhdrSize); // e_ehsize
        BinaryPrimitives.WriteUInt16BigEndian(s[54..], PhdrSize); // e_phentsize
        BinaryPrimitives.WriteUInt16BigEndian(s[56..], (ushort)(RegionSizes.Count + 1)); // e_phnum

        // PT_NOTE
        var ph = s[EhdrSize..];
        BinaryPrimitives.WriteUInt32BigEndian(ph, 4);                        // p_type PT_NOTE
        BinaryPrimitives.WriteUInt64BigEndian(ph[8..], (ulong)HeaderSize);   // p_offset
        BinaryPrimitives.WriteUInt64BigEndian(ph[32..], (ulong)NotesSize);   // p_filesz
        BinaryPrimitives.WriteUInt64BigEndian(ph[40..], (ulong)NotesSize);   // p_memsz

        // PT_LOADs
        ulong paddr = 0;
        long offset = DataOffset;
        for (int i = 0; i < RegionSizes.Count; i++)
        {
            ph = s[(EhdrSize + ((i + 1) * PhdrSize))..];
            BinaryPrimitives.WriteUInt32BigEndian(ph, 1);                    // p_type PT_LOAD
            BinaryPrimitives.WriteUInt32BigEndian(ph[4..], 7);               // p_flags PF_R|PF_W|PF_X
            BinaryPrimitives.WriteUInt64BigEndian(ph[8..], (ulong)offset);   // p_offset
            BinaryPrimitives.WriteUInt64BigEndian(ph[16..], OpalBase + paddr); // p_vaddr
            BinaryPrimitives.WriteUInt64BigEndian(ph[24..], paddr);          // p_paddr
            BinaryPrimitives.WriteUInt64BigEndian(ph[32..], RegionSizes[i]); // p_filesz
            BinaryPrimitives.WriteUInt64BigEndian(ph[40..], RegionSizes[i]); // p_memsz
            FillRegion(s.Slice((int)offset, (int)RegionSizes[i]), paddr);
            paddr += RegionSizes[i];
            offset += (long)RegionSizes[i];
        }

        // Notes: the crashing thread, the other active ones, NT_AUXV.
        int pos = HeaderSize;
        foreach (var t in Threads.Where(t => t.Active && t.Pir == CrashingPir).Concat(Threads.Where(t => t.Active && t.Pir != CrashingPir)))
        {
            var desc = new byte[PrstatusBytes];
            BinaryPrimitives.WriteInt32BigEndian(desc.AsSpan(PrPidOffset), 100 + t.Pir);
            BinaryPrimitives.WriteInt32BigEndian(desc.AsSpan(PrPpidOffset), 1);
            if (t.Pir == CrashingPir)
            {
                BinaryPrimitives.WriteInt16BigEndian(desc.AsSpan(PrCursigOffset), (short)(KernelInitiated ? 10 : 15));
            }

            for (int r = 0; r < Registers; r++)
            {
                BinaryPrimitives.WriteUInt64BigEndian(desc.AsSpan(PrRegOffset + (r * 8)), t.Regs[r]);
            }

            pos = Note(s, pos, 1, desc); // NT_PRSTATUS
        }

        var auxv = new byte[AuxvBytes];
        BinaryPrimitives.WriteUInt64BigEndian(auxv, 9); // AT_ENTRY
        BinaryPrimitives.WriteUInt64BigEndian(auxv.AsSpan(8), OpalEntry);
        Note(s, pos, 6, auxv); // NT_AUXV, then AT_NULL (0)
        return f;
    }

    /// <summary>The file offset of a core paddr in the PT_LOAD data.</summary>
    public long FileOffsetOf(ulong corePaddr) => DataOffset + (long)corePaddr;

    private void FillRegion(Span<byte> region, ulong paddr)
    {
        // skiboot's memory: something that is not the magic, so that the scan has bytes to look at.
        for (int i = 0; i < region.Length; i += 4096)
        {
            BinaryPrimitives.WriteUInt64BigEndian(region[i..], 0x7c0802a6_f8010010UL ^ (paddr + (ulong)i));
        }

        if (paddr != 0 || MemconsOffset is not { } mc)
        {
            return;
        }

        byte[] text = Encoding.ASCII.GetBytes(Console.ToString());
        uint outPos = (uint)(text.Length % ObufSize);
        bool wrapped = text.Length >= ObufSize;
        if (ObufOffset + ObufSize <= (ulong)region.Length)
        {
            var obuf = region.Slice((int)ObufOffset, (int)ObufSize);
            obuf.Clear();
            for (int i = 0; i < text.Length; i++)
            {
                obuf[(int)((uint)i % ObufSize)] = text[i];
            }
        }

        var m = new byte[48];
        BinaryPrimitives.WriteUInt64BigEndian(m, 0x6630696567726173);           // magic
        BinaryPrimitives.WriteUInt64BigEndian(m.AsSpan(8), OpalBase + ObufOffset); // obuf_phys
        BinaryPrimitives.WriteUInt64BigEndian(m.AsSpan(16), OpalBase + ObufOffset + ObufSize); // ibuf_phys
        BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(24), ObufSize);          // obuf_size
        BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(28), InMemConInLen);     // ibuf_size
        BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(32), outPos | (wrapped ? 1u << 31 : 0)); // out_pos
        DamageMemcons?.Invoke(m);
        m.CopyTo(region[(int)mc..]);
    }

    private static int Note(Span<byte> s, int pos, uint type, byte[] desc)
    {
        BinaryPrimitives.WriteUInt32BigEndian(s[pos..], 5);                 // n_namesz: "CORE\0"
        BinaryPrimitives.WriteUInt32BigEndian(s[(pos + 4)..], (uint)desc.Length); // n_descsz
        BinaryPrimitives.WriteUInt32BigEndian(s[(pos + 8)..], type);        // n_type
        "CORE"u8.CopyTo(s[(pos + NoteHeadBytes)..]);
        desc.CopyTo(s[(pos + NoteHeadBytes + NoteNameBytes)..]);
        return pos + NoteHeadBytes + NoteNameBytes + Align(desc.Length, 4);
    }

    private static int Align(int n, int a) => (n + a - 1) & ~(a - 1);

    private static long Align(long n, long a) => (n + a - 1) & ~(a - 1);
}
