using System.Buffers.Binary;
using Fadump.Firmware.Opal;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using Fadump.Kernel.Fadump;
using Fadump.Kernel.Fadump.Opal;
using Fadump.Kernel.Platforms.PowerNv;
using Fadump.Kernel.Sysfs;
using Fadump.Machine;

namespace Fadump.Kernel.Tests.PowerNv;

/// <summary>FADump through OPAL MPIPL on PowerNV: spec/phyp-dump-and-opal.md part B and fadump-linux.md §2.4, against opal-fadump.c, opal-core.c and skiboot.</summary>
public sealed class OpalFadumpTests
{
    private const ulong G = 1UL << 30;
    private const ulong M = 1UL << 20;

    internal static PowerNvSystem System(ulong memory = 8 * G, int cpus = 8, string cmdline = PowerNvSpec.DefaultCommandLine, OpalOptions? firmware = null, PetitbootMode petitboot = PetitbootMode.Preserving) =>
        new(new PowerNvSpec { MemoryBytes = memory, Cpus = cpus, CommandLine = cmdline, Firmware = firmware ?? new OpalOptions(), Petitboot = petitboot });

    internal static string Log(LinuxKernel k) => string.Join("\n", k.Log.Lines);

    internal static string FwLog(PowerNvSystem s) => string.Join("\n", s.Firmware.Log);

