using MemoryRange = global::Fadump.Machine.MemoryRange;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Kernel.Kexec;
using static Fadump.Kernel.Tests.Kexec.KexecMachine;

namespace Fadump.Kernel.Tests.Kexec;

public sealed class KexecToolsTests
{
    private static readonly KexecToolsOptions Legacy = new();
    private static readonly KexecToolsOptions Modern = new() { LowMemory = LowMemoryMode.Modern };

    [Fact]
    public void Legacy_plan_places_every_segment_top_down_in_the_crash_region()
    {
        var p = KexecTools.Plan(ToolsInput(), Legacy);
        Assert.Equal(["kernel", "initrd", "setup", "purgatory", "elfcorehdr", "backup"], p.Segments.Select(s => s.Name));
        Assert.Equal(KexecFlags.OnCrash | KexecFlags.ArchX86_64, p.Flags);

        // backup: the 0x9f000 bytes of [0x1000, 0xa0000), at the top.
        Assert.Equal((0x1000UL, 0x9f000UL), (p.BackupSourceStart, p.BackupSourceSize));
        Assert.Equal((CrashEnd - 0x9f000, 0x9f000UL, 0x9f000UL), (p["backup"].Segment.Memory, p["backup"].Segment.MemorySize, p["backup"].Segment.BufferSize));
        Assert.Equal(p["backup"].Segment.Memory, p.BackupStart);

        // elfcorehdr: 1 KiB-aligned bufsz (4 CPU notes + VMCOREINFO + text + 4 RAM, sized for 8 ranges), memsz 16 KiB.
        var e = p["elfcorehdr"].Segment;
        Assert.Equal((1024UL, 0x4000UL, p.BackupStart - 0x4000), (e.BufferSize, e.MemorySize, e.Memory));
        Assert.Equal(e.Memory, p.ElfCoreHeaderAddress);

        var pur = p["purgatory"].Segment;
        Assert.Equal((e.Memory - PurgatoryData.ImageSize, PurgatoryData.ImageSize), (pur.Memory, pur.MemorySize));
        Assert.Equal(pur.Memory, p.Entry);

        var setup = p["setup"].Segment;
        Assert.Equal((pur.Memory - 0x2000, 0x2000UL), (setup.Memory, setup.MemorySize));
        Assert.Equal(setup.Memory, p.BootParamsAddress);

        // kernel: init_size 32 MiB, 16 MiB aligned, below the rest.
        var k = p["kernel"].Segment;
        Assert.Equal((0x48000000UL, 32UL << 20, (ulong)(BzImage.Build("6.1.0-kdump").Length - 2048)), (k.Memory, k.MemorySize, k.BufferSize));
        Assert.Equal(k.Memory, p.KernelAddress);

        // initrd: below the first segment above the kernel, page-rounded.
        var i = p["initrd"].Segment;
        Assert.Equal(0x101000UL, i.MemorySize);
        Assert.True(i.Memory >= k.Memory + k.MemorySize && i.Memory + i.MemorySize <= setup.Memory);
        Assert.All(p.Segments, s => Assert.True(s.Segment.Memory >= CrashStart && s.Segment.Memory + s.Segment.MemorySize <= CrashEnd));
    }

    [Fact]
    public void Legacy_elfcorehdr_parses_back_with_the_backup_range_read_from_the_copy()
    {
        var p = KexecTools.Plan(ToolsInput(), Legacy);
        var (machine, ph) = ParseElfCoreHeader(p["elfcorehdr"].Segment.Buffer);
        Assert.Equal(62, machine);
        Assert.Equal(4 + 1 + 1 + 4, ph.Count);
        Assert.Equal(CpuNotes.Select(n => (ElfProgramHeader.PtNote, n.Address, n.Size)).Append((ElfProgramHeader.PtNote, VmcoreInfoAddress, VmcoreInfoSize)),
            ph.Take(5).Select(h => (h.Type, h.Offset, h.FileSize)));
        Assert.Equal((ElfProgramHeader.PtLoad, TextPhysical, TextVirtual, TextSize), (ph[5].Type, ph[5].PhysicalAddress, ph[5].VirtualAddress, ph[5].MemorySize));
        var ram = ph.Skip(6).ToList();
        Assert.Equal(
        [
            (0x1000UL, 0xa0000UL, p.BackupStart),
            (0x100000UL, CrashStart, 0x100000UL),
            (CrashEnd, 0xbffe0000UL, CrashEnd),
            (0x100000000UL, 0x240000000UL, 0x100000000UL),
        ], ram.Select(h => (h.PhysicalAddress, h.PhysicalAddress + h.MemorySize, h.Offset)));
        Assert.All(ram, h => Assert.Equal(PageOffset + h.PhysicalAddress, h.VirtualAddress));
    }

