using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Kernel.CrashCore;
using System.Buffers.Binary;
using Fadump.Kernel.Arch.X86_64;
using Fadump.Kernel.CommandLine;
using Fadump.Kernel.Mm;
using Fadump.Kernel.Resource;
using Fadump.Machine;

namespace Fadump.Kernel.Tests.X86_64;

/// <summary>The x86_64 pieces on their own: the e820 map, /proc/iomem, crashkernel= (6.1 setup.c) and the page tables.</summary>
public sealed class X86_64PlatformPartsTests
{
    private const ulong M = 1UL << 20, G = 1UL << 30;

    [Fact]
    public void A_16G_pc_has_3G_below_the_pci_hole_and_the_rest_above_4G()
    {
        var e = E820.ForMachine(16 * G);
        Assert.Equal(
        [
            new MemoryRange(0, 0x9fc00),
            MemoryRange.FromBounds(M, 0xbffe0000),
            MemoryRange.FromBounds(4 * G, 17 * G),
        ], e.Usable);
        Assert.Contains("BIOS-e820: [mem 0x0000000000100000-0x00000000bffdffff] usable", e.BootLog());
        Assert.Contains("BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved", e.BootLog());
    }

    [Fact]
    public void A_small_pc_has_no_memory_above_4G()
    {
        var e = E820.ForMachine(2 * G);
        Assert.Equal(MemoryRange.FromBounds(M, (2 * G) - 0x20000), e.Usable[^1]);
        Assert.Throws<ArgumentException>(() => E820.ForMachine(32 * M));
        Assert.Equal(new MemoryRange(0, 0x9f000), e.UsablePages[0]);
        Assert.Equal(new MemoryRange(0, 0xa0000), e.Dram[0]);
    }

    [Fact]
    public void Iomem_nests_and_prints_as_the_kernel_does()
    {
        var t = new ResourceTree();
        t.Insert("System RAM", MemoryRange.FromBounds(0x1000, 0x9fc00));
        var ram = t.Insert("System RAM", MemoryRange.FromBounds(M, 0xbffe0000));
        t.Insert("Kernel code", MemoryRange.FromBounds(0x10c00000, 0x11e00000));
        t.Insert("Crash kernel", MemoryRange.FromBounds(0xa7000000, 0xb7000000));
        t.Insert("System RAM", MemoryRange.FromBounds(4 * G, 17 * G));

        Assert.Equal(
            "00001000-0009fbff : System RAM\n" +
            "00100000-bffdffff : System RAM\n" +
            "  10c00000-11dfffff : Kernel code\n" +
            "  a7000000-b6ffffff : Crash kernel\n" +
            "100000000-43fffffff : System RAM\n", t.Render());
        Assert.Equal(2, ram.Children.Count);
        Assert.Throws<ArgumentException>(() => t.Insert("Overlap", MemoryRange.FromBounds(0xbff00000, 0xc0100000)));
    }

    private static Memblock Pc(ulong memory)
    {
        var mb = new Memblock(E820.ForMachine(memory).UsablePages, 4096);
        mb.Reserve(new MemoryRange(0, M));                             // the low 1 MiB
        mb.Reserve(MemoryRange.FromBounds(0x10c00000, 0x13e00000));    // the kernel image
        return mb;
    }

    [Fact]
    public void Plain_size_lands_top_down_below_4G_16M_aligned()
    {
        var r = X86_64CrashReserve.Reserve(new KernelCommandLine("crashkernel=256M"), Pc(16 * G));
        Assert.Equal(new MemoryRange(0xaf000000, 256 * M), r.Region); // top of low RAM 0xbffe0000, aligned down
        Assert.Null(r.LowRegion);
        Assert.Equal("Reserving 256MB of memory at 2800MB for crashkernel (System RAM: 16383MB)", r.Log[^1]);
    }

    [Fact]
    public void Plain_size_too_big_for_low_memory_goes_high_with_a_default_low_chunk()
    {
        var r = X86_64CrashReserve.Reserve(new KernelCommandLine("crashkernel=4G"), Pc(16 * G));
        Assert.Equal(new MemoryRange(13 * G, 4 * G), r.Region);
        Assert.Equal(new MemoryRange(0xaf000000, 256 * M), r.LowRegion);
        Assert.Equal("Reserving 256MB of low memory at 2800MB for crashkernel (low RAM limit: 4096MB)", r.Log[0]);
    }

    [Fact]
    public void High_suffix_goes_high_first_and_low_suffix_sizes_the_low_chunk()
    {
        var r = X86_64CrashReserve.Reserve(new KernelCommandLine("crashkernel=512M,high crashkernel=128M,low"), Pc(16 * G));
        Assert.Equal(new MemoryRange((17 * G) - (512 * M), 512 * M), r.Region);
        Assert.Equal(128 * M, r.LowRegion!.Value.Size);

        var none = X86_64CrashReserve.Reserve(new KernelCommandLine("crashkernel=512M,high crashkernel=0,low"), Pc(16 * G));
        Assert.NotNull(none.Region);
        Assert.Null(none.LowRegion);
    }

