using System.Buffers.Binary;
using Fadump.Firmware.Rtas;
using Fadump.Kernel.Fadump;
using Fadump.Machine;
using Fadump.Kernel.Platforms;

namespace Fadump.Kernel.Tests;

public sealed class ErrorPathTests
{
    private const ulong G = 1UL << 30;

    private static PseriesLpar Lpar(string cmdline = "fadump=on", ulong mem = 4 * G, RtasOptions? fw = null, IReadOnlyList<MemoryRange>? holes = null) =>
        new(new LparSpec { MemoryBytes = mem, Cpus = 4, CommandLine = cmdline, Firmware = fw ?? new RtasOptions(), Holes = holes ?? [] });

    private static string Log(LinuxKernel k) => string.Join("\n", k.Log.Lines);

    /// <summary>Crashes after corrupting the crash info header the way the test says; returns the capture kernel.</summary>
    private static LinuxKernel CrashWithHeader(Func<ulong, ulong> corruptMagic)
    {
        var lpar = Lpar();
        var k = lpar.Boot();
        lpar.Firmware.DumpStarting += () =>
        {
            var b = new byte[8];
            lpar.Machine.Memory.Read(k.Fadump.Dump.HeaderAddress, b);
            BinaryPrimitives.WriteUInt64LittleEndian(b, corruptMagic(BinaryPrimitives.ReadUInt64LittleEndian(b)));
            lpar.Machine.Memory.Write(k.Fadump.Dump.HeaderAddress, b);
        };
        Assert.True(lpar.Crash(CrashKind.Panic));
        return lpar.Kernel!;
    }

    [Fact]
    public void Corrupted_header_gives_no_vmcore_and_invalidates()
    {
        var cap = CrashWithHeader(_ => 0x1122334455667788);
        Assert.Contains("fadump: Fadump header is corrupted.", Log(cap));
        Assert.False(cap.Files.Exists("/proc/vmcore"));
        Assert.False(cap.Fadump.Dump.DumpActive);
    }

    [Fact]
    public void Endianness_mismatch_is_detected() =>
        Assert.Contains("fadump: Endianness mismatch between the crashed and the capture kernel.", Log(CrashWithHeader(BinaryPrimitives.ReverseEndianness)));

    [Fact]
    public void Old_magic_is_refused() =>
        Assert.Contains("fadump: Old magic number, can't process the dump.", Log(CrashWithHeader(_ => CrashInfoHeader.MagicFadmpinf)));

    [Fact]
    public void Header_size_mismatch_is_detected()
    {
        var lpar = Lpar();
        var k = lpar.Boot();
        lpar.Firmware.DumpStarting += () => lpar.Machine.Memory.Write(k.Fadump.Dump.HeaderAddress + 32, [0x00, 0x02, 0, 0]);
        lpar.Crash(CrashKind.Oops);
        Assert.Contains("fadump: Fadump header size mismatch.", Log(lpar.Kernel!));
    }

    [Fact]
    public void Incomplete_cpu_section_when_maxcpus_exceeds_cpus()
    {
        // QEMU's interop bug: the section is sized for maxcpus, firmware dumps only the present CPUs.
        var lpar = Lpar(fw: new RtasOptions { MaxCpus = 8 });
        lpar.Boot();
        lpar.Crash(CrashKind.Panic);
        Assert.Contains("rtas fadump: Dump taken by platform is incomplete (0)", Log(lpar.Kernel!));
        Assert.False(lpar.Kernel!.Files.Exists("/proc/vmcore"));
    }

    [Fact]
    public void Too_many_holes_disables_fadump_and_falls_back_to_kdump()
    {
        // Eight 64 MiB RAM pieces under the boot memory: more than the 7 regions pSeries allows.
        var holes = Enumerable.Range(0, 8).Select(i => new MemoryRange((ulong)((2 * i) + 1) * (64UL << 20), 64UL << 20)).ToList();
        var k = Lpar("fadump=on crashkernel=1G@2G", holes: holes).Boot();
        Assert.Contains("fadump: Too many holes in boot memory area to enable fadump", Log(k));
        Assert.False(k.Fadump.Dump.Registered);
        Assert.Contains("Reserving 1024MB of memory at 2048MB for crashkernel (System RAM: 4096MB)", Log(k));
        Assert.NotNull(k.CrashKernelReservation);
    }

