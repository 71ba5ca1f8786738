using System.Buffers.Binary;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Machine;
using Fadump.Kernel.Arch;
using Fadump.Kernel.Arch.Ppc64;
using Fadump.Kernel.Platforms;
using Fadump.Kernel.Fadump;

namespace Fadump.Kernel.Tests;

/// <summary>
/// Issue 7 item 11: memory hot-added after FADump registered. With hotplug_ready the capture kernel builds the ELF
/// core headers from the memory it boots with, so the registration stays as it is and the dump covers the new memory.
/// </summary>
public sealed class MemoryHotplugTests
{
    private static readonly Ppc64Arch A = Ppc64Arch.LittleEndian;

    private const ulong G = 1UL << 30;

    [Fact]
    public void Memory_hot_added_after_registration_is_in_the_dump_with_its_struct_pages()
    {
        var lpar = new PseriesLpar(new LparSpec { MemoryBytes = 4 * G, Cpus = 2 });
        var k = lpar.Boot();
        Assert.True(k.Fadump.Dump.Registered);
        Assert.Equal("1\n", k.Files.ReadText("/sys/kernel/fadump/hotplug_ready"));
        int calls = lpar.Firmware.Calls;
        var added = new MemoryRange(8 * G, G);
        k.HotAddMemory(added);
        Assert.Equal(calls, lpar.Firmware.Calls); // no re-registration needed
        Assert.True(k.Fadump.Dump.Registered);
        Assert.Equal(5 * G, k.SystemRam);
        Assert.Contains("pseries-hotplug-mem: Memory at 200000000 (drc index 80000020) was hot-added", string.Join("\n", k.Log.Lines));

        Assert.True(lpar.Crash(CrashKind.Panic));
        var cap = lpar.Kernel!;
        using var vmcore = cap.Files.OpenRead("/proc/vmcore");
        using var dump = ElfDump.Open(vmcore);
        Assert.Contains(dump.MemoryRanges(), r => r.Start == added.Start && r.End == added.End);

        // The crashed kernel's struct pages for the new memory: reachable through vmemmap_list, the memmap itself PG_reserved.
        var page = new byte[A.PageSize];
        Assert.Equal(PageState.Dumped, dump.ReadPage(Ppc64Arch.VmemmapListOffset >> A.PageShift, page));
        ulong head = BinaryPrimitives.ReadUInt64LittleEndian(page.AsSpan((int)(Ppc64Arch.VmemmapListOffset % (ulong)A.PageSize)));
        ulong pfn = added.Start >> A.PageShift;
        ulong vaddr = A.VmemmapBase + (pfn * KernelArch.PageStructSize);
        ulong? phys = null;
        for (int n = 0; head != 0 && n < 10_000 && phys is null; n++)
        {
            var node = new byte[24];
            dump.ReadPhysical(head - Ppc64Arch.KernelBase, node);
            ulong p = BinaryPrimitives.ReadUInt64LittleEndian(node.AsSpan(8)), v = BinaryPrimitives.ReadUInt64LittleEndian(node.AsSpan(16));
            if (vaddr - v < (1UL << Ppc64Arch.VmemmapBlockShift))
            {
                phys = p + (vaddr - v);
            }

            head = BinaryPrimitives.ReadUInt64LittleEndian(node);
        }

        Assert.NotNull(phys);
        Assert.True(added.Contains(phys!.Value)); // memmap_on_memory
        var sp = new byte[KernelArch.PageStructSize];
        dump.ReadPhysical(phys.Value, sp);
        Assert.NotEqual(0UL, BinaryPrimitives.ReadUInt64LittleEndian(sp) & (1UL << KernelArch.PgReserved));
    }

    [Fact]
    public void Hot_add_must_be_whole_memory_blocks_outside_ram()
    {
        var k = new PseriesLpar(new LparSpec { MemoryBytes = 4 * G, Cpus = 2 }).Boot();
        Assert.Throws<ArgumentException>(() => k.HotAddMemory(new MemoryRange(8 * G, 64UL << 20)));
        Assert.Throws<ArgumentException>(() => k.HotAddMemory(new MemoryRange(2 * G, G)));
    }
}