    [Fact]
    public void Modern_plan_has_no_backup_and_leaves_the_low_megabyte_out()
    {
        var p = KexecTools.Plan(ToolsInput(), Modern);
        Assert.DoesNotContain(p.Segments, s => s.Name == "backup");
        Assert.Equal(0UL, p.BackupStart);
        var (_, ph) = ParseElfCoreHeader(p["elfcorehdr"].Segment.Buffer);
        var ram = ph.Skip(6).Select(h => h.PhysicalAddress).ToList();
        Assert.Equal([0x100000UL, CrashEnd, 0x100000000UL], ram);
        Assert.Equal(CrashEnd - 0x4000, p.ElfCoreHeaderAddress);
    }

    [Fact]
    public void Command_line_drops_crashkernel_and_gains_elfcorehdr_in_KiB()
    {
        var p = KexecTools.Plan(ToolsInput(), Legacy);
        Assert.Equal($"BOOT_IMAGE=/vmlinuz root=/dev/sda1 1 irqpoll nr_cpus=1 reset_devices elfcorehdr={p.ElfCoreHeaderAddress / 1024}K", p.CommandLine);
        Assert.Equal(p.CommandLine, BootParams.CommandLine(p["setup"].Segment.Buffer, p.BootParamsAddress));
    }

    [Fact]
    public void Pass_memmap_cmdline_describes_the_capture_kernels_memory()
    {
        var p = KexecTools.Plan(ToolsInput(), Legacy with { PassMemmapCmdline = true });
        ulong b = p.BackupStart / 1024, e = p.ElfCoreHeaderAddress / 1024;
        // Low RAM, the crash region minus the backup and elfcorehdr segments, the ACPI tables with '#';
        // the e820 "Reserved" ranges are not passed (cmdline_add_memmap skips them).
        string memmap = " memmap=exactmap memmap=636K@4K"
            + FormattableString.Invariant($" memmap={e - (CrashStart / 1024)}K@{CrashStart / 1024}K")
            + " memmap=64K#3145600K";
        Assert.Equal(FormattableString.Invariant($"BOOT_IMAGE=/vmlinuz root=/dev/sda1 1 irqpoll nr_cpus=1 reset_devices elfcorehdr={e}K") + memmap, p.CommandLine);
        Assert.Equal(CrashEnd / 1024, b + (0x9f000 / 1024));
    }

    [Fact]
    public void Missing_crash_kernel_resource_gives_kexec_tools_message()
    {
        var input = ToolsInput() with { ProcIomem = Iomem.Replace("  2b000000-4affffff : Crash kernel\n", string.Empty, StringComparison.Ordinal) };
        var ex = Assert.Throws<KexecToolsException>(() => KexecTools.Plan(input, Legacy));
        Assert.Equal("Memory for crashkernel is not reserved\nPlease reserve memory by passing\"crashkernel=Y@X\" parameter to kernel\nThen try to loading kdump kernel\n", ex.Message);
    }

    [Fact]
    public void Missing_kernel_code_resource_is_reported()
    {
        var input = ToolsInput() with { ProcIomem = Iomem.Replace("Kernel code", "Kernel text", StringComparison.Ordinal) };
        Assert.Equal("Cannot determine kernel physical load addr\n", Assert.Throws<KexecToolsException>(() => KexecTools.Plan(input, Legacy)).Message);
    }