    [Fact]
    public void No_room_for_the_reserved_area_falls_back_to_kdump()
    {
        // Firmware owns everything above 768 MiB: no place for a 512 MiB area above 512 MiB of boot memory.
        var fw = new RtasOptions { ReservedRanges = [new MemoryRange(768UL << 20, (4 * G) - (768UL << 20))] };
        var k = Lpar("fadump=on crashkernel=512M", fw: fw).Boot();
        Assert.Contains("fadump: Failed to find memory chunk for reservation!", Log(k));
        Assert.False(k.Fadump.Dump.Registered);
        Assert.Contains("Reserving 512MB of memory at 32MB for crashkernel", Log(k));
    }

    [Fact]
    public void Reserved_area_is_placed_around_reserved_ranges()
    {
        var fw = new RtasOptions { ReservedRanges = [new MemoryRange(320UL << 20, 64UL << 20)] };
        var k = Lpar(fw: fw).Boot();
        Assert.True(k.Fadump.Dump.Registered);
        Assert.Equal(384UL << 20, k.Fadump.Dump.ReserveStart);
        Assert.Contains("fadump: Reserved 320MB of memory at 0x00000018000000 (System RAM: 4096MB)", Log(k));
    }

    [Fact]
    public void Nocma_keeps_the_area_out_of_cma()
    {
        Assert.NotNull(Lpar().Boot().Fadump.Dump.Cma);
        Assert.Null(Lpar("fadump=nocma").Boot().Fadump.Dump.Cma);
    }

    [Fact]
    public void Os_term_without_extended_os_term_leaves_no_dump()
    {
        var lpar = Lpar(fw: new RtasOptions { ExtendedOsTerm = false });
        var k = lpar.Boot();
        Assert.False(lpar.Crash(CrashKind.Panic));
        Assert.Same(k, lpar.Kernel);
        Assert.Contains("---[ end Kernel panic - not syncing:", Log(k));
    }

    [Fact]
    public void Busy_firmware_is_retried_with_the_rtas_delays()
    {
        var baseline = Lpar();
        baseline.Boot();
        var lpar = Lpar();
        lpar.Firmware.InjectedReturnCodes.Enqueue(-2);
        lpar.Firmware.InjectedReturnCodes.Enqueue(9902);
        var k = lpar.Boot();
        Assert.True(k.Fadump.Dump.Registered);
        Assert.Equal(3, lpar.Firmware.Calls);

        // The delays themselves (rtas_busy_delay): 1 ms after -2 (busy), 10^2 ms after 9902, on top of the
        // same boot without them.
        Assert.Equal(TimeSpan.FromMilliseconds(1 + 100), lpar.Machine.Clock.Now - baseline.Machine.Clock.Now);
    }

    [Fact]
    public void Firmware_terminated_lpar_still_dumps_every_cpu()
    {
        var lpar = Lpar();
        lpar.Boot();
        Assert.True(lpar.Crash(CrashKind.FirmwareTerminate));
        using var vmcore = lpar.Kernel!.Files.OpenRead("/proc/vmcore");
        using var dump = Formats.Elf.ElfDump.Open(vmcore);
        Assert.Equal(4, Formats.DumpExtensions.CpuStates(dump).Count);
        Assert.Null(dump.VmcoreInfo!.CrashTime);    // no OS crash path: no CRASHTIME appended
    }

    [Fact]
    public void Reboot_unregisters_and_the_next_kernel_registers_afresh()
    {
        var lpar = Lpar();
        var k = lpar.Boot();
        int calls = lpar.Firmware.Calls;
        var next = lpar.Reboot();
        Assert.False(k.Fadump.Dump.Registered);
        Assert.Equal(calls + 2, lpar.Firmware.Calls);        // unregister, then the new kernel's register
        Assert.True(next.Fadump.Dump.Registered);
        Assert.False(next.Fadump.Dump.DumpActive);
    }

    [Fact]
    public void Rebooting_the_capture_kernel_invalidates_the_dump()
    {
        var lpar = Lpar();
        lpar.Boot();
        lpar.Crash(CrashKind.Panic);
        Assert.True(lpar.Firmware.IsDumpActive);
        var next = lpar.Reboot();
        Assert.False(lpar.Firmware.IsDumpActive);
        Assert.False(next.Fadump.Dump.DumpActive);
        Assert.True(next.Fadump.Dump.Registered);
    }

    [Fact]
    public void Mem_limit_caps_boot_memory_and_the_reservation()
    {
        var k = Lpar("fadump=on mem=2G", mem: 64 * G).Boot();
        Assert.Equal(2 * G, k.SystemRam);
        Assert.True(k.Fadump.Dump.ReserveStart + k.Fadump.Dump.ReserveSize <= 2 * G);
        Assert.Contains("(System RAM: 2048MB)", Log(k));
    }
}
