using System.Security.Cryptography;
using Fadump.Firmware.Rtas;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Kernel.Sysfs;
using Fadump.Kernel.Platforms;
using Fadump.Kernel.Fadump;

namespace Fadump.Kernel.Tests;

/// <summary>
/// Issue 7 item 11, the platform's part of the fault matrix: each fault, the kernel's own messages, and what
/// survives (the dump, the notes, the registration).
/// </summary>
public sealed class FaultMatrixTests
{
    private const ulong G = 1UL << 30;

    private static PseriesLpar Lpar(RtasOptions? fw = null, int cpus = 4, string cmdline = "fadump=on") =>
        new(new LparSpec { MemoryBytes = 4 * G, Cpus = cpus, CommandLine = cmdline, Firmware = fw ?? new RtasOptions() });

    private static string Log(LinuxKernel k) => string.Join("\n", k.Log.Lines);

    /// <summary>A digest of /proc/vmcore: the ELF header and notes, and the first 64 MiB of memory.</summary>
    private static string VmcoreDigest(LinuxKernel k)
    {
        using var src = k.Files.OpenRead("/proc/vmcore");
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buf = new byte[1 << 20];
        for (long off = 0; off < Math.Min(src.Length, 64L << 20);)
        {
            int n = src.Read(off, buf);
            if (n <= 0)
            {
                break;
            }

            sha.AppendData(buf, 0, n);
            off += n;
        }

        return Convert.ToHexString(sha.GetHashAndReset());
    }

    private static List<int> NoteCpus(LinuxKernel k)
    {
        using var vmcore = k.Files.OpenRead("/proc/vmcore");
        using var dump = ElfDump.Open(vmcore);
        return [.. dump.CpuStates().Select(c => c.Pid - 1).Order()];
    }

    // --- firmware copy errors flagged in the dump structure ---

    [Theory]
    [InlineData(2, FadumpStructure.ErrInvalidDestAddr, null, "rtas fadump: Dump taken by platform is not valid (2)", "rtas fadump: Region type: 17 src addr: 0x0 dest addr: 0x14010000")]
    [InlineData(2, (ushort)0, 0x8000000UL, "rtas fadump: Dump taken by platform is incomplete (2)", "rtas fadump: Region type: 17 src addr: 0x0 dest addr: 0x14010000")]
    [InlineData(0, FadumpStructure.ErrDestTooSmall, 0x100UL, "rtas fadump: Dump taken by platform is not valid (0)", "rtas fadump: Dump taken by platform is incomplete (0)")]
    [InlineData(1, FadumpStructure.ErrLengthExceedsSource, null, "rtas fadump: Dump taken by platform is not valid (1)", "rtas fadump: Region type: 2 src addr: 0x0 dest addr: ")]
    public void A_firmware_copy_error_invalidates_the_dump_and_frees_fadump_for_the_next_crash(int section, ushort flags, ulong? bytes, string message, string detail)
    {
        var lpar = Lpar(new RtasOptions { SectionFaults = new Dictionary<int, SectionFault> { [section] = new(flags, bytes) } });
        var k1 = lpar.Boot();
        Assert.True(k1.Fadump.Dump.Registered);
        Assert.True(lpar.Crash(CrashKind.Panic));
        var cap = lpar.Kernel!;

        // The firmware's report: the section's flags and the dump's DUMP_ERROR status, as the capture kernel got them.
        var active = cap.Fadump.Dump.FirmwareStructure!;
        Assert.Equal(flags, active.Sections[section].ErrorFlags);
        Assert.Equal(flags != 0, (active.StatusFlags & FadumpStructure.StatusError) != 0);

        // The kernel's reaction (rtas_fadump_process): its messages, no /proc/vmcore, the dump invalidated and released.
        Assert.Contains(message, Log(cap));
        Assert.Contains(detail, Log(cap));
        Assert.False(cap.Files.Exists("/proc/vmcore"));
        Assert.False(lpar.Firmware.IsDumpActive);
        Assert.True(cap.Fadump.Dump.Released);

        // What survives: the machine, and FADump: re-registering arms it, and the next crash is dumped whole.
        Assert.Equal(Errno.None, SysfsWrite.Errno(cap, "/sys/kernel/fadump/registered", "1\n"));
        Assert.True(cap.Fadump.Dump.Registered);
    }

