using System.Buffers.Binary;
using Fadump.Formats.Elf;
using Fadump.Kernel.Kexec;
using Fadump.Kernel.Sysfs;
using static Fadump.Kernel.Tests.Kexec.KexecMachine;

namespace Fadump.Kernel.Tests.Kexec;

public sealed class KexecFileLoadTests
{
    private const ulong OnCrash = KexecFlags.FileOnCrash;
    private const string Cmdline = "root=/dev/sda1 1 irqpoll nr_cpus=1 reset_devices";

    private static byte[] Kernel() => BzImage.Build("6.1.0-kdump");

    [Fact]
    public void Unknown_flag_is_EINVAL() => Assert.Equal(Errno.EINVAL, new KexecMachine().Core.KexecFileLoad(Kernel(), Initrd(), Cmdline, OnCrash | 0x40));

    [Fact]
    public void Bad_kernel_fd_is_EBADF_and_empty_kernel_EINVAL()
    {
        Assert.Equal(Errno.EBADF, new KexecMachine().Core.KexecFileLoad(null, Initrd(), Cmdline, OnCrash));
        Assert.Equal(Errno.EINVAL, new KexecMachine().Core.KexecFileLoad([], Initrd(), Cmdline, OnCrash));
    }

    [Fact]
    public void Missing_initrd_is_EBADF_unless_NO_INITRAMFS()
    {
        Assert.Equal(Errno.EBADF, new KexecMachine().Core.KexecFileLoad(Kernel(), null, Cmdline, OnCrash));
        Assert.Equal(Errno.EINVAL, new KexecMachine().Core.KexecFileLoad(Kernel(), [], Cmdline, OnCrash));
        var m = new KexecMachine();
        Assert.Equal(Errno.None, m.Core.KexecFileLoad(Kernel(), null, Cmdline, OnCrash | KexecFlags.FileNoInitramfs));
        Assert.Equal(4, m.Core.CrashImage!.Segments.Count);   // elfcorehdr, purgatory, boot_params, kernel
    }

    [Fact]
    public void Command_line_without_its_NUL_is_EINVAL() =>
        Assert.Equal(Errno.EINVAL, new KexecMachine().Core.KexecFileLoad(Kernel(), Initrd(), "abc"u8.ToArray(), OnCrash));

    [Fact]
    public void Command_line_without_room_for_elfcorehdr_is_EINVAL()
    {
        var m = new KexecMachine();
        Assert.Equal(Errno.EINVAL, m.Core.KexecFileLoad(Kernel(), Initrd(), new string('a', 2047 - 30), OnCrash));
        Assert.Contains("Appending elfcorehdr=<addr>", m.Core.LastFileLoadMessage, StringComparison.Ordinal);
        Assert.Equal(Errno.None, m.Core.KexecFileLoad(Kernel(), Initrd(), new string('a', 2047 - 31), OnCrash));
    }

    public static TheoryData<int, byte[], string> NotBzImages => new()
    {
        { 0x202, [0x00], "Not a bzImage" },
        { BzImage.BootFlag, [0x00, 0x00], "No x86 boot sector present" },
        { BzImage.Version, [0x0b, 0x02], "Must be at least protocol version 2.12" },
        { BzImage.LoadFlags, [0x00], "zImage not a bzImage" },
        { BzImage.XLoadFlags, [0x02, 0x00], "Not a bzImage64. XLF_KERNEL_64 is not set." },
        { BzImage.XLoadFlags, [0x01, 0x00], "XLF_CAN_BE_LOADED_ABOVE_4G is not set." },
    };

    [Theory]
    [MemberData(nameof(NotBzImages))]
    public void Image_failing_bzImage64_probe_is_ENOEXEC(int offset, byte[] patch, string message)
    {
        var k = Kernel();
        patch.CopyTo(k, offset);
        var m = new KexecMachine();
        Assert.Equal(Errno.ENOEXEC, m.Core.KexecFileLoad(k, Initrd(), Cmdline, OnCrash));
        Assert.Equal("kexec-bzImage64: " + message, m.Core.LastFileLoadMessage);
    }

    [Fact]
    public void Image_shorter_than_two_sectors_is_ENOEXEC() =>
        Assert.Equal(Errno.ENOEXEC, new KexecMachine().Core.KexecFileLoad(Kernel()[..1023], Initrd(), Cmdline, OnCrash));

    [Fact]
    public void Image_shorter_than_its_setup_is_ENOEXEC()
    {
        var k = Kernel();
        k[BzImage.SetupSects] = 200;
        Assert.Equal(Errno.ENOEXEC, new KexecMachine().Core.KexecFileLoad(k, Initrd(), Cmdline, OnCrash));
    }

    [Fact]
    public void Crash_region_too_small_for_the_kernel_is_EADDRNOTAVAIL()
    {
        // init_size of 1 GiB cannot fit in 512 MiB.
        var m = new KexecMachine();
        Assert.Equal(Errno.EADDRNOTAVAIL, m.Core.KexecFileLoad(BzImage.Build("big", initSize: 1U << 30), Initrd(), Cmdline, OnCrash));
        Assert.Null(m.Core.CrashImage);
    }

