using MemoryRange = global::Fadump.Machine.MemoryRange;
using Fadump.Kernel.Kexec;
using Fadump.Kernel.Sysfs;
using static Fadump.Kernel.Tests.Kexec.KexecMachine;

namespace Fadump.Kernel.Tests.Kexec;

public sealed class KexecLoadTests
{
    private const ulong Crash = KexecFlags.OnCrash | KexecFlags.ArchX86_64;
    private const ulong Page = 4096;

    private static KexecSegment Seg(ulong mem, ulong memsz, int bufsz = 100) =>
        KexecSegment.Of([.. Enumerable.Range(0, bufsz).Select(i => (byte)(i + 1))], mem, memsz);

    private static Errno Load(KexecMachine m, ulong flags = Crash, ulong entry = CrashStart, params KexecSegment[] segs) => m.Core.KexecLoad(entry, segs, flags);

    [Fact]
    public void Wrong_arch_is_EINVAL() => Assert.Equal(Errno.EINVAL, Load(new(), KexecFlags.OnCrash | KexecFlags.ArchPpc64, CrashStart, Seg(CrashStart, Page)));

    [Fact]
    public void Default_arch_is_accepted() => Assert.Equal(Errno.None, Load(new(), KexecFlags.OnCrash, CrashStart, Seg(CrashStart, Page)));

    [Fact]
    public void Unknown_flag_is_EINVAL() => Assert.Equal(Errno.EINVAL, Load(new(), Crash | 0x100, CrashStart, Seg(CrashStart, Page)));

    [Fact]
    public void More_than_KEXEC_SEGMENT_MAX_segments_is_EINVAL()
    {
        var segs = Enumerable.Range(0, 17).Select(i => Seg(CrashStart + ((ulong)i * Page), Page)).ToArray();
        Assert.Equal(Errno.EINVAL, Load(new(), Crash, CrashStart, segs));
        Assert.Equal(Errno.None, Load(new(), Crash, CrashStart, segs[..16]));
    }

    [Fact]
    public void Unaligned_mem_is_EADDRNOTAVAIL() => Assert.Equal(Errno.EADDRNOTAVAIL, Load(new(), Crash, CrashStart, Seg(CrashStart + 0x800, Page)));

    [Fact]
    public void Unaligned_memsz_is_EADDRNOTAVAIL() => Assert.Equal(Errno.EADDRNOTAVAIL, Load(new(), Crash, CrashStart, Seg(CrashStart, Page + 1)));

    [Fact]
    public void Wrapping_segment_is_EADDRNOTAVAIL() => Assert.Equal(Errno.EADDRNOTAVAIL, Load(new(), KexecFlags.ArchX86_64, 0, Seg(ulong.MaxValue - Page + 1, 2 * Page)));

    [Fact]
    public void Overlapping_segments_are_EINVAL() =>
        Assert.Equal(Errno.EINVAL, Load(new(), Crash, CrashStart, Seg(CrashStart, 2 * Page), Seg(CrashStart + Page, Page)));

    [Fact]
    public void Bufsz_above_memsz_is_EINVAL() => Assert.Equal(Errno.EINVAL, Load(new(), Crash, CrashStart, Seg(CrashStart, Page, bufsz: (int)Page + 1)));

    [Fact]
    public void Buffer_shorter_than_bufsz_is_EFAULT() =>
        Assert.Equal(Errno.EFAULT, Load(new(), Crash, CrashStart, new KexecSegment(new byte[10], 11, CrashStart, Page)));

    [Fact]
    public void Segment_over_half_of_RAM_is_EINVAL_before_the_crash_region_check()
    {
        // 5 GiB of 8: the page-count rule comes before "inside crashk_res", so not EADDRNOTAVAIL.
        Assert.Equal(Errno.EINVAL, Load(new(), Crash, CrashStart, Seg(0x100000000, 5UL << 30)));
    }

    [Fact]
    public void Total_over_half_of_RAM_is_EINVAL()
    {
        var m = new KexecMachine();
        ulong half = m.Memory.TotalRam / 2;
        ulong each = (half / 2 / Page * Page) + Page;   // each below half, together above
        Assert.Equal(Errno.EINVAL, Load(m, KexecFlags.ArchX86_64, 0, Seg(0x100000000, each), Seg(0x100000000 + each, each)));
        Assert.Equal(Errno.None, Load(m, KexecFlags.ArchX86_64, 0, Seg(0x100000000, each - Page), Seg(0x100000000 + each, each - Page)));
    }

    [Fact]
    public void Crash_segment_outside_the_region_is_EADDRNOTAVAIL()
    {
        Assert.Equal(Errno.EADDRNOTAVAIL, Load(new(), Crash, CrashStart, Seg(CrashStart - Page, Page)));
        Assert.Equal(Errno.EADDRNOTAVAIL, Load(new(), Crash, CrashStart, Seg(CrashEnd - Page, 2 * Page)));
    }

    [Fact]
    public void Crash_segment_ending_at_the_region_end_is_accepted() =>
        Assert.Equal(Errno.None, Load(new(), Crash, CrashStart, Seg(CrashEnd - Page, Page)));