    [Fact]
    public void A_param_area_copy_error_only_drops_the_appended_arguments()
    {
        var lpar = Lpar(new RtasOptions { SectionFaults = new Dictionary<int, SectionFault> { [3] = new(FadumpStructure.ErrInvalidSourceAddr) } });
        var k1 = lpar.Boot();
        Assert.Equal(FadumpStructure.ParamArea, k1.Fadump.Dump.Structure!.Sections[3].Type);
        k1.Files.WriteText("/sys/kernel/fadump/bootargs_append", "nr_cpus=1");
        Assert.True(lpar.Crash(CrashKind.Panic));
        var cap = lpar.Kernel!;
        Assert.True(cap.Files.Exists("/proc/vmcore"));
        Assert.Equal(0UL, cap.Fadump.Dump.ParamArea);
        Assert.DoesNotContain("nr_cpus=1", cap.CommandLine.Text, StringComparison.Ordinal);
    }

    // --- a nested crash in the capture kernel ---

    [Fact]
    public void A_crash_of_the_capture_kernel_keeps_the_dump_for_the_next_boot()
    {
        var lpar = Lpar();
        lpar.Boot();
        Assert.True(lpar.Crash(CrashKind.Panic));
        var cap1 = lpar.Kernel!;
        string before = VmcoreDigest(cap1);
        cap1.Printk("capture kernel: running the dump service"); // the capture kernel writes its own memory

        // The capture kernel panics before the dump is saved: it is not registered, so the firmware takes no dump;
        // the one it holds stays active.
        Assert.False(lpar.Crash(CrashKind.Oops));
        Assert.Same(cap1, lpar.Kernel);
        Assert.True(lpar.Firmware.IsDumpActive);

        // The next boot (panic reboot) is a capture kernel again, with the same dump.
        var cap2 = lpar.Reboot();
        Assert.NotSame(cap1, cap2);
        Assert.True(cap2.Fadump.Dump.DumpActive);
        Assert.Equal(before, VmcoreDigest(cap2));
        Assert.Equal([0, 1, 2, 3], NoteCpus(cap2));

        // Saved this time: release and re-register as usual.
        cap2.Files.WriteText("/sys/kernel/fadump/release_mem", "1\n");
        Assert.False(lpar.Firmware.IsDumpActive);
        Assert.Equal(Errno.None, SysfsWrite.Errno(cap2, "/sys/kernel/fadump/registered", "1\n"));
    }

    // --- CPU count mismatch between the crash notes and the device tree ---

    [Fact]
    public void An_offline_cpu_has_no_note_though_the_device_tree_lists_it()
    {
        var lpar = Lpar();
        lpar.Boot();
        lpar.Machine.Cpus[2].Online = false; // offlined before the crash: not in the header's cpu_mask
        Assert.True(lpar.Crash(CrashKind.Panic, crashingCpu: 1));
        var cap = lpar.Kernel!;
        Assert.Equal(4, lpar.Machine.DeviceTree.Find("/cpus")!.Children.Count());
        Assert.Equal([0, 1, 3], NoteCpus(cap));
    }

    [Theory]
    [InlineData(3, 0, new[] { 0, 1, 2 })]
    [InlineData(0, 0, new[] { 1, 2, 3 })] // the crashing CPU itself: its registers are lost from the notes
    public void A_cpu_the_firmware_did_not_save_has_no_note_and_the_dump_survives(int unsaved, int crashing, int[] expected)
    {
        var lpar = Lpar(new RtasOptions { UnsavedCpus = new HashSet<int> { unsaved } });
        lpar.Boot();
        Assert.True(lpar.Crash(CrashKind.Panic, crashingCpu: crashing));
        var cap = lpar.Kernel!;
        Assert.True(cap.Files.Exists("/proc/vmcore"), string.Join("\n", cap.Fadump.VmcoreLog));
        Assert.Equal(expected, NoteCpus(cap));
    }

