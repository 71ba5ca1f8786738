using System.Text;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using Fadump.Formats.VmcoreInfo;

namespace Fadump.Tools.Tests.Synthetic;

/// <summary>
/// A small hand-laid-out kernel memory image: flat RAM from physical 0, the virtual mappings the
/// test kernel uses, a VMCOREINFO, and an ELF core (like /proc/vmcore) written from them.
/// Writes go through the builder's own mapping table, so structures are placed by kernel virtual
/// address exactly as the tools will look for them. Arch presets: <see cref="SyntheticX86_64"/>,
/// <see cref="SyntheticPpc64"/>.
/// </summary>
internal sealed class SyntheticKernel
{
    private readonly List<Mapping> _maps = [];
    private readonly List<ElfSegmentSpec> _loads = [];

    public SyntheticKernel(DumpMachine machine, int pageSize, int ramSize)
    {
        Machine = machine;
        PageSize = pageSize;
        Ram = new byte[ramSize];
    }

    public DumpMachine Machine { get; }

    public bool BigEndian => Machine.BigEndian;

    public int PageSize { get; }

    /// <summary>Physical memory [0, Ram.Length).</summary>
    public byte[] Ram { get; }

    public VmcoreInfo Info { get; } = new();

    /// <summary>VMCOREINFO keys left out of the note (to test readers against missing entries).</summary>
    public HashSet<string> OmitKeys { get; } = [];

    /// <summary>False: write the dump without a VMCOREINFO note.</summary>
    public bool WithVmcoreInfo { get; set; } = true;

    /// <summary>Registers a virtual → physical mapping the builder writes through (page tables are the preset's business).</summary>
    public void Map(ulong virt, ulong phys, ulong size) => _maps.Add(new Mapping(virt, phys, size));

    /// <summary>Adds a PT_LOAD describing [phys, phys+size) at p_vaddr virt.</summary>
    public void AddLoad(ulong phys, ulong virt, ulong size) => _loads.Add(new ElfSegmentSpec(phys, virt, size, size));

    public ulong ToPhysical(ulong virt)
    {
        foreach (var m in _maps)
        {
            if (virt - m.Virt < m.Size)
            {
                return m.Phys + (virt - m.Virt);
            }
        }

        throw new InvalidOperationException($"synthetic kernel: 0x{virt:x} is not mapped");
    }

    public void WritePhysical(ulong phys, ReadOnlySpan<byte> data) => data.CopyTo(Ram.AsSpan(checked((int)phys)));

    /// <summary>Writes at a virtual address, page by page through the mappings.</summary>
    public void Write(ulong virt, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            ulong p = ToPhysical(virt);
            int n = (int)Math.Min((ulong)data.Length, (ulong)PageSize - (virt % (ulong)PageSize));
            WritePhysical(p, data[..n]);
            data = data[n..];
            virt += (ulong)n;
        }
    }

    public void WriteU64(ulong virt, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        Endian.Write(b, value, BigEndian);
        Write(virt, b);
    }

    public void WriteU32(ulong virt, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        Endian.Write(b, value, BigEndian);
        Write(virt, b);
    }

    public void WriteU16(ulong virt, ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        Endian.Write(b, value, BigEndian);
        Write(virt, b);
    }

    public void WritePhysicalU64(ulong phys, ulong value) => Endian.Write(Ram.AsSpan(checked((int)phys)), value, BigEndian);

    public ulong ReadPhysicalU64(ulong phys) => Endian.U64(Ram.AsSpan(checked((int)phys)), BigEndian);

    /// <summary>struct new_utsname at init_uts_ns (OFFSET(uts_namespace.name) = 0): 6 fields of 65 chars.</summary>
    public void WriteUtsname(ulong initUtsNs, string release)
    {
        string[] fields = ["Linux", "synthetic", release, "#1 SMP PREEMPT_DYNAMIC", Machine.UtsMachine, "(none)"];
        for (int i = 0; i < fields.Length; i++)
        {
            Write(initUtsNs + (ulong)(i * 65), Encoding.ASCII.GetBytes(fields[i]));
        }

        Info.AddSymbol("init_uts_ns", initUtsNs);
        Info.AddOffset("uts_namespace.name", 0);
    }

    /// <summary>The ELF core: the VMCOREINFO note, then one PT_LOAD per <see cref="AddLoad"/>.</summary>
    public byte[] ToElf()
    {
        var info = new VmcoreInfo();
        foreach (var (key, value) in Info.Entries.Where(e => !OmitKeys.Contains(e.Key)))
        {
            info.Add(key, value);
        }

        List<ElfNote> notes = WithVmcoreInfo ? [new("VMCOREINFO", ElfNote.VMCOREINFO_TYPE, info.ToBytes())] : [];
        var sink = new MemorySink();
        using (var w = new ElfCoreWriter(sink, Machine, notes, _loads, PageSize))
        {
            foreach (var l in _loads)
            {
                w.Write(Ram.AsSpan(checked((int)l.PhysicalAddress), checked((int)l.FileSize)));
            }

            w.Complete();
        }

        return sink.ToArray();
    }

    public IDump Open() => ElfDump.Open(new MemorySource(ToElf(), $"synthetic-{Machine}.vmcore"));

    private readonly record struct Mapping(ulong Virt, ulong Phys, ulong Size);
}
