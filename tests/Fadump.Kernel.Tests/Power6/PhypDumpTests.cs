using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Fadump.Firmware.Rtas;
using Fadump.Kernel.Phyp;
using Fadump.Kernel.Platforms;
using Fadump.Kernel.Sysfs;

namespace Fadump.Kernel.Tests.Power6;

/// <summary>Hypervisor-assisted dump on a Power6 LPAR: spec/phyp-dump-and-opal.md part A, against phyp_dump.c.</summary>
public sealed class PhypDumpTests
{
    private const ulong G = 1UL << 30;
    private const ulong M = 1UL << 20;

    private static Power6Lpar Lpar(ulong memory = 4 * G, string cmdline = Power6Lpar.DefaultCommandLine, RtasOptions? firmware = null) =>
        new(new LparSpec { MemoryBytes = memory, Cpus = 4, CommandLine = cmdline, Firmware = firmware ?? new RtasOptions() });

    private static string Log(LinuxKernel k) => string.Join("\n", k.Log.Lines);

    private static ulong MemFree(LinuxKernel k)
    {
        string line = k.Files.ReadText("/proc/meminfo").Split('\n').First(l => l.StartsWith("MemFree:", StringComparison.Ordinal));
        return ulong.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) << 10;
    }

    [Fact]
    public void First_kernel_reserves_the_scratch_area_at_the_top_of_DRAM_and_registers()
    {
        var lpar = Lpar();
        var k = lpar.Boot();
        var p = lpar.PhypDump;
        Assert.True(p.Configured);
        Assert.False(p.DumpIsActive);
        Assert.Equal(256 * M, p.BootRegionSize); // 5 % of 4 GiB rounded down to 256 MiB is 0: the minimum
        ulong cpu = 0x10000; // RegisterSaveArea.SizeFor(4) in whole 64 KiB
        Assert.Equal(cpu, p.CpuStateSize);
        Assert.Equal(0x1000UL, p.HpteRegionSize);
        Assert.Equal(cpu + 0x1000 + (256 * M), p.InitReserveSize);
        Assert.Equal((4 * G) - p.InitReserveSize, p.InitReserveStart);
        Assert.True(p.Registered);
        Assert.True(lpar.Firmware.IsRegistered);
        Assert.Equal("1\n", k.Files.ReadText("/sys/kernel/phyp_dump_active"));
        Assert.Equal(0600, k.Files.Get("/sys/kernel/phyp_dump_active")!.Mode);
        Assert.False(k.Files.Exists("/sys/kernel/release_region"));

        // The header the firmware holds: version 1, three sections, destinations back to back in the scratch area.
        var raw = new byte[PhypDump.HeaderSize];
        k.Machine.Memory.Read(PhypDump.HeaderAddress, raw);
        var h = FadumpStructure.Decode(raw)!;
        Assert.Equal(1u, h.Version);
        Assert.Equal(0x28u, h.FirstSectionOffset);
        Assert.Equal([(ushort)0x0001, (ushort)0x0002, (ushort)0x0011], h.Sections.Select(s => s.Type));
        // dump_area_start = init_reserve_start & PAGE_MASK: (quirk) up to a page below the reservation.
        ulong area = p.InitReserveStart & ~0xffffUL;
        Assert.Equal(area, h.Sections[0].DestinationAddress);
        Assert.Equal(area + cpu, h.Sections[1].DestinationAddress);
        Assert.Equal(area + cpu + 0x1000, h.Sections[2].DestinationAddress);
        Assert.Equal(256 * M, h.Sections[2].SourceLength);
        Assert.Equal(0UL, h.Sections[2].SourceAddress);
    }

    [Theory]
    [InlineData("root=/dev/sda2", "Phyp-dump disabled at boot time")]
    [InlineData("root=/dev/sda2 phyp_dump=0", "Phyp-dump disabled at boot time")]
    [InlineData("root=/dev/sda2 phyp_dump=1 phyp_dump=0x", "Phyp-dump disabled at boot time")] // strncmp(p, "0", 1)
    public void Phyp_dump_is_opt_in(string cmdline, string message)
    {
        var lpar = Lpar(cmdline: cmdline);
        var k = lpar.Boot();
        Assert.Contains(message, Log(k));
        Assert.False(lpar.PhypDump.Registered);
        Assert.Equal(0UL, lpar.PhypDump.InitReserveSize);
        Assert.False(k.Files.Exists("/sys/kernel/phyp_dump_active"));
    }

    [Theory]
    [InlineData("root=/dev/sda2 phyp_dump")]
    [InlineData("root=/dev/sda2 phyp_dump=yes")] // any other value leaves it enabled
    public void Bare_phyp_dump_or_another_value_enables_it(string cmdline) => Assert.True(Lpar(cmdline: cmdline).Boot().Mechanism.Armed);

    [Fact]
    public void Firmware_without_the_interface()
    {
        var lpar = Lpar(firmware: new RtasOptions { FadumpSupported = false });
        var k = lpar.Boot();
        Assert.Contains("Phyp-dump not supported on this hardware", Log(k));
        Assert.False(k.Mechanism.Armed);
    }

    [Theory]
    [InlineData(4UL << 30, 256UL << 20)]
    [InlineData(64UL << 30, 3UL << 30)]      // 5 % of 64 GiB = 3.2 GiB, down to 3 GiB
    [InlineData(1UL << 40, 51UL << 30)]      // 51.2 GiB down to 51 GiB
    public void Boot_region_is_five_percent_rounded_down_to_256M(ulong end, ulong r) => Assert.Equal(r, PhypDump.CalculateReserveSize(end, 0));

    [Fact]
    public void Reserve_size_parameter_wins()
    {
        var lpar = Lpar(memory: 64 * G, cmdline: Power6Lpar.DefaultCommandLine + " phyp_dump_reserve_size=512M");
        lpar.Boot();
        Assert.Equal(512 * M, lpar.PhypDump.BootRegionSize);
    }

    [Fact]
    public void Crash_copies_low_memory_and_the_second_kernel_holds_everything_above_R()
    {
        var lpar = Lpar();
        var first = lpar.Boot();
        var scratch = lpar.PhypDump.InitReserveStart & ~0xffffUL;
        var low = new byte[4096];
        first.Machine.Memory.Read(0x100000, low);
        Assert.True(lpar.Crash(CrashKind.Panic));
        var k = lpar.Kernel!;
        Assert.NotSame(first, k);
        var p = lpar.PhypDump;
        Assert.True(p.DumpIsActive);
        Assert.True(k.Mechanism.IsCaptureKernel);
        Assert.Equal(256 * M, p.InitReserveStart);
        Assert.Equal((4 * G) - (256 * M), p.InitReserveSize);
        Assert.Equal(scratch, p.ReservedScratchAddr);
        Assert.False(k.Files.Exists("/proc/vmcore")); // no ELF header is built
        Assert.Equal(0600, k.Files.Get("/sys/kernel/release_region")!.Mode);
        Assert.False(p.Registered);

        // The firmware's copy of the low memory sits at the third destination.
        var h = p.FirmwareHeader!;
        Assert.Equal(256 * M, h.Sections[2].BytesDumped);
        var copy = new byte[4096];
        k.Machine.Memory.Read(h.Sections[2].DestinationAddress + 0x100000, copy);
        Assert.Equal(low, copy);

        // /rtas/ibm,kernel-dump is visible to userspace as the kernel saw the tree at boot.
        using var dt = k.Files.OpenRead("/proc/device-tree/rtas/ibm,kernel-dump");
        Assert.Equal(PhypDump.HeaderSize, dt.Length);
        Assert.True(k.Files.Exists("/proc/device-tree/rtas/ibm,dump-kernel"));

        // The CPU state: a register save area for every CPU.
        var area = new byte[8];
        k.Machine.Memory.Read(h.Sections[0].DestinationAddress, area);
        Assert.Equal(RegisterSaveArea.Magic, BinaryPrimitives.ReadUInt64BigEndian(area));
    }

    [Fact]
    public void Release_region_prints_the_kernels_own_header_as_the_real_code_does()
    {
        var lpar = Lpar();
        lpar.Boot();
        lpar.Crash(CrashKind.Panic);
        var k = lpar.Kernel!;
        ulong cpu = 0x10000; // RegisterSaveArea.SizeFor(4) in whole 64 KiB
        ulong second = ((4 * G) - (256 * M)) - (cpu + 0x1000 + (256 * M));
        string expected = string.Create(CultureInfo.InvariantCulture,
            $"CPU:0x0-0x0: HPTE:0x{cpu:x}-0x0: DUMP:0x{cpu + 0x1000:x}-0x0, 0x10000000-0x{second:x}:\n");
        Assert.Equal(expected, k.Files.ReadText("/sys/kernel/release_region"));
    }

    [Fact]
    public void Release_gives_pages_back_at_once_and_everything_back_registers_again()
    {
        var lpar = Lpar();
        lpar.Boot();
        lpar.Crash(CrashKind.Panic);
        var k = lpar.Kernel!;
        var p = lpar.PhypDump;
        var h = p.FirmwareHeader!;
        ulong before = MemFree(k);
        ulong r = p.InitReserveStart, heldLen = p.InitReserveSize - p.ReservedScratchSize;

        k.Files.WriteText("/sys/kernel/release_region", string.Create(CultureInfo.InvariantCulture, $"0x{r:x} 0x{G:x}\n"));
        ulong after = MemFree(k);
        // (quirk) N + 1 pages: one 64 KiB page more than asked.
        Assert.Equal(G + 0x10000, after - before);
        Assert.Single(p.Releases);
        Assert.False(p.Reregistered);

        // The reused pages no longer hold the crashed kernel's data.
        var b = new byte[PhypDump.ReuseMarker.Length];
        k.Machine.Memory.Read(r + G, b);
        Assert.Equal(PhypDump.ReuseMarker.ToArray(), b);

        // Without 0x, then the rest of the held memory and the three copies, exactly as listed.
        k.Files.WriteText("/sys/kernel/release_region", string.Create(CultureInfo.InvariantCulture, $"{r + G:x} {heldLen - G:x}\n"));
        foreach (var s in h.Sections)
        {
            Assert.False(p.Reregistered);
            k.Files.WriteText("/sys/kernel/release_region", string.Create(CultureInfo.InvariantCulture, $"0x{s.DestinationAddress:x} 0x{s.SourceLength:x}\n"));
        }

        Assert.True(p.Reregistered);
        Assert.True(lpar.Firmware.IsRegistered);
        Assert.False(lpar.Firmware.IsDumpActive);
        Assert.Equal("1\n", k.Files.ReadText("/sys/kernel/phyp_dump_active"));
        Assert.True((4 * G) - MemFree(k) < 512 * M, "all memory above R is back");

        // Armed again: a second crash dumps, into the old scratch address (whose pages are in use: the quirk).
        Assert.True(lpar.Crash(CrashKind.Panic));
        Assert.True(lpar.PhypDump.DumpIsActive);
        Assert.Equal(p.ReservedScratchAddr, lpar.PhypDump.ReservedScratchAddr);
    }

    [Theory]
    [InlineData("0x10000000\n")]
    [InlineData("\n")]
    [InlineData("zz 0x10\n")]
    public void Release_needs_two_hex_numbers(string text)
    {
        var lpar = Lpar();
        lpar.Boot();
        lpar.Crash(CrashKind.Panic);
        Assert.Equal(Errno.EINVAL, SysfsWrite.Errno(lpar.Kernel!, "/sys/kernel/release_region", text));
        Assert.Empty(lpar.PhypDump.Releases);
    }

    [Fact]
    public void Release_below_the_reservation_is_raised_without_shortening()
    {
        var lpar = Lpar();
        lpar.Boot();
        lpar.Crash(CrashKind.Panic);
        var k = lpar.Kernel!;
        ulong before = MemFree(k);
        k.Files.WriteText("/sys/kernel/release_region", "0x0 0x20000000\n");
        // Raised to R = 256 MiB with the length kept: 512 MiB + one page freed, from R on.
        Assert.Equal((512 * M) + 0x10000, MemFree(k) - before);
        Assert.Equal(256 * M, lpar.PhypDump.Releases[0].Address);
    }

    [Fact]
    public void Firmware_error_invalidates_and_registers_again_holding_the_memory()
    {
        var lpar = Lpar(firmware: new RtasOptions { SectionFaults = new Dictionary<int, SectionFault> { [2] = new(FadumpStructure.ErrInvalidDestAddr) } });
        lpar.Boot();
        Assert.True(lpar.Crash(CrashKind.Panic));
        var k = lpar.Kernel!;
        Assert.False(k.Files.Exists("/sys/kernel/release_region"));
        Assert.True(lpar.PhypDump.Registered);
        Assert.False(lpar.Firmware.IsDumpActive);
        // (quirk) the new area is at R and everything above R stays held.
        Assert.Equal(256 * M, lpar.PhypDump.InitReserveStart);
        Assert.True(MemFree(k) < 256 * M);
    }

    [Fact]
    public void Register_error_is_logged()
    {
        var lpar = Lpar();
        lpar.Firmware.InjectedReturnCodes.Enqueue(-3);
        var k = lpar.Boot();
        Assert.Contains("phyp-dump: unexpected error (-3) on register", Log(k));
        Assert.False(k.Files.Exists("/sys/kernel/phyp_dump_active"));
    }

    [Fact]
    public void Busy_firmware_is_retried()
    {
        var lpar = Lpar();
        lpar.Firmware.InjectedReturnCodes.Enqueue(-2);
        lpar.Firmware.InjectedReturnCodes.Enqueue(9901);
        Assert.True(lpar.Boot().Mechanism.Armed);
    }

    [Fact]
    public void Old_kernel_has_the_plain_log_buffer_and_its_vmcoreinfo()
    {
        var k = Lpar().Boot();
        var v = k.VmcoreInfo;
        Assert.Equal("2.6.32-5-powerpc64", v.OsRelease);
        Assert.NotNull(v.Symbol("log_buf"));
        Assert.NotNull(v.Symbol("log_end"));
        Assert.NotNull(v.Symbol("log_buf_len"));
        Assert.NotNull(v.Symbol("logged_chars"));
        Assert.Null(v.Symbol("prb"));
        Assert.NotNull(v.Offset("page._count"));
        Assert.Null(v.Offset("page._refcount"));
        Assert.Null(v.BuildId);

        // __log_buf holds "<6>[    0.000137] Linux version ..." as text, log_end counts what was written.
        var w = new byte[128];
        ulong buf = k.Arch.ToPhys(k.VmcoreInfo.Symbol("log_buf")!.Value);
        var ptr = new byte[8];
        k.Machine.Memory.Read(buf, ptr);
        k.Machine.Memory.Read(k.Arch.ToPhys(BinaryPrimitives.ReadUInt64BigEndian(ptr)), w);
        string text = Encoding.ASCII.GetString(w);
        Assert.StartsWith("<6>[    0.", text, StringComparison.Ordinal);
        Assert.Contains("] Linux version 2.6.32-5-powerpc64 (Debian", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Too_little_memory_for_the_old_arithmetic_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => Lpar(memory: 256 * M));
        Assert.Contains("wrap", e.Message, StringComparison.Ordinal);
    }
}