    [Fact]
    public void A_save_area_sized_for_more_cpus_than_dumped_loses_the_dump()
    {
        // QEMU's maxcpus > cpus: bytes_dumped < source_len on the CPU section, so the kernel rejects the dump.
        var lpar = Lpar(new RtasOptions { MaxCpus = 8 });
        lpar.Boot();
        Assert.True(lpar.Crash(CrashKind.Panic));
        var cap = lpar.Kernel!;
        Assert.Contains("rtas fadump: Dump taken by platform is incomplete (0)", Log(cap));
        Assert.Contains("rtas fadump: Region type: 1 src addr: 0x0 dest addr: ", Log(cap));
        Assert.False(cap.Files.Exists("/proc/vmcore"));
    }

    // --- registration failures ---

    [Theory]
    [InlineData(-3, "rtas fadump: Failed to register. Parameter Error(-3).", false, Errno.EINVAL)]
    [InlineData(-9, "rtas fadump: Already registered!", true, Errno.EEXIST)]
    [InlineData(-1, "rtas fadump: Failed to register. Hardware Error(-1).", false, Errno.EIO)]
    [InlineData(-10, "rtas fadump: Failed to register. Unknown Error(-10).", false, Errno.EIO)]
    public void Registration_failures_are_logged_as_the_kernel_logs_them(int rc, string message, bool registered, Errno errno)
    {
        var lpar = Lpar();
        lpar.Firmware.InjectedReturnCodes.Enqueue(rc);
        var k = lpar.Boot();
        Assert.Contains(message, Log(k));
        Assert.Equal(registered, k.Fadump.Dump.Registered);
        Assert.Equal(registered ? "1\n" : "0\n", k.Files.ReadText("/sys/kernel/fadump/registered"));

        // The same answer to a registration from userspace is the errno the write returns.
        if (registered)
        {
            Assert.Equal(Errno.None, SysfsWrite.Errno(k, "/sys/kernel/fadump/registered", "0\n"));
        }

        lpar.Firmware.InjectedReturnCodes.Enqueue(rc);
        Assert.Equal(errno, SysfsWrite.Errno(k, "/sys/kernel/fadump/registered", "1\n"));

        // What survives: nothing is dumped while unregistered; a later registration that succeeds arms it.
        if (!registered)
        {
            Assert.Equal(Errno.None, SysfsWrite.Errno(k, "/sys/kernel/fadump/registered", "1\n"));
            Assert.True(k.Fadump.Dump.Registered);
        }
    }

    [Fact]
    public void A_crash_after_a_failed_registration_leaves_no_dump()
    {
        var lpar = Lpar();
        lpar.Firmware.InjectedReturnCodes.Enqueue(-3);
        var k = lpar.Boot();
        Assert.False(lpar.Crash(CrashKind.Panic));
        Assert.False(lpar.Firmware.IsDumpActive);
        Assert.Contains("---[ end Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b ]---", Log(k));
    }

    [Fact]
    public void Busy_and_extended_delay_answers_are_retried_with_their_delays()
    {
        var lpar = Lpar();
        foreach (var rc in new[] { -2, -2, -2, 9901, 9903 })
        {
            lpar.Firmware.InjectedReturnCodes.Enqueue(rc);
        }

        var before = lpar.Machine.Clock.Now;
        var k = lpar.Boot();
        Assert.True(k.Fadump.Dump.Registered);
        Assert.Contains("rtas fadump: Registration is successful!", Log(k));
        Assert.Equal(6, lpar.Firmware.Calls);
        // rtas_busy_delay_time: 1 ms per busy answer, 10^(rc - 9900) ms per extended delay.
        Assert.True(lpar.Machine.Clock.Now - before >= TimeSpan.FromMilliseconds(3 + 10 + 1000));
    }
}