    [Fact]
    public void First_kernel_reserves_registers_metadata_tags_and_one_range_per_boot_region()
    {
        var s = System();
        var k = s.Boot();
        var f = ((FadumpCore)k.Mechanism).Dump;
        Assert.True(f.Registered, Log(k));
        Assert.Equal(768 * M, f.BootMemorySize); // 5 % of 8 GiB rounded down to 256 MiB is 256 MiB: OPAL's minimum
        Assert.Equal(f.ReserveStart + f.ReserveSize - 0x10000, f.KernelMetadata);
        string log = Log(k);
        Assert.Contains("opal fadump: Kernel metadata addr: " + f.KernelMetadata.ToString("x", null), log);
        Assert.Contains("opal fadump: Registration is successful!", log);
        var fw = FwLog(s);
        Assert.Contains("DUMP: Payload sent metadata tag : 0x" + f.KernelMetadata.ToString("x", null), fw);
        Assert.Contains("DUMP: Boot mem size : 0x30000000", fw);
        Assert.Contains("DUMP: Payload registered for MPIPL", fw);

        // MDST: OPAL's own entry, then the kernel's boot region.
        var e = s.Firmware.Entries();
        Assert.Equal(2, e.Count);
        Assert.Equal((OpalFirmware.SkibootBase, s.Firmware.OpalDumpAddress, (uint)s.Firmware.OpalDumpSize, OpalFirmware.RegionOpalMemory), e[0]);
        Assert.Equal((0UL, f.ReserveStart, (uint)(768 * M), OpalFirmware.RegionKernel), e[1]);
        Assert.Equal("DUMP: Src: 0x00000000000000, Dest: " + CFormat.Hex016(f.ReserveStart) + ", Size: 0x30000000, Dumped: 0x0 bytes\n",
            k.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region"));
        Assert.False(k.Files.Exists("/sys/kernel/fadump/bootargs_append"));
    }

    [Fact]
    public void Crash_mpipl_petitboot_preserves_and_the_production_kernel_exports_vmcore_and_opal_core()
    {
        var s = System();
        var k1 = s.Boot();
        var f1 = ((FadumpCore)k1.Mechanism).Dump;
        Assert.True(s.Crash(CrashKind.Panic, crashingCpu: 5), FwLog(s));
        Assert.Contains("Reboot: OS reported error. Performing MPIPL", FwLog(s));
        Assert.Contains("DUMP: Crashing PIR = 0x" + s.Firmware.Pir(5).ToString("x", null), FwLog(s));
        Assert.Contains("DUMP: Dump found, MDRT count = 0x2", FwLog(s));
        Assert.True(s.Firmware.MpiplBoot);

        // Petitboot kept the crash data.
        var pb = s.PreservingPetitboot!;
        Assert.True(pb.DumpActive, Log(s.Petitboot!));
        Assert.Equal(768 * M, pb.BootMemTop);
        Assert.Contains("fadump: Preserving crash data for processing in next boot.", Log(s.Petitboot!));

        // The production kernel after kexec: the dump is active, /proc/vmcore and the OPAL core exist.
        var k2 = s.Kernel!;
        Assert.NotSame(k1, k2);
        var f2 = ((FadumpCore)k2.Mechanism).Dump;
        Assert.True(f2.DumpActive, Log(k2));
        Assert.Equal(f1.ReserveStart, f2.ReserveStart);
        Assert.True(k2.Files.Exists("/proc/vmcore"), Log(k2));
        Assert.True(k2.Files.Exists("/sys/firmware/opal/mpipl/core"), Log(k2));
        Assert.Equal(0400, k2.Files.Get("/sys/firmware/opal/mpipl/core")!.Mode);
        Assert.True(k2.Files.Exists("/sys/firmware/opal/core"));

        // vmcore: one NT_PRSTATUS per CPU, the crashing one with the kernel's saved registers.
        using (var v = k2.Files.OpenRead("/proc/vmcore"))
        {
            var core = ElfCoreFile.Open(v);
            var pr = core.Notes.Where(n => n.Type == ElfNote.NT_PRSTATUS).Select(n => PrStatus.Parse(n.Desc, core.Machine, "core", 0)).ToList();
            Assert.Equal(8, pr.Count);
        }

        // OPAL core: big-endian, PT_NOTE then a PT_LOAD of OPAL memory at opal-base, crashing thread first.
        using (var oc = k2.Files.OpenRead("/sys/firmware/opal/mpipl/core"))
        {
            var core = ElfCoreFile.Open(oc);
            Assert.True(core.Machine.BigEndian);
            var loads = core.Loads.ToList();
            Assert.Single(loads);
            Assert.Equal(0UL, loads[0].PhysicalAddress);
            Assert.Equal(OpalFirmware.SkibootBase, loads[0].VirtualAddress);
            Assert.Equal(s.Firmware.OpalDumpSize, loads[0].FileSize);
            var pr = core.Notes.Where(n => n.Type == ElfNote.NT_PRSTATUS).Select(n => PrStatus.Parse(n.Desc, core.Machine, "core", 0)).ToList();
            Assert.Equal(8, pr.Count);
            Assert.Equal(100 + (int)s.Firmware.Pir(5), pr[0].Pid);
            Assert.Equal(10, pr[0].CurSig); // SIGUSR1: the kernel initiated the crash
        }

        // release_core: "1" frees both paths; again -EPERM; else -EINVAL.
        Assert.Equal(Errno.EINVAL, SysfsWrite.Errno(k2, "/sys/firmware/opal/mpipl/release_core", "2\n"));
        Assert.Equal(Errno.None, SysfsWrite.Errno(k2, "/sys/firmware/opal/mpipl/release_core", "1\n"));
        Assert.False(k2.Files.Exists("/sys/firmware/opal/mpipl/core"));
        Assert.False(k2.Files.Exists("/sys/firmware/opal/core"));
        Assert.Equal(Errno.EPERM, SysfsWrite.Errno(k2, "/sys/firmware/opal/mpipl/release_core", "1\n"));
        Assert.Contains("opal core: '/sys/firmware/opal/core' file not accessible!", Log(k2));

        // release_mem: invalidated (FREE_PRESERVED_MEMORY), TAG_KERNEL again, re-registration works.
        Assert.Equal(Errno.None, SysfsWrite.Errno(k2, "/sys/kernel/fadump/release_mem", "1\n"));
        Assert.Contains("DUMP: Payload Invalidated MPIPL", FwLog(s));
        Assert.False(k2.Files.Exists("/proc/vmcore"));
        Assert.Equal(Errno.None, SysfsWrite.Errno(k2, "/sys/kernel/fadump/registered", "1\n"));
        Assert.True(f2.Registered, Log(k2));
    }

    private static FadumpCore Fadump(LinuxKernel k) => (FadumpCore)k.Mechanism;

    // ---- detection (opal_fadump_dt_scan) -------------------------------------------------------

    [Fact]
    public void A_fw_load_area_ending_above_768M_makes_FADump_unsupported()
    {
        var s = System(firmware: new OpalOptions { FwLoadArea = [new(0x20000000, 0x8000000), new(0x28000000, 0x10000000)] });
        var k = s.Boot();
        var f = Fadump(k);
        string log = Log(k);
        Assert.Contains("opal fadump: F/W load area: 0x28000000-0x38000000", log);
        Assert.Contains("opal fadump: F/W version not supported!", log);
        Assert.Contains("fadump: Firmware-Assisted Dump is not supported on this hardware", log);
        Assert.False(f.Dump.Supported);
        Assert.False(f.Dump.Registered);
        Assert.Equal(0UL, f.Dump.ReserveSize);
        Assert.DoesNotContain("Registration is successful", log);
        Assert.DoesNotContain("Payload registered for MPIPL", FwLog(s));
        Assert.Single(s.Firmware.Entries()); // OPAL's own
        Assert.False(k.Files.Exists("/sys/kernel/fadump/registered"));
    }

    [Fact]
    public void A_fw_load_area_ending_exactly_at_768M_is_accepted()
    {
        var s = System(firmware: new OpalOptions { FwLoadArea = [new(0x20000000, 0x10000000)] });
        var k = s.Boot();
        Assert.DoesNotContain("F/W load area", Log(k));
        Assert.True(Fadump(k).Dump.Registered, Log(k));
    }

    [Fact]
    public void Another_dump_compatible_is_support_missing_for_this_fw_version()
    {
        var s = System(firmware: new OpalOptions { DumpCompatible = "ibm,opal-dump-v2" });
        var k = s.Boot();
        Assert.Contains("opal fadump: Support missing for this f/w version!", Log(k));
        Assert.False(Fadump(k).Dump.Supported);
        Assert.False(Fadump(k).Dump.Registered);
        Assert.Single(s.Firmware.Entries());
    }

    [Fact]
    public void Without_MPIPL_support_there_is_no_dump_node_and_no_FADump()
    {
        var s = System(firmware: new OpalOptions { MpiplSupported = false });
        var k = s.Boot();
        Assert.Null(s.Machine.DeviceTree.Find("/ibm,opal/dump"));
        Assert.Contains("fadump: Firmware-Assisted Dump is not supported on this hardware", Log(k));
        Assert.False(Fadump(k).Dump.Supported);
        Assert.DoesNotContain("opal fadump:", Log(k));
    }

    // ---- boot memory ---------------------------------------------------------------------------

    [Fact]
    public void Crashkernel_below_768M_cannot_enable_fadump()
    {
        var s = System(cmdline: "root=/dev/sda2 fadump=on crashkernel=512M");
        var k = s.Boot();
        var f = Fadump(k);
        Assert.Contains("fadump: Can't enable fadump with boot memory size (0x20000000) less than 0x30000000", Log(k));
        Assert.True(f.Dump.Supported);
        Assert.False(f.Dump.Enabled);
        Assert.False(f.Dump.Registered);
        Assert.Equal(0UL, f.Dump.ReserveSize);
        Assert.Equal("0\n", k.Files.ReadText("/sys/kernel/fadump/enabled"));
        Assert.Equal(string.Empty, k.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region"));
        Assert.Single(s.Firmware.Entries());
        Assert.Equal(Errno.EPERM, SysfsWrite.Errno(k, "/sys/kernel/fadump/registered", "1"));
    }

    [Fact]
    public void Boot_memory_above_4G_is_split_in_regions_of_at_most_0xFFFF0000()
    {
        var s = System(memory: 64 * G, cmdline: "root=/dev/sda2 fadump=on crashkernel=8G");
        var k = s.Boot();
        var f = Fadump(k).Dump;
        Assert.True(f.Registered, Log(k));
        Assert.Equal(8 * G, f.BootMemorySize);
        Assert.Equal(8 * G, f.BootMemTop);
        Assert.Equal(new MemoryRange[] { new(0, 0xFFFF0000), new(0xFFFF0000, 0xFFFF0000), new(0x1FFFE0000, 0x20000) }, f.BootRegions);
        Assert.Contains("DUMP: Boot mem size : 0x200000000", FwLog(s));
        var e = s.Firmware.Entries();
        Assert.Equal(4, e.Count);
        Assert.Equal((0UL, f.ReserveStart, 0xFFFF0000u, OpalFirmware.RegionKernel), e[1]);
        Assert.Equal((0xFFFF0000UL, f.ReserveStart + 0xFFFF0000, 0xFFFF0000u, OpalFirmware.RegionKernel), e[2]);
        Assert.Equal((0x1FFFE0000UL, f.ReserveStart + 0x1FFFE0000, 0x20000u, OpalFirmware.RegionKernel), e[3]);
        Assert.Equal(f.ReserveStart + 8 * G, f.HeaderAddress);
        string d = CFormat.Hex016(f.ReserveStart), d1 = CFormat.Hex016(f.ReserveStart + 0xFFFF0000), d2 = CFormat.Hex016(f.ReserveStart + 0x1FFFE0000);
        Assert.Equal(
            "DUMP: Src: 0x00000000000000, Dest: " + d + ", Size: 0xffff0000, Dumped: 0x0 bytes\n" +
            "DUMP: Src: 0x000000ffff0000, Dest: " + d1 + ", Size: 0xffff0000, Dumped: 0x0 bytes\n" +
            "DUMP: Src: 0x000001fffe0000, Dest: " + d2 + ", Size: 0x20000, Dumped: 0x0 bytes\n",
            k.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region"));
    }

    [Fact]
    public void More_regions_than_the_MDST_holds_are_a_warning_registration_still_counts_and_the_dump_says_what_was_not_saved()
    {
        // 256 GiB of boot memory is 65 regions of at most 0xFFFF0000; the MDST has 64 entries and OPAL uses one.
        var s = System(memory: 1024 * G, cmdline: "root=/dev/sda2 fadump=on crashkernel=256G");
        var k1 = s.Boot();
        var f1 = Fadump(k1).Dump;
        Assert.Equal(65, f1.BootRegions.Count);
        Assert.Contains("opal fadump: 2 regions could not be registered for MPIPL as MAX limit is reached!", Log(k1));
        Assert.Contains("DUMP: MDST table is full", FwLog(s));
        Assert.True(f1.Registered);
        Assert.Equal("1\n", k1.Files.ReadText("/sys/kernel/fadump/registered"));
        Assert.Equal(64, s.Firmware.Entries().Count);
        var md = OpalFadumpMem.Read(s.Machine.Memory, f1.KernelMetadata, bigEndian: false);
        Assert.Equal(65, md.RegionCount);
        Assert.Equal(63, md.RegisteredRegions);

        Assert.True(s.Crash(CrashKind.Panic, crashingCpu: 1), FwLog(s));
        Assert.Contains("DUMP: Dump found, MDRT count = 0x40", FwLog(s));
        var k2 = s.Kernel!;
        var f2 = Fadump(k2).Dump;
        Assert.True(f2.DumpActive, Log(k2));
        var lines = k2.Log.Lines.Select(l => l[(l.IndexOf("] ", StringComparison.Ordinal) + 2)..]).ToList();
        int at = lines.IndexOf("opal fadump: Not all memory regions were saved!!!");
        Assert.True(at >= 0, Log(k2));
        Assert.Equal(
        new[]
        {
            "opal fadump: Not all memory regions were saved!!!",
            "opal fadump:   Unsaved memory regions:",
            "opal fadump: \t[063] base: 0x3effc10000, size: 0xffff0000",
            "opal fadump: \t[064] base: 0x3fffc00000, size: 0x400000",
            "opal fadump: If the unsaved regions only contain pages that are filtered out (eg. free/user pages), the vmcore should still be usable.",
            "opal fadump: WARNING: If the unsaved regions contain kernel pages, the vmcore will be corrupted.",
        }, lines.Skip(at).Take(6));
        Assert.Equal(256 * G, f2.BootMemTop);
        Assert.True(k2.Files.Exists("/proc/vmcore"), Log(k2));

        // fadump_region: "Dumped" keeps the last registered size for the unsaved regions (opal_fadump_region_show).
        var region = k2.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region").Split('\n');
        Assert.EndsWith("Size: 0xffff0000, Dumped: 0xffff0000 bytes", region[62]);
        Assert.EndsWith("Size: 0xffff0000, Dumped: 0xffff0000 bytes", region[63]);
        Assert.EndsWith("Size: 0x400000, Dumped: 0xffff0000 bytes", region[64]);
    }

    // ---- registration errors (opal_fadump_register / unregister / invalidate) ------------------

    [Fact]
    public void A_parameter_error_in_the_middle_of_registration_removes_all_the_kernel_ranges()
    {
        var s = System(memory: 64 * G, cmdline: "root=/dev/sda2 fadump=on crashkernel=8G");
        s.Firmware.InjectedReturnCodes.Enqueue(OpalFirmware.Success);
        s.Firmware.InjectedReturnCodes.Enqueue(OpalFirmware.Parameter);
        var k = s.Boot();
        var f = Fadump(k).Dump;
        Assert.Contains("opal fadump: Failed to register. Parameter Error(-1).", Log(k));
        Assert.Contains("DUMP: Payload unregistered for MPIPL", FwLog(s));
        Assert.False(f.Registered);
        Assert.True(f.Enabled);
        Assert.Equal("0\n", k.Files.ReadText("/sys/kernel/fadump/registered"));
        Assert.Equal([OpalFirmware.RegionOpalMemory], s.Firmware.Entries().Select(e => e.Region));
        Assert.Equal(0, OpalFadumpMem.Read(s.Machine.Memory, f.KernelMetadata, bigEndian: false).RegisteredRegions);

        // Userspace can try again.
        Assert.Equal(Errno.None, SysfsWrite.Errno(k, "/sys/kernel/fadump/registered", "1"));
        Assert.True(f.Registered);
        Assert.Equal(4, s.Firmware.Entries().Count);
    }

    [Fact]
    public void A_real_duplicate_destination_fails_the_second_range_and_REMOVE_ALL_takes_the_first_back()
    {
        var s = System(memory: 64 * G, cmdline: "root=/dev/sda2 fadump=on crashkernel=8G");
        var k = s.Boot();
        var f = Fadump(k).Dump;
        Assert.Equal(Errno.None, SysfsWrite.Errno(k, "/sys/kernel/fadump/registered", "0"));
        Assert.Single(s.Firmware.Entries());
        // Someone else's range with the second region's destination.
        Assert.Equal(OpalFirmware.Success, s.Firmware.MpiplUpdate(0, 40 * G, f.ReserveStart + 0xFFFF0000, 0x10000));
        Assert.Equal(Errno.EIO, SysfsWrite.Errno(k, "/sys/kernel/fadump/registered", "1"));
        Assert.Contains(FormattableString.Invariant($"DUMP: Duplicate destination address : 0x{f.ReserveStart + 0xFFFF0000:x}"), FwLog(s));
        Assert.Contains("opal fadump: Failed to register. Parameter Error(-1).", Log(k));
        Assert.False(f.Registered);
        Assert.Single(s.Firmware.Entries());
    }

    [Fact]
    public void A_hardware_error_at_registration_is_support_not_available_and_disables_FADump()
    {
        var s = System();
        s.Firmware.InjectedReturnCodes.Enqueue(OpalFirmware.Hardware);
        var k = s.Boot();
        var f = Fadump(k).Dump;
        Assert.Contains("opal fadump: Support not available.", Log(k));
        Assert.False(f.Registered);
        Assert.False(f.Enabled);
        Assert.False(f.Supported);
        Assert.DoesNotContain("Payload unregistered", FwLog(s)); // nothing was registered: no REMOVE_ALL
        Assert.Single(s.Firmware.Entries());
        // setup_fadump made the files before registering: they stay, and say FADump is off.
        Assert.Equal("0\n", k.Files.ReadText("/sys/kernel/fadump/enabled"));
        Assert.Equal("0\n", k.Files.ReadText("/sys/kernel/fadump/registered"));
    }

    [Fact]
    public void Another_error_at_registration_is_an_unknown_error()
    {
        var s = System();
        s.Firmware.InjectedReturnCodes.Enqueue(OpalFirmware.InternalError);
        var k = s.Boot();
        var f = Fadump(k).Dump;
        Assert.Contains("opal fadump: Failed to register. Unknown Error(-11).", Log(k));
        Assert.False(f.Registered);
        Assert.True(f.Enabled);
        Assert.Single(s.Firmware.Entries());
        Assert.Equal("0\n", k.Files.ReadText("/sys/kernel/fadump/registered"));
    }

    [Fact]
    public void An_unregister_failure_is_logged_and_answers_EIO()
    {
        var s = System();
        var k = s.Boot();
        var f = Fadump(k).Dump;
        s.Firmware.InjectedReturnCodes.Enqueue(OpalFirmware.InternalError);
        Assert.Equal(Errno.EIO, SysfsWrite.Errno(k, "/sys/kernel/fadump/registered", "0"));
        Assert.Contains("opal fadump: Failed to un-register - unexpected Error(-11).", Log(k));
        Assert.True(f.Registered);
        Assert.Equal(2, s.Firmware.Entries().Count);
        Assert.Equal("1\n", k.Files.ReadText("/sys/kernel/fadump/registered"));

        // Re-registering unregisters first: the same failure, the same answer.
        s.Firmware.InjectedReturnCodes.Enqueue(OpalFirmware.InternalError);
        Assert.Equal(Errno.EIO, SysfsWrite.Errno(k, "/sys/kernel/fadump/registered", "1"));
        Assert.Equal(2, k.Log.Lines.Count(l => l.EndsWith("opal fadump: Failed to un-register - unexpected Error(-11).", StringComparison.Ordinal)));
        Assert.Equal(Errno.None, SysfsWrite.Errno(k, "/sys/kernel/fadump/registered", "0"));
        Assert.Contains("DUMP: Payload unregistered for MPIPL", FwLog(s));
        Assert.False(f.Registered);
    }

    [Fact]
    public void An_invalidate_failure_at_release_mem_is_logged()
    {
        var s = System();
        s.Boot();
        Assert.True(s.Crash(CrashKind.Panic, crashingCpu: 2));
        var k2 = s.Kernel!;
        s.Firmware.InjectedReturnCodes.Enqueue(OpalFirmware.InternalError);
        Assert.Equal(Errno.None, SysfsWrite.Errno(k2, "/sys/kernel/fadump/release_mem", "1")); // release_mem_store returns count
        Assert.Contains("opal fadump: Failed to invalidate - unexpected Error(-11).", Log(k2));
        Assert.DoesNotContain("DUMP: Payload Invalidated MPIPL", FwLog(s));
        Assert.False(k2.Files.Exists("/proc/vmcore"));
        // The memory is released, but the dump stays active (the platform clears dump_active only on success):
        // registering again is refused until a reboot.
        Assert.True(Fadump(k2).Dump.DumpActive);
        Assert.True(Fadump(k2).Dump.Released);
        Assert.Equal(Errno.EPERM, SysfsWrite.Errno(k2, "/sys/kernel/fadump/registered", "1"));
    }

    [Fact]
    public void A_crash_info_header_corrupted_before_the_crash_stays_corrupted_crash_fadump_writes_only_its_fields()
    {
        var s = System();
        var k1 = s.Boot();
        var f1 = Fadump(k1).Dump;
        s.Machine.Memory.Write(f1.HeaderAddress, new byte[8]); // a stray write over the magic while the kernel runs
        Assert.True(s.Crash(CrashKind.Panic, crashingCpu: 1));
        var k2 = s.Kernel!;
        Assert.Contains("opal fadump: Crash info header is not valid.", Log(k2));
        Assert.False(k2.Files.Exists("/proc/vmcore"));
    }

    // ---- the crash path (opal_fadump_trigger) and the MPIPL --------------------------------------

    private static List<PrStatus> PrStatuses(ElfCoreFile core) =>
        core.Notes.Where(n => n.Type == ElfNote.NT_PRSTATUS).Select(n => PrStatus.Parse(n.Desc, core.Machine, "core", 0)).ToList();

    [Fact]
    public void The_crash_info_header_holds_the_crashing_CPUs_PIR_not_its_logical_number()
    {
        var s = System();
        var k1 = s.Boot();
        var f1 = Fadump(k1).Dump;
        uint pir = s.Firmware.Pir(5);
        Assert.Equal(0x101u, pir); // 2 chips, one SMT4 core each: CPU 5 is chip 1, core 0, thread 1
        var before = new byte[CrashInfoHeader.Size];
        s.Machine.Memory.Read(f1.HeaderAddress, before);
        Assert.Equal(CrashInfoHeader.CpuUnknown, CrashInfoHeader.Decode(before, bigEndian: false).CrashingCpu);

        Assert.True(s.Crash(CrashKind.Panic, crashingCpu: 5));
        var b = new byte[CrashInfoHeader.Size];
        s.Machine.Memory.Read(f1.HeaderAddress, b);
        var h = CrashInfoHeader.Decode(b, bigEndian: false);
        Assert.Equal(CrashInfoHeader.MagicFadmpsig, h.Magic);
        Assert.Equal(pir, h.CrashingCpu);
        Assert.Equal("Attempted to kill init! exitcode=0x0000000b", s.Firmware.LastRebootMessage);

        // The capture kernel plugs the header's registers in for the thread with that PIR (logical CPU 5 → pid 6).
        var k2 = s.Kernel!;
        Assert.True(Fadump(k2).Dump.DumpActive);
        using var core = ElfCoreFile.Open(k2.Files.OpenRead("/proc/vmcore"));
        var crashing = PrStatuses(core).Single(p => p.Pid == 6);
        Assert.Equal(h.Regs[CrashInfoHeader.RegNip], crashing["nip"]);
        Assert.Equal(h.Regs[1], crashing.Registers[1]);
    }

    [Fact]
    public void A_skiboot_without_MPIPL_reboot_returns_and_there_is_no_dump()
    {
        var s = System(firmware: new OpalOptions { Reboot = MpiplReboot.Unsupported });
        var k = s.Boot();
        Assert.True(Fadump(k).Dump.Registered);
        Assert.False(s.Crash(CrashKind.Panic, crashingCpu: 1));
        Assert.Contains("opal fadump: Reboot type 3 not supported.", Log(k));
        Assert.Contains("OPAL: Unsupported reboot request 3", FwLog(s));
        Assert.Equal(0, s.Firmware.Mpipls);
        Assert.Same(k, s.Kernel);
        Assert.True(k.Crashed);
    }

    [Fact]
    public void No_terminate_backend_is_no_backend_support_for_MPIPL()
    {
        var s = System(firmware: new OpalOptions { Reboot = MpiplReboot.NoBackend });
        var k = s.Boot();
        Assert.False(s.Crash(CrashKind.Panic, crashingCpu: 1));
        Assert.Contains("opal fadump: No backend support for MPIPL!", Log(k));
        Assert.DoesNotContain("Performing MPIPL", FwLog(s));
        Assert.Equal(0, s.Firmware.Mpipls);
        Assert.Same(k, s.Kernel);
    }

    [Fact]
    public void An_SBE_that_does_not_answer_falls_back_to_a_normal_reboot_and_the_next_kernel_registers_again()
    {
        var s = System(firmware: new OpalOptions { SbeResponds = false });
        var k1 = s.Boot();
        Assert.False(s.Crash(CrashKind.Panic, crashingCpu: 1));
        string fw = FwLog(s);
        Assert.Contains("Reboot: OS reported error. Performing MPIPL", fw);
        Assert.Contains("SBE: SBE did not respond within timeout period (90 secs).", fw);
        Assert.Contains("SBE: Falling back to normal reboot", fw);
        Assert.DoesNotContain("DUMP: Dump found", fw);
        Assert.False(s.Firmware.MpiplBoot);
        Assert.Null(s.Machine.DeviceTree.Find("/ibm,opal/dump")!.Get("mpipl-boot"));
        Assert.False(s.PreservingPetitboot!.DumpActive);
        Assert.DoesNotContain("Preserving crash data", Log(s.Petitboot!));
        var k2 = s.Kernel!;
        Assert.NotSame(k1, k2);
        var f2 = Fadump(k2).Dump;
        Assert.False(f2.DumpActive);
        Assert.True(f2.Registered, Log(k2));
        Assert.False(k2.Files.Exists("/proc/vmcore"));
        Assert.False(k2.Files.Exists("/sys/firmware/opal/mpipl/core"));
        Assert.Null(s.OpalCore);
        Assert.Contains("opal fadump: Registration is successful!", Log(k2));
    }

    [Fact]
    public void A_BMC_initiated_MPIPL_has_every_CPU_from_the_firmware_and_an_OPAL_core_with_SIGTERM_on_PIR_0()
    {
        var s = System();
        s.Boot();
        var saved = new List<(ulong R1, ulong Nip)>();
        s.Firmware.DumpStarting += () => saved.AddRange(s.Machine.Cpus.Select(c => (c.Gpr[1], c.Nip)));
        Assert.True(s.Crash(CrashKind.FirmwareTerminate), FwLog(s));
        Assert.DoesNotContain("Reboot: OS reported error", FwLog(s));
        Assert.Contains("DUMP: Dump found, MDRT count = 0x2", FwLog(s));
        var k2 = s.Kernel!;
        var f2 = Fadump(k2).Dump;
        Assert.True(f2.DumpActive, Log(k2));
        Assert.False(s.Ops!.KernelInitiated);
        Assert.Equal(8, saved.Count);

        using (var core = ElfCoreFile.Open(k2.Files.OpenRead("/proc/vmcore")))
        {
            var pr = PrStatuses(core);
            Assert.Equal(Enumerable.Range(1, 8), pr.Select(p => p.Pid).Order());
            foreach (var p in pr)
            {
                Assert.Equal(saved[p.Pid - 1].R1, p.Registers[1]);
                Assert.Equal(saved[p.Pid - 1].Nip, p["nip"]);
            }
        }

        Assert.DoesNotContain("appending only crashing CPU", Log(k2));
        using (var oc = ElfCoreFile.Open(k2.Files.OpenRead("/sys/firmware/opal/mpipl/core")))
        {
            var pr = PrStatuses(oc);
            Assert.Equal(8, pr.Count);
            Assert.Equal(100, pr[0].Pid); // PIR 0: no crashing PIR in the metadata
            Assert.Equal(15, pr[0].CurSig); // SIGTERM: not kernel initiated
            Assert.All(pr.Skip(1), p => Assert.Equal(0, p.CurSig));
        }
    }

    [Fact]
    public void A_kernel_metadata_version_mismatch_is_warned_about_and_the_dump_still_processed()
    {
        var s = System();
        var k1 = s.Boot();
        var f1 = Fadump(k1).Dump;
        s.Machine.Memory.Write(f1.KernelMetadata, [2]);
        Assert.True(s.Crash(CrashKind.Panic, crashingCpu: 3));
        var k2 = s.Kernel!;
        string log = Log(k2);
        Assert.Contains("opal fadump: Supported kernel metadata version: 1, found: 2!", log);
        Assert.Contains("opal fadump: WARNING: Kernel metadata format mismatch identified! Core file maybe corrupted..", log);
        Assert.True(Fadump(k2).Dump.DumpActive);
        Assert.True(k2.Files.Exists("/proc/vmcore"));
    }

    [Fact]
    public void A_corrupted_crash_info_header_magic_is_not_valid_and_the_dump_is_released()
    {
        var s = System();
        var k1 = s.Boot();
        var f1 = Fadump(k1).Dump;
        // (simulation) corrupted once the kernel's crash path is done, when the MPIPL starts: FadumpCore.OnPanic
        // re-encodes the whole header, magic included, where Linux's crash_fadump only stores crashing_cpu, the
        // regs and cpu_mask, so a corruption from before the crash does not survive in the simulation.
        s.Firmware.DumpStarting += () => s.Machine.Memory.Write(f1.HeaderAddress, "XXXXXXXX"u8.ToArray());
        Assert.True(s.Crash(CrashKind.Panic, crashingCpu: 3));
        var k2 = s.Kernel!;
        var f2 = Fadump(k2).Dump;
        Assert.Contains("opal fadump: Crash info header is not valid.", Log(k2));
        Assert.False(k2.Files.Exists("/proc/vmcore"));
        Assert.False(f2.DumpActive);
        Assert.True(f2.Released);
        Assert.Contains("DUMP: Payload Invalidated MPIPL", FwLog(s));
        // FREE_PRESERVED_MEMORY cleared the tags before opalcore_init (an fs_initcall, after setup_fadump): no OPAL core either.
        Assert.Contains("opal core: Failed to get OPAL metadata (-1)", Log(k2));
        Assert.Contains("opal core: Could not export /sys/firmware/opal/core", Log(k2));
        Assert.False(k2.Files.Exists("/sys/firmware/opal/mpipl/core"));
    }

    // ---- the capture side, shutdown, a second crash ----------------------------------------------

    [Fact]
    public void Fadump_region_in_the_capture_kernel_shows_what_was_dumped_and_the_reserved_memory()
    {
        var s = System(memory: 64 * G, cmdline: "root=/dev/sda2 fadump=on crashkernel=8G");
        var k1 = s.Boot();
        var f1 = Fadump(k1).Dump;
        Assert.True(s.Crash(CrashKind.Panic, crashingCpu: 4));
        var k2 = s.Kernel!;
        var f2 = Fadump(k2).Dump;
        Assert.True(f2.DumpActive, Log(k2));
        Assert.Equal(f1.ReserveStart, f2.ReserveStart);
        Assert.Equal(8 * G, f2.BootMemTop);
        Assert.Equal(8 * G, f2.BootMemorySize);
        string d = CFormat.Hex016(f1.ReserveStart);
        Assert.Equal(
            "DUMP: Src: 0x00000000000000, Dest: " + d + ", Size: 0xffff0000, Dumped: 0xffff0000 bytes\n" +
            "DUMP: Src: 0x000000ffff0000, Dest: " + CFormat.Hex016(f1.ReserveStart + 0xFFFF0000) + ", Size: 0xffff0000, Dumped: 0xffff0000 bytes\n" +
            "DUMP: Src: 0x000001fffe0000, Dest: " + CFormat.Hex016(f1.ReserveStart + 0x1FFFE0000) + ", Size: 0x20000, Dumped: 0x20000 bytes\n" +
            "\nMemory above " + d + " is reserved for saving crash dump\n",
            k2.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region"));
        Assert.Contains("fadump: Reserving 57344MB of memory at 0x00000200000000 for preserving crash data", Log(k2));

        // After release_mem the registration structure is shown again, nothing dumped.
        Assert.Equal(Errno.None, SysfsWrite.Errno(k2, "/sys/kernel/fadump/release_mem", "1"));
        Assert.StartsWith("DUMP: Src: 0x00000000000000, Dest: " + d + ", Size: 0xffff0000, Dumped: 0x0 bytes\n", k2.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region"));
        Assert.DoesNotContain("Memory above", k2.Files.ReadText("/sys/kernel/debug/powerpc/fadump_region"));
    }

    [Fact]
    public void A_reboot_unregisters_resets_TAG_KERNEL_and_the_next_IPL_is_not_an_MPIPL()
    {
        var s = System();
        var k1 = s.Boot();
        Assert.True(Fadump(k1).Dump.Registered);
        int before = s.Firmware.Log.Count;
        var k2 = s.Reboot();
        var fw = s.Firmware.Log.Skip(before).Select(l => l[(l.IndexOf("] ", StringComparison.Ordinal) + 2)..]).ToList();
        int removed = fw.IndexOf("DUMP: Payload unregistered for MPIPL");
        int tag = fw.IndexOf("DUMP: Payload sent metadata tag : 0x0");
        int ipl = fw.IndexOf("SkiBoot skiboot-v7.1 starting...");
        Assert.True(removed >= 0 && removed < tag && tag < ipl, string.Join("\n", fw));
        Assert.Contains("reboot: Restarting system", Log(k1));
        Assert.False(s.Firmware.MpiplBoot);
        Assert.Null(s.Machine.DeviceTree.Find("/ibm,opal/dump")!.Get("mpipl-boot"));
        Assert.DoesNotContain("DUMP: Dump found", FwLog(s));
        var f2 = Fadump(k2).Dump;
        Assert.False(f2.DumpActive);
        Assert.True(f2.Registered, Log(k2));
        Assert.False(k2.Files.Exists("/proc/vmcore"));
        Assert.Equal(2, s.Firmware.Entries().Count);
    }

    [Fact]
    public void A_second_crash_after_release_and_re_registration_is_dumped_again()
    {
        var s = System();
        s.Boot();
        Assert.True(s.Crash(CrashKind.Panic, crashingCpu: 5));
        var k2 = s.Kernel!;
        var f2 = Fadump(k2).Dump;
        Assert.Equal(Errno.None, SysfsWrite.Errno(k2, "/sys/firmware/opal/mpipl/release_core", "1"));
        Assert.Equal(Errno.None, SysfsWrite.Errno(k2, "/sys/kernel/fadump/release_mem", "1"));
        Assert.Equal(Errno.None, SysfsWrite.Errno(k2, "/sys/kernel/fadump/registered", "1"));
        Assert.True(f2.Registered, Log(k2));
        Assert.Equal(2, s.Firmware.Entries().Count);

        Assert.True(s.Crash(CrashKind.Sysrq, crashingCpu: 2), FwLog(s));
        Assert.Equal(2, s.Firmware.Mpipls);
        Assert.Contains("DUMP: Crashing PIR = 0x2", FwLog(s));
        var k3 = s.Kernel!;
        Assert.NotSame(k2, k3);
        var f3 = Fadump(k3).Dump;
        Assert.True(f3.DumpActive, Log(k3));
        Assert.Equal(f2.ReserveStart, f3.ReserveStart);
        Assert.True(k3.Files.Exists("/proc/vmcore"), Log(k3));
        Assert.True(k3.Files.Exists("/sys/firmware/opal/mpipl/core"), Log(k3));
        using var core = ElfCoreFile.Open(k3.Files.OpenRead("/proc/vmcore"));
        Assert.Equal(8, PrStatuses(core).Count);
    }

    // ---- petitboot -------------------------------------------------------------------------------

    /// <summary>A page of the crashed kernel's vmemmap: as it was at the crash, and as /proc/vmcore of the production kernel shows it.</summary>
    private static (byte[] AtCrash, byte[] InVmcore, PowerNvSystem System) VmemmapPage(PetitbootMode mode)
    {
        var s = System(petitboot: mode);
        var k1 = s.Boot();
        var backing = k1.Image!.Vmemmap[0];
        ulong pa = backing.PhysicalAddress;
        Assert.True(pa >= Fadump(k1).Dump.BootMemTop);
        var atCrash = new byte[0x10000];
        s.Firmware.DumpStarting += () => s.Machine.Memory.Read(pa, atCrash);
        Assert.True(s.Crash(CrashKind.Panic, crashingCpu: 1));
        var k2 = s.Kernel!;
        Assert.True(Fadump(k2).Dump.DumpActive, Log(k2));
        var seen = new byte[0x10000];
        using (var core = ElfCoreFile.Open(k2.Files.OpenRead("/proc/vmcore")))
        {
            Assert.Equal(seen.Length, core.ReadPhysical(pa, seen));
        }

        return (atCrash, seen, s);
    }

    [Fact]
    public void A_preserving_petitboot_keeps_the_crashed_kernels_memory_above_boot_memory()
    {
        var (atCrash, seen, s) = VmemmapPage(PetitbootMode.Preserving);
        Assert.Contains(atCrash, b => b != 0);
        Assert.Equal(atCrash, seen);
        Assert.IsNotType<LayeredContent>(s.Machine.Memory.Content);
        var pb = Log(s.Petitboot!);
        Assert.Contains("opal fadump: Firmware-assisted dump is active.", pb);
        Assert.Contains("fadump: Preserving crash data for processing in next boot.", pb);
        Assert.Contains("fadump: Reserving 7424MB of memory at 0x00000030000000 for preserving crash data", pb);
        Assert.Equal(new MemoryRange[] { MemoryRange.FromBounds(768 * M, 8 * G) }, s.PreservingPetitboot!.Preserved);
        Assert.Equal(768 * M, s.Petitboot!.Mechanism.BootMemoryLimit);
    }

    [Fact]
    public void A_petitboot_that_does_not_preserve_overwrites_the_crashed_kernels_memory_above_boot_memory()
    {
        var (atCrash, seen, s) = VmemmapPage(PetitbootMode.NotPreserving);
        Assert.IsType<LayeredContent>(s.Machine.Memory.Content);
        Assert.NotEqual(atCrash, seen);
        Assert.IsType<NoFaDump>(s.Petitboot!.Mechanism);
        Assert.Null(s.PreservingPetitboot);
        Assert.DoesNotContain("Preserving crash data", Log(s.Petitboot!));
        // The production kernel still finds the dump: the metadata and the boot memory copy were not in petitboot's way.
        Assert.Contains("opal fadump: Firmware-assisted dump is active.", Log(s.Kernel!));
        Assert.True(s.Kernel!.Files.Exists("/proc/vmcore"));
    }

    // ---- the OPAL core (opal-core.c) ---------------------------------------------------------------

    [Fact]
    public void Release_core_parses_an_integer_only_1_releases_and_a_second_release_is_EPERM()
    {
        var s = System();
        s.Boot();
        Assert.True(s.Crash(CrashKind.Panic, crashingCpu: 1));
        var k = s.Kernel!;
        Assert.Equal(0400, k.Files.Get("/sys/firmware/opal/mpipl/core")!.Mode);
        Assert.Equal(0400, k.Files.Get("/sys/firmware/opal/core")!.Mode);
        Assert.Equal(Errno.EINVAL, SysfsWrite.Errno(k, "/sys/firmware/opal/mpipl/release_core", "abc"));
        Assert.Equal(Errno.EINVAL, SysfsWrite.Errno(k, "/sys/firmware/opal/mpipl/release_core", "0"));
        Assert.True(k.Files.Exists("/sys/firmware/opal/mpipl/core"));
        Assert.True(s.OpalCore!.Exported);
        Assert.DoesNotContain("not accessible", Log(k));
        Assert.Equal(Errno.None, SysfsWrite.Errno(k, "/sys/firmware/opal/mpipl/release_core", "1"));
        Assert.False(s.OpalCore.Exported);
        Assert.False(k.Files.Exists("/sys/firmware/opal/mpipl/core"));
        Assert.False(k.Files.Exists("/sys/firmware/opal/core"));
        Assert.True(k.Files.Exists("/sys/firmware/opal/mpipl/release_core"));
        Assert.Equal(Errno.EPERM, SysfsWrite.Errno(k, "/sys/firmware/opal/mpipl/release_core", "1"));
        Assert.Contains("opal core: '/sys/firmware/opal/core' file not accessible!", Log(k));
        Assert.Equal(Errno.EINVAL, SysfsWrite.Errno(k, "/sys/firmware/opal/mpipl/release_core", "abc"));
        // The vmcore is another matter.
        Assert.True(k.Files.Exists("/proc/vmcore"));
    }

    [Fact]
    public void The_compat_path_reads_the_same_core()
    {
        var s = System();
        s.Boot();
        Assert.True(s.Crash(CrashKind.Panic, crashingCpu: 1));
        var k = s.Kernel!;
        using var a = k.Files.OpenRead("/sys/firmware/opal/mpipl/core");
        using var b = k.Files.OpenRead("/sys/firmware/opal/core");
        Assert.Equal(a.Length, b.Length);
        var x = new byte[0x20000];
        var y = new byte[0x20000];
        Assert.Equal(x.Length, a.Read(0, x));
        Assert.Equal(y.Length, b.Read(0, y));
        Assert.Equal(x, y);
    }

    [Fact]
    public void The_OPAL_core_has_cumulative_PT_LOADs_at_opal_base_NT_AUXV_and_pr_ppid_1()
    {
        var s = System();
        s.Boot();
        Assert.True(s.Crash(CrashKind.Panic, crashingCpu: 6));
        var k = s.Kernel!;
        var mem = s.Machine.Memory;

        // A second OPAL region in the metadata skiboot handed over (TAG_OPAL), then the core built from it.
        Assert.Equal(OpalFirmware.Success, s.Firmware.QueryTag(OpalFadumpOps.TagOpal, out ulong md));
        var h = new byte[24 + (2 * 24)];
        mem.Read(md, h.AsSpan(0, 48));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(20)));
        ulong extraDest = OpalFirmware.SkibootBase + OpalFirmware.MemconsOffset, extraSize = 0x20000;
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), 2);
        BinaryPrimitives.WriteUInt64BigEndian(h.AsSpan(48), extraDest);
        BinaryPrimitives.WriteUInt64BigEndian(h.AsSpan(56), extraDest);
        BinaryPrimitives.WriteUInt64BigEndian(h.AsSpan(64), extraSize);
        mem.Write(md, h);
        var files = new KernelFileSystem();
        var oc = OpalCore.Init(k, s.Firmware, kernelInitiated: true, files)!;
        Assert.NotNull(oc);

        using var core = ElfCoreFile.Open(files.OpenRead("/sys/firmware/opal/mpipl/core"));
        var loads = core.Loads.ToList();
        Assert.Equal(2, loads.Count);
        Assert.Equal(0UL, loads[0].PhysicalAddress);
        Assert.Equal(0x30000000UL, loads[0].VirtualAddress);
        Assert.Equal(s.Firmware.OpalDumpSize, loads[0].FileSize);
        Assert.Equal(s.Firmware.OpalDumpSize, loads[1].PhysicalAddress);
        Assert.Equal(0x30000000UL + s.Firmware.OpalDumpSize, loads[1].VirtualAddress);
        Assert.Equal(extraSize, loads[1].FileSize);
        Assert.Equal(loads[0].FileOffset + (long)loads[0].FileSize, loads[1].FileOffset);
        Assert.Equal(loads[1].FileOffset + (long)extraSize, oc.Size);

        // Each PT_LOAD's bytes are where the firmware preserved them (dest), whatever p_paddr says.
        var want = new byte[0x1000];
        var got = new byte[0x1000];
        mem.Read(s.Firmware.OpalDumpAddress + 0x2000, want);
        Assert.Equal(got.Length, core.Source.Read(loads[0].FileOffset + 0x2000, got));
        Assert.Equal(want, got);
        mem.Read(extraDest, want);
        Assert.Equal(got.Length, core.Source.Read(loads[1].FileOffset, got));
        Assert.Equal(want, got);

        // Notes: the crashing thread first, pr_ppid 1 everywhere, then NT_AUXV {AT_ENTRY, opal-boot-address, AT_NULL}.
        var prs = core.Notes.Where(n => n.Type == ElfNote.NT_PRSTATUS).ToList();
        Assert.Equal(8, prs.Count);
        Assert.Equal(100 + (int)s.Firmware.Pir(6), PrStatus.Parse(prs[0].Desc, core.Machine, "core", 0).Pid);
        Assert.All(prs, n => Assert.Equal(1, BinaryPrimitives.ReadInt32BigEndian(n.Desc.AsSpan(36))));
        var auxv = core.Notes.Single(n => n.Type == 6);
        Assert.Equal("CORE", auxv.Name);
        Assert.Same(auxv, core.Notes[^1]);
        Assert.Equal(24, auxv.Desc.Length);
        Assert.Equal(9UL, BinaryPrimitives.ReadUInt64BigEndian(auxv.Desc)); // AT_ENTRY
        Assert.Equal(OpalFirmware.SkibootBase, BinaryPrimitives.ReadUInt64BigEndian(auxv.Desc.AsSpan(8))); // opal-boot-address
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64BigEndian(auxv.Desc.AsSpan(16))); // AT_NULL
    }
}
