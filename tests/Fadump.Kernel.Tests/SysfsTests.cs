using Fadump.Firmware.Rtas;
using Fadump.Kernel.Sysfs;
using Fadump.Machine;
using Fadump.Kernel.Platforms;
using Fadump.Kernel.Fadump;

namespace Fadump.Kernel.Tests;

public sealed class SysfsTests
{
    private static PseriesLpar Lpar(string cmdline = "fadump=on", ulong mem = 4UL << 30, RtasOptions? fw = null) =>
        new(new LparSpec { MemoryBytes = mem, Cpus = 4, CommandLine = cmdline, Firmware = fw ?? new RtasOptions() });

    [Fact]
    public void First_kernel_files_and_formats()
    {
        var k = Lpar().Boot();
        Assert.Equal("1\n", k.Files.ReadText("/sys/kernel/fadump/enabled"));
        Assert.Equal("1\n", k.Files.ReadText("/sys/kernel/fadump_enabled"));
        Assert.Equal("1\n", k.Files.ReadText("/sys/kernel/fadump/registered"));
        Assert.Equal("1\n", k.Files.ReadText("/sys/kernel/fadump/hotplug_ready"));
        Assert.Equal(k.Fadump.Dump.ReserveSize + "\n", k.Files.ReadText("/sys/kernel/fadump/mem_reserved"));
        Assert.False(k.Files.Exists("/sys/kernel/fadump/release_mem"));   // only while a dump is active
        Assert.False(k.Files.Exists("/proc/vmcore"));
        Assert.Equal(0x14000000UL + 0x10000 + 680, k.Fadump.Dump.ReserveSize); // 320 MiB + CPU/HPTE page + header
        Assert.Equal(
            "CPU :[0x00000014000000-0x000000140013df] 0x13e0 bytes, Dumped: 0x0\n" +
            "HPTE:[0x000000140013e0-0x000000140023df] 0x1000 bytes, Dumped: 0x0\n" +
            "DUMP: Src: 0x00000000000000, Dest: 0x00000014010000, Size: 0x14000000, Dumped: 0x0 bytes\n" +
            "\n[0x000000027c0000-0x000000027c07ff]: cmdline append: ''\n",
            k.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region"));
    }

    [Theory]
    [InlineData("0\n", Errno.None, "0\n")]
    [InlineData("1", Errno.None, "1\n")]
    [InlineData("0x1\n", Errno.None, "1\n")]
    [InlineData("2\n", Errno.EINVAL, "1\n")]
    [InlineData("-1\n", Errno.EINVAL, "1\n")]
    [InlineData("yes\n", Errno.EINVAL, "1\n")]
    [InlineData("\n", Errno.EINVAL, "1\n")]
    public void Registered_write_semantics(string text, Errno errno, string after)
    {
        var k = Lpar().Boot();
        Assert.Equal(errno, SysfsWrite.Errno(k, "/sys/kernel/fadump/registered", text));
        Assert.Equal(after, k.Files.ReadText("/sys/kernel/fadump/registered"));
    }

    [Fact]
    public void Registered_1_while_registered_reregisters_through_the_old_name()
    {
        var lpar = Lpar();
        var k = lpar.Boot();
        int calls = lpar.Firmware.Calls;
        Assert.Equal(Errno.None, SysfsWrite.Errno(k, "/sys/kernel/fadump_registered", "1\n"));
        Assert.Equal(calls + 2, lpar.Firmware.Calls);              // unregister, then register
        Assert.True(lpar.Firmware.IsRegistered);
        Assert.Equal(Errno.None, SysfsWrite.Errno(k, "/sys/kernel/fadump/registered", "0\n"));
        Assert.False(lpar.Firmware.IsRegistered);
    }

    [Fact]
    public void Disabled_fadump_keeps_the_files_but_refuses_registration()
    {
        var k = Lpar("quiet").Boot();
        Assert.Equal("0\n", k.Files.ReadText("/sys/kernel/fadump/enabled"));
        Assert.Equal("0\n", k.Files.ReadText("/sys/kernel/fadump/registered"));
        Assert.Equal(Errno.EPERM, SysfsWrite.Errno(k, "/sys/kernel/fadump/registered", "1\n"));
        Assert.Equal(string.Empty, k.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region"));
    }

    [Fact]
    public void Unsupported_firmware_has_no_fadump_files()
    {
        var k = Lpar(fw: new RtasOptions { FadumpSupported = false }).Boot();
        Assert.False(k.Files.Exists("/sys/kernel/fadump/enabled"));
    }

    [Fact]
    public void Bootargs_append_limits_and_capture_kernel_command_line()
    {
        var lpar = Lpar();
        var k = lpar.Boot();
        Assert.Equal(Errno.EINVAL, SysfsWrite.Errno(k, "/sys/kernel/fadump/bootargs_append", new string('x', 2048)));
        Assert.Equal(Errno.ENOSPC, SysfsWrite.Errno(k, "/sys/kernel/fadump/bootargs_append", new string('x', 2040)));
        Assert.Equal(Errno.None, SysfsWrite.Errno(k, "/sys/kernel/fadump/bootargs_append", "nr_cpus=1 numa=off\n"));
        Assert.Equal("nr_cpus=1 numa=off\n", k.Files.ReadText("/sys/kernel/fadump/bootargs_append"));
        Assert.Contains("cmdline append: 'nr_cpus=1 numa=off'", k.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region"));
        lpar.Crash(CrashKind.Panic);
        var cap = lpar.Kernel!;
        Assert.EndsWith(" nr_cpus=1 numa=off", cap.CommandLine.Text);
        Assert.Equal("fadump=on nr_cpus=1 numa=off\n", cap.Files.ReadText("/proc/cmdline"));
        Assert.Equal(Errno.EPERM, SysfsWrite.Errno(cap, "/sys/kernel/fadump/bootargs_append", "quiet\n"));
    }

    [Fact]
    public void Capture_kernel_files_release_and_reregister()
    {
        var lpar = Lpar();
        lpar.Boot();
        lpar.Crash(CrashKind.Sysrq);
        var cap = lpar.Kernel!;
        Assert.True(cap.Files.Exists("/proc/vmcore"));
        Assert.Equal(Errno.EPERM, SysfsWrite.Errno(cap, "/sys/kernel/fadump/registered", "1\n"));
        Assert.Equal(
            "CPU :[0x00000014000000-0x000000140013df] 0x13e0 bytes, Dumped: 0x13e0\n" +
            "HPTE:[0x000000140013e0-0x000000140023df] 0x1000 bytes, Dumped: 0x1000\n" +
            "DUMP: Src: 0x00000000000000, Dest: 0x00000014010000, Size: 0x14000000, Dumped: 0x14000000 bytes\n" +
            "\n[0x000000027c0000-0x000000027c07ff]: cmdline append: ''\n" +
            "\nMemory above 0x00000014000000 is reserved for saving crash dump\n",
            cap.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region"));
        Assert.Equal(Errno.EINVAL, SysfsWrite.Errno(cap, "/sys/kernel/fadump/release_mem", "2\n"));
        ulong before = cap.AvailableMemory();
        Assert.Equal(Errno.None, SysfsWrite.Errno(cap, "/sys/kernel/fadump_release_mem", "1\n"));
        Assert.False(cap.Files.Exists("/proc/vmcore"));
        Assert.False(lpar.Firmware.IsDumpActive);
        // Everything above boot memory but the reserved area is back: 4 GiB − 320 MiB − the area.
        Assert.Equal((4UL << 30) - (320UL << 20) - ((320UL << 20) + 0x20000), cap.Fadump.Dump.ReleasedBytes);
        Assert.Equal(before + cap.Fadump.Dump.ReleasedBytes, cap.AvailableMemory());
        Assert.Equal(Errno.EPERM, SysfsWrite.Errno(cap, "/sys/kernel/fadump/release_mem", "1\n"));
        Assert.Equal(Errno.None, SysfsWrite.Errno(cap, "/sys/kernel/fadump/registered", "1\n"));
        Assert.True(lpar.Firmware.IsRegistered);
        Assert.Equal("1\n", cap.Files.ReadText("/sys/kernel/fadump/registered"));
    }

    [Fact]
    public void Sysrq_trigger_crashes_and_boots_the_capture_kernel()
    {
        var lpar = Lpar();
        var k = lpar.Boot();
        k.Files.WriteText("/proc/sysrq-trigger", "c\n");
        Assert.True(k.Crashed);
        Assert.Equal("OS panic: sysrq triggered crash", lpar.Firmware.LastOsTermMessage);
        Assert.NotSame(k, lpar.Kernel);
        Assert.True(lpar.Kernel!.Files.Exists("/proc/vmcore"));
    }
}