    [Fact]
    public void Crash_region_too_small_is_locate_hole_failed()
    {
        var input = ToolsInput() with { ProcIomem = Iomem.Replace("2b000000-4affffff : Crash kernel", "2b000000-2bffffff : Crash kernel", StringComparison.Ordinal) };
        Assert.EndsWith("locate_hole failed\n", Assert.Throws<KexecToolsException>(() => KexecTools.Plan(input, Legacy)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Vmcoreinfo_text_is_parsed_and_rejected_when_malformed()
    {
        Assert.Equal(new NoteBuffer(0x13fffe000, 0x1024), KexecToolsInput.ParseVmcoreInfo("13fffe000 1024\n"));
        Assert.Equal(new NoteBuffer(0x13fffe000, 0x1024), KexecToolsInput.ParseVmcoreInfo("0x000000013fffe000 1024\n"));
        Assert.StartsWith("Cannot parse /sys/kernel/vmcoreinfo", Assert.Throws<KexecToolsException>(() => KexecToolsInput.ParseVmcoreInfo("zz 1024\n")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_goes_through_kexec_load_and_purgatory_copies_the_backup()
    {
        var m = new KexecMachine();
        var p = KexecTools.Load(m.Core, ToolsInput(), Legacy);
        Assert.NotNull(m.Core.CrashImage);
        Assert.True(m.Core.IsProtected(p.ElfCoreHeaderAddress));
        byte[] low = m.Read(0x1000, 0x9f000);
        Assert.Equal(new byte[0x9f000], m.Read(p.BackupStart, 0x9f000));   // zeros until the crash

        var r = m.Core.MachineKexecCrash()!;
        Assert.True(r.Verified, r.Message);
        Assert.True(r.BackupCopied);
        Assert.Equal(p.KernelAddress + 0x200, r.KernelEntry);
        Assert.Equal(low, m.Read(p.BackupStart, 0x9f000));
        Assert.False(m.Core.IsProtected(p.ElfCoreHeaderAddress));          // the capture kernel's own map
    }

    [Fact]
    public void Purgatory_hangs_naming_the_segment_a_stray_write_corrupted()
    {
        var m = new KexecMachine();
        var p = KexecTools.Load(m.Core, ToolsInput(), Legacy);
        var kernel = p["kernel"].Segment;
        // DMA does not go through the protected map: flip one byte of the loaded kernel.
        byte[] b = m.Read(kernel.Memory + 0x1234, 1);
        m.Memory.Write(kernel.Memory + 0x1234, [(byte)(b[0] ^ 0x01)]);

        var r = Purgatory.Run(m.Memory, p.Entry);
        Assert.False(r.Verified);
        Assert.True(r.Hung);
        Assert.False(r.BackupCopied);
        Assert.Equal(kernel.Destination, r.MismatchedRange);
        Assert.Equal(p.Segments.Where(s => s.Name != "purgatory").Select(s => s.Segment.Memory).ToList().IndexOf(kernel.Memory), r.MismatchedSegment);
        Assert.StartsWith("sha256 digests do not match :(", r.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Modern_load_verifies_without_copying()
    {
        var m = new KexecMachine();
        KexecTools.Load(m.Core, ToolsInput(), Modern);
        var r = m.Core.MachineKexecCrash()!;
        Assert.True(r.Verified);
        Assert.False(r.BackupCopied);
    }

    [Fact]
    public void A_failed_kexec_load_is_reported_like_kexec_tools()
    {
        var m = new KexecMachine();
        // The kernel's crashk_res is smaller than what /proc/iomem claims: the segments fall outside it.
        var core = new KexecCore(m.Memory, new MemoryRange(CrashStart, 256UL << 20));
        var ex = Assert.Throws<KexecToolsException>(() => KexecTools.Load(core, ToolsInput(), Legacy));
        Assert.StartsWith("kexec_load failed: Cannot assign requested address\n", ex.Message, StringComparison.Ordinal);
        Assert.Contains("nr_segments = 6\n", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Crash_memory_ranges_exclude_the_crash_kernel_and_gart()
    {
        string iomem = Iomem.Replace("100000000-23fffffff : System RAM\n", "100000000-23fffffff : System RAM\n  200000000-203ffffff : GART\n", StringComparison.Ordinal);
        var ranges = KexecTools.CrashMemoryRanges(ProcIomem.Parse(iomem), [new CrashRange(CrashStart, CrashEnd - 1, RangeType.Ram)], legacy: true)
            .Where(r => r.Type == RangeType.Ram).Select(r => (r.Start, r.End)).ToList();
        Assert.Equal(
        [
            (0x1000UL, 0x9ffffUL),
            (0x100000UL, CrashStart - 1),
            (CrashEnd, 0xbffdffffUL),
            (0x100000000UL, 0x1ffffffffUL),
            (0x204000000UL, 0x23fffffffUL),
        ], ranges);
    }
}

public sealed class ProcIomemTests
{
    [Fact]
    public void Nested_resources_become_a_tree()
    {
        var io = ProcIomem.Parse(KexecMachine.Iomem);
        var ram = io.Roots.Single(r => r.Start == 0x100000);
        Assert.Equal(["Kernel code", "Kernel rodata", "Kernel data", "Kernel bss", "Crash kernel"], ram.Children.Select(c => c.Name));
        Assert.Equal((0x2b000000UL, 0x4affffffUL, 1), io.Named("Crash kernel").Select(r => (r.Start, r.End, r.Depth)).Single());
        Assert.Equal(17, io.All.Count);
        Assert.Equal(0x140000000UL, io.Roots[^1].Size);
    }

    [Theory]
    [InlineData("00100000-bffdffff System RAM\n", 1, "expected 'start-end : name'")]
    [InlineData("00001000-0009ffff : System RAM\n0010000g-bffdffff : System RAM\n", 2, "hexadecimal")]
    [InlineData("00100000-000fffff : System RAM\n", 1, "below start")]
    [InlineData("00100000-bffdffff : System RAM\n   01000000-01ffffff : Kernel code\n", 2, "two per nesting level")]
    [InlineData("00100000-bffdffff : System RAM\n    01000000-01ffffff : Kernel code\n", 2, "at most one level deeper")]
    [InlineData("00100000-bffdffff : System RAM\n  c0000000-c0ffffff : Crash kernel\n", 2, "outside its parent")]
    [InlineData("00100000-bffdffff : System RAM\n\n", 2, "expected 'start-end : name'")]
    public void Malformed_lines_are_rejected_with_their_number(string text, int line, string reason)
    {
        var ex = Assert.Throws<IomemFormatException>(() => ProcIomem.Parse(text));
        Assert.Equal(line, ex.LineNumber);
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
        Assert.StartsWith($"/proc/iomem line {line}: ", ex.Message, StringComparison.Ordinal);
    }
}

public sealed class ElfCoreHeaderBuilderTests
{
    [Fact]
    public void Big_endian_ppc64_header_encodes_every_field_big_endian()
    {
        var b = new ElfCoreHeaderBuilder().AddNote(0x3000000, 0x1000).AddLoad(0, 0xc000000000000000, 0x10000000);
        byte[] h = b.Build(DumpMachine.Ppc64);
        Assert.Equal(4096, h.Length);
        Assert.Equal(2, h[5]);   // ELFDATA2MSB
        Assert.Equal(21, System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(h.AsSpan(18)));
        Assert.Equal(2, System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(h.AsSpan(56)));
        var note = ElfHeaders.ReadProgramHeader(h.AsSpan(64, 56), bigEndian: true);
        var load = ElfHeaders.ReadProgramHeader(h.AsSpan(120, 56), bigEndian: true);
        Assert.Equal(new ElfProgramHeader(ElfProgramHeader.PtNote, 0, 0x3000000, 0, 0x3000000, 0x1000, 0x1000, 0), note);
        Assert.Equal(new ElfProgramHeader(ElfProgramHeader.PtLoad, 7, 0, 0xc000000000000000, 0, 0x10000000, 0x10000000, 0), load);
    }

    [Fact]
    public void Size_counts_spare_headers_and_rounds_to_the_alignment()
    {
        var b = new ElfCoreHeaderBuilder(ElfCoreHeaderBuilder.KexecToolsAlignment);
        for (int i = 0; i < 17; i++)
        {
            b.AddLoad((ulong)i << 30, (ulong)i << 30, 1UL << 30);
        }

        Assert.Equal(1024, b.Size);          // 64 + 17 × 56 = 1016
        b.SpareProgramHeaders = 1;
        Assert.Equal(2048, b.Size);          // 64 + 18 × 56 = 1072
        byte[] h = b.Build(DumpMachine.X86_64);
        Assert.Equal(2048, h.Length);
        Assert.Equal(17, System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(h.AsSpan(56)));   // spares are not in e_phnum
        Assert.Equal(new byte[56], h.AsSpan(64 + (17 * 56), 56).ToArray());
    }
}