    [Fact]
    public void Crash_segment_in_the_low_region_is_EADDRNOTAVAIL()
    {
        // crashkernel=X,high: segments go to crashk_res only; crashk_low_res is never a destination.
        var m = new KexecMachine();
        var core = new KexecCore(m.Memory, new MemoryRange(CrashStart, CrashSize), new MemoryRange(0x10000000, 256UL << 20));
        Assert.Equal(Errno.EADDRNOTAVAIL, core.KexecLoad(CrashStart, [Seg(0x10000000, Page)], Crash));
    }

    [Fact]
    public void Crash_entry_outside_the_region_is_EADDRNOTAVAIL()
    {
        Assert.Equal(Errno.EADDRNOTAVAIL, Load(new(), Crash, CrashStart - 1, Seg(CrashStart, Page)));
        // Inside the region but in no segment: the kernel accepts it.
        Assert.Equal(Errno.None, Load(new(), Crash, CrashEnd - 1, Seg(CrashStart, Page)));
    }

    [Fact]
    public void Full_region_leaves_no_control_page_ENOMEM() =>
        Assert.Equal(Errno.ENOMEM, Load(new(), Crash, CrashStart, Seg(CrashStart, CrashSize)));

    [Fact]
    public void Load_copies_segments_and_zero_fills_to_memsz()
    {
        var m = new KexecMachine();
        Assert.NotEqual(new byte[16], m.Read(CrashStart + 0x2000 + 100, 16));   // stale data before the load
        Assert.Equal(Errno.None, Load(m, Crash, CrashStart + 0x2000, Seg(CrashStart + 0x2000, 3 * Page)));
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (byte)(i + 1)), m.Read(CrashStart + 0x2000, 100));
        Assert.Equal(new byte[(3 * Page) - 100], m.Read(CrashStart + 0x2000 + 100, (int)((3 * Page) - 100)));
        Assert.NotNull(m.Core.CrashImage);
        Assert.Equal(CrashStart, m.Core.CrashImage!.ControlPage);   // first hole from crashk_res.start
    }

    [Fact]
    public void Crash_region_is_read_only_after_load_except_the_control_page_and_writable_after_unload()
    {
        var m = new KexecMachine();
        Assert.False(m.Core.IsProtected(CrashStart + Page));
        Assert.Equal(Errno.None, Load(m, Crash, CrashStart + Page, Seg(CrashStart + Page, Page)));
        Assert.True(m.Core.IsProtected(CrashStart + Page));
        Assert.True(m.Core.IsProtected(CrashEnd - 1));
        Assert.False(m.Core.IsProtected(CrashStart));          // the control page
        Assert.False(m.Core.IsProtected(CrashEnd));
        Assert.True(m.Core.IsProtected(CrashStart, 2 * Page));
        Assert.False(m.Core.IsProtected(CrashStart, Page));
        Assert.Throws<CrashRegionProtectionException>(() => m.Core.KernelWrite(CrashStart + Page + 8, [1, 2]));
        m.Core.KernelWrite(CrashEnd, [1, 2]);                  // outside: fine

        Assert.Equal(Errno.None, m.Core.KexecLoad(0, [], Crash));
        Assert.Null(m.Core.CrashImage);
        Assert.False(m.Core.IsProtected(CrashStart + Page));
        m.Core.KernelWrite(CrashStart + Page + 8, [1, 2]);
        Assert.Equal(new byte[] { 1, 2 }, m.Read(CrashStart + Page + 8, 2));
    }

    [Fact]
    public void A_failed_reload_leaves_no_crash_image_and_no_protection()
    {
        var m = new KexecMachine();
        Assert.Equal(Errno.None, Load(m, Crash, CrashStart, Seg(CrashStart + Page, Page)));
        Assert.Equal(Errno.EADDRNOTAVAIL, Load(m, Crash, CrashStart, Seg(CrashEnd, Page)));
        Assert.Null(m.Core.CrashImage);
        Assert.False(m.Core.IsProtected(CrashStart + Page));
    }

    [Fact]
    public void Reload_replaces_the_image()
    {
        var m = new KexecMachine();
        Assert.Equal(Errno.None, Load(m, Crash, CrashStart, Seg(CrashStart + Page, Page)));
        var first = m.Core.CrashImage;
        Assert.Equal(Errno.None, Load(m, Crash, CrashStart + (8 * Page), Seg(CrashStart + (8 * Page), Page)));
        Assert.NotSame(first, m.Core.CrashImage);
        Assert.Equal(CrashStart + (8 * Page), m.Core.CrashImage!.Entry);
    }

    [Fact]
    public void A_default_image_is_staged_not_copied_and_not_protected()
    {
        var m = new KexecMachine();
        byte[] before = m.Read(0x100000000, 100);
        Assert.Equal(Errno.None, Load(m, KexecFlags.ArchX86_64, 0x100000000, Seg(0x100000000, Page)));
        Assert.NotNull(m.Core.Image);
        Assert.Null(m.Core.CrashImage);
        Assert.Equal(before, m.Read(0x100000000, 100));
        Assert.False(m.Core.IsProtected(0x100000000));
    }
}