    [Fact]
    public void Elfcorehdr_is_built_by_the_kernel_at_the_region_start()
    {
        var m = new KexecMachine();
        Assert.Equal(Errno.None, m.Core.KexecFileLoad(Kernel(), Initrd(), Cmdline, OnCrash));
        var img = m.Core.CrashImage!;
        Assert.True(img.FileMode);
        Assert.Equal(CrashStart, img.ElfCoreHeaderAddress);
        Assert.Equal($"elfcorehdr=0x{CrashStart:x} {Cmdline}", img.CommandLine);

        var (machine, ph) = ParseElfCoreHeader(m.Read(img.ElfCoreHeaderAddress, (int)img.ElfCoreHeaderSize));
        Assert.Equal(62, machine);
        Assert.Equal(0UL, img.ElfCoreHeaderSize % 4096);
        var notes = ph.TakeWhile(p => p.Type == ElfProgramHeader.PtNote).ToList();
        Assert.Equal(CpuNotes.Select(n => (n.Address, n.Size)).Append((VmcoreInfoAddress, VmcoreInfoSize)), notes.Select(n => (n.PhysicalAddress, n.FileSize)));
        Assert.All(notes, n => Assert.Equal(n.PhysicalAddress, n.Offset));

        var loads = ph.Skip(notes.Count).ToList();
        Assert.All(loads, l => Assert.Equal(ElfProgramHeader.PtLoad, l.Type));
        Assert.Equal((TextVirtual, TextPhysical, TextSize), (loads[0].VirtualAddress, loads[0].PhysicalAddress, loads[0].MemorySize));
        var ram = loads.Skip(1).Select(l => (l.PhysicalAddress, l.PhysicalAddress + l.MemorySize)).ToList();
        Assert.Equal(
        [
            (0x100000UL, CrashStart),                  // [0, 1 MiB) left out
            (CrashEnd, 0xbffe0000UL),                  // the crash region left out
            (0x100000000UL, 0x240000000UL),
        ], ram);
        Assert.All(loads.Skip(1), l => Assert.Equal(PageOffset + l.PhysicalAddress, l.VirtualAddress));
        Assert.All(loads.Skip(1), l => Assert.Equal(l.PhysicalAddress, l.Offset));
    }

    [Fact]
    public void Segments_are_placed_inside_the_crash_region_and_boot_params_point_at_the_command_line()
    {
        var m = new KexecMachine();
        Assert.Equal(Errno.None, m.Core.KexecFileLoad(Kernel(), Initrd(), Cmdline, OnCrash));
        var segs = m.Core.CrashImage!.Segments;
        Assert.Equal(5, segs.Count);
        Assert.All(segs, s => Assert.True(s.Memory >= CrashStart && s.Memory + s.MemorySize <= CrashEnd, s.ToString()));

        // Purgatory top-down at the very top; boot_params below it; the kernel 16 MiB aligned.
        Assert.Equal(CrashEnd - PurgatoryData.ImageSize, segs[1].Memory);
        Assert.Equal(0UL, segs[3].Memory % (16 << 20));
        var bp = m.Read(segs[2].Memory, (int)segs[2].BufferSize);
        Assert.Equal($"elfcorehdr=0x{CrashStart:x} {Cmdline}", BootParams.CommandLine(bp, segs[2].Memory));
        Assert.Equal((uint)segs[4].Memory, BinaryPrimitives.ReadUInt32LittleEndian(bp.AsSpan(BzImage.RamdiskImage)));
    }

    [Fact]
    public void Unload_clears_the_image_and_the_protection()
    {
        var m = new KexecMachine();
        Assert.Equal(Errno.None, m.Core.KexecFileLoad(Kernel(), Initrd(), Cmdline, OnCrash));
        Assert.True(m.Core.IsProtected(CrashStart));
        Assert.Equal(Errno.None, m.Core.KexecFileLoad(null, null, (string?)null, OnCrash | KexecFlags.FileUnload));
        Assert.Null(m.Core.CrashImage);
        Assert.False(m.Core.IsProtected(CrashStart));
    }

    [Fact]
    public void Purgatory_verifies_a_file_loaded_image_and_jumps_to_the_kernel()
    {
        var m = new KexecMachine();
        Assert.Equal(Errno.None, m.Core.KexecFileLoad(Kernel(), Initrd(), Cmdline, OnCrash));
        var r = m.Core.MachineKexecCrash()!;
        Assert.True(r.Verified);
        Assert.False(r.BackupCopied);
        Assert.Equal(m.Core.CrashImage!.Segments[3].Memory + 0x200, r.KernelEntry);
        Assert.Equal(m.Core.CrashImage.Segments[2].Memory, r.BootParams);
    }
}