    [Theory]
    [InlineData("crashkernel=256M@512M", 512UL << 20, null)]
    [InlineData("crashkernel=256M@272M", null, "crashkernel reservation failed - memory is in use.")]   // overlaps the kernel image
    [InlineData("crashkernel=256M@3G", null, "crashkernel reservation failed - memory is in use.")]    // the PCI hole
    [InlineData("crashkernel=64G", null, "crashkernel reservation failed - No suitable area found.")]
    public void Fixed_and_impossible_reservations(string cmdline, ulong? start, string? error)
    {
        var r = X86_64CrashReserve.Reserve(new KernelCommandLine(cmdline), Pc(16 * G));
        Assert.Equal(start, r.Region?.Start);
        if (error is not null)
        {
            Assert.Equal(error, r.Log[^1]);
        }
    }

    [Fact]
    public void Without_crashkernel_nothing_is_reserved_and_a_bad_value_is_logged()
    {
        Assert.Null(X86_64CrashReserve.Reserve(new KernelCommandLine("quiet"), Pc(4 * G)).Region);
        var bad = X86_64CrashReserve.Reserve(new KernelCommandLine("crashkernel=lots"), Pc(4 * G));
        Assert.Null(bad.Region);
        Assert.Single(bad.Log);
    }

    /// <summary>An independent walk of the tables as they are in RAM (the MMU's view, not the builder's).</summary>
    private static ulong? Walk(PhysicalMemory mem, ulong root, ulong virt)
    {
        ulong table = root;
        Span<byte> e8 = stackalloc byte[8];
        for (int level = 0; level < 4; level++)
        {
            int shift = 39 - (9 * level);
            mem.Read(table + (((virt >> shift) & 511) * 8), e8);
            ulong e = BinaryPrimitives.ReadUInt64LittleEndian(e8);
            if ((e & 1) == 0)
            {
                return null;
            }

            ulong frame = e & 0x000f_ffff_ffff_f000;
            if (level == 3 || (level > 0 && (e & 0x80) != 0))
            {
                ulong size = 1UL << shift;
                return (frame & ~(size - 1)) + (virt & (size - 1));
            }

            table = frame;
        }

        return null;
    }

    [Fact]
    public void Page_tables_map_the_direct_map_the_text_and_the_vmemmap()
    {
        var e820 = E820.ForMachine(6 * G);
        var mem = new PhysicalMemory(e820.Dram);
        var arch = X86_64Arch.Debian61();
        ulong next = 0x20000000;
        var pt = new X86_64PageTables(mem, 0x1a000000, () => next += 4096);
        foreach (var r in e820.UsablePages)
        {
            pt.MapDirect(arch.PageOffset, r);
        }

        pt.Map2M(arch.KernelVirtualBase, arch.KernelPhysicalBase, arch.Image.ImageSize, executable: true);
        pt.Map2M(arch.VmemmapBase, 0x30000000, 4 * M, executable: false);
        pt.Flush();

        foreach (ulong phys in new ulong[] { 0x1000, 0x9e000, M, 0x12345678, 0xbffdf000, 4 * G, (7 * G) - 8 })
        {
            Assert.Equal(phys, Walk(mem, 0x1a000000, arch.PageOffset + phys));
            Assert.Equal(phys, pt.Translate(arch.PageOffset + phys));
        }

        Assert.Null(Walk(mem, 0x1a000000, arch.PageOffset + 0xc0000000)); // PCI hole: not RAM, not mapped
        ulong initUts = arch.Sym(arch.Image.InitUtsNs);
        Assert.Equal(arch.ToPhys(initUts), Walk(mem, 0x1a000000, initUts));
        Assert.Equal(0x10c00000UL + 0x1bfb000, arch.ToPhys(initUts));
        Assert.Equal(0x30000000UL + 0x200040, Walk(mem, 0x1a000000, arch.VmemmapBase + 0x200040));
        Assert.Null(Walk(mem, 0x1a000000, arch.VmemmapBase + (4 * M)));
        Assert.Equal(-119537664, arch.PhysBase);
    }
}

public sealed class CrashNotesTests
{
    [Fact]
    public void Crash_save_cpu_writes_a_core_note_and_a_final_note_of_note_buf_t_size()
    {
        var arch = X86_64Arch.Debian61();
        var mem = new PhysicalMemory([new MemoryRange(0, 1UL << 30)]);
        var notes = new CrashNotes(arch, mem, 4);
        Assert.Equal(368, notes.NoteBufSize); // sizeof(note_buf_t) on x86_64
        var regs = Enumerable.Range(0, 27).Select(i => (ulong)i * 0x1111).ToArray();
        notes.Save(2, 1234, regs);

        var buf = new byte[notes.NoteBufSize];
        mem.Read(notes.Address(2), buf);
        var parsed = ElfNote.ParseAll(buf, bigEndian: false, "crash_notes", 0);
        var note = Assert.Single(parsed);
        Assert.Equal("CORE", note.Name);
        var st = PrStatus.Parse(note.Desc, DumpMachine.X86_64, "crash_notes", 0);
        Assert.Equal(1234, st.Pid);
        Assert.Equal(regs, st.Registers);
        Assert.Equal(notes.Address(0) + (2 * CrashNotes.Stride), notes.Address(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = notes.Address(4); });
    }
}
