using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;

namespace Fadump.Formats.Tests;

/// <summary>Small ELF cores built in memory for tests.</summary>
internal static class TestDumps
{
    public static readonly DumpMachine[] Machines = [DumpMachine.X86_64, DumpMachine.Ppc64le, DumpMachine.Ppc64];

    /// <summary>Deterministic page content for a physical address: recognisable and not compressible to nothing.</summary>
    public static byte PatternByte(ulong paddr) => (byte)((paddr * 2654435761UL) >> 13);

    public static ulong VirtualFor(DumpMachine m, ulong paddr) =>
        m.Arch == DumpArch.X86_64 ? 0xffff888000000000UL + paddr : 0xc000000000000000UL + paddr;

    public static PrStatus Cpu(DumpMachine m, int cpu)
    {
        var names = PrStatus.RegisterNames(m.Arch);
        var regs = new ulong[names.Length];
        for (int i = 0; i < regs.Length; i++)
        {
            regs[i] = 0x1000_0000_0000UL * (ulong)(cpu + 1) + (ulong)(i * 0x11);
        }

        return new PrStatus(100 + cpu, 0, regs);
    }

    /// <summary>
    /// An ELF core with two RAM ranges (a hole between them), the second with p_filesz &lt; p_memsz,
    /// two CPUs, a VMCOREINFO note and an extra note that must be preserved.
    /// </summary>
    public static byte[] BuildElf(DumpMachine m, int pageSize, string release = "6.1.0-test")
    {
        var info = new VmcoreInfo.VmcoreInfo();
        info.Add("OSRELEASE", release);
        info.Add("PAGESIZE", pageSize.ToString(System.Globalization.CultureInfo.InvariantCulture));
        info.Add("CRASHTIME", "1795249829");
        var notes = new List<ElfNote>
        {
            Cpu(m, 0).ToNote(m),
            Cpu(m, 1).ToNote(m),
            new("VMCOREINFO", 0, info.ToBytes()),
            new("QEMU", 0x1234, [1, 2, 3, 4, 5]),
        };
        ulong ps = (ulong)pageSize;
        var loads = new List<ElfSegmentSpec>
        {
            new(0, VirtualFor(m, 0), 4 * ps, 4 * ps),
            new(8 * ps, VirtualFor(m, 8 * ps), 4 * ps, 2 * ps),
        };
        var sink = new MemorySink();
        var w = new ElfCoreWriter(sink, m, notes, loads, pageSize);
        foreach (var l in loads)
        {
            var data = new byte[l.FileSize];
            for (int i = 0; i < data.Length; i++)
            {
                data[i] = PatternByte(l.PhysicalAddress + (ulong)i);
            }

            // Write in odd-sized pieces to exercise buffering.
            for (int off = 0; off < data.Length; off += 1000)
            {
                w.Write(data.AsSpan(off, Math.Min(1000, data.Length - off)));
            }
        }

        w.Complete();
        return sink.ToArray();
    }
}
