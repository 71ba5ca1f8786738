using System.Buffers.Binary;
using Fadump.Firmware.Opal;
using Fadump.Formats.Elf;
using Fadump.Formats.IO;
using Fadump.Kernel.Fadump;
using Fadump.Kernel.Fadump.Opal;
using Fadump.Kernel.Platforms.PowerNv;
using Fadump.Kernel.Sysfs;

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
}
