using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Fadump.Formats.IO;
using Fadump.Tools.Service;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Tests.Service;

/// <summary>
/// A Power6 capture kernel after a hypervisor-assisted dump, in memory: /sys/kernel/release_region lists the
/// firmware's copies and the reserved memory, /dev/mem is the machine's memory, and a write to
/// release_region records the range and gives it to the "running kernel", which overwrites it at once (so a
/// range released before it was saved would show in the dump).
/// </summary>
/// <remarks>
/// With <c>withKernel</c>, the crashed kernel's low memory holds a big-endian VMCOREINFO note (2.6.32: plain-text
/// log_buf) at <see cref="VmcoreInfoAddress"/>, /sys/kernel/vmcoreinfo gives its address, and the CPU state copy
/// is a register save area of two CPUs as the firmware (Fadump.Firmware's RegisterSaveArea) builds it. With a
/// boot region larger than the copied low memory (spec §A3 quirk), the crashed kernel's scratch area (CPU + HPTE
/// + R) sits at the top, the firmware's copies at its start, and the listed reserved range runs over them.
/// </remarks>
internal sealed class FakePhypSysroot : ISysroot
{
    public const ulong Top = 48UL << 20;
    public const ulong LowMemory = 4UL << 20;      // the firmware copies [0, LowMemory) ("256 MiB")
    public const ulong CpuLength = 0x10000;
    public const ulong HpteLength = 0x1000;
    public const ulong ScratchSize = CpuLength + HpteLength + LowMemory;
    public const ulong ScratchStart = Top - ScratchSize;
    public const byte CaptureKernelByte = 0xEE;
    public const byte ReusedByte = 0xAA;
    public const ulong PageOffset = 0xc000000000000000;
    public const ulong VmcoreInfoAddress = 0x20000;
    public const ulong VmcoreInfoSize = 0x1000;
    public const string Release = "2.6.32-synthetic-ppc64";
    public const string LogText = "<6>Linux version 2.6.32-synthetic-ppc64\n<0>Kernel panic - not syncing: phyp test\n";
    public const ulong CrashedNip = 0xc000000000123450;

    public FakePhypSysroot(bool withKernel = false, ulong bootRegion = LowMemory)
    {
        BootRegion = bootRegion;
        ulong crashedScratch = Top - (CpuLength + HpteLength + bootRegion);
        Memory = new byte[Top];
        Listing = new ReleaseRegionListing(
            new AddressLength(crashedScratch, CpuLength),
            new AddressLength(crashedScratch + CpuLength, HpteLength),
            new AddressLength(crashedScratch + CpuLength + HpteLength, LowMemory),
            new AddressLength(bootRegion, Top - bootRegion - ScratchSize));
        for (ulong a = 0; a < crashedScratch; a++)
        {
            Memory[a] = Original(a);
        }

        if (withKernel)
        {
            PlaceKernel();
        }

        Crashed = Memory.AsSpan(0, (int)crashedScratch).ToArray();

        // The firmware's copy of the low memory, then the capture kernel over [0, R).
        Memory.AsSpan(0, (int)LowMemory).CopyTo(Memory.AsSpan((int)Listing.Dump.Address));
        Memory.AsSpan(0, (int)bootRegion).Fill(CaptureKernelByte);
        if (withKernel)
        {
            var cpus = new[] { new Fadump.Machine.Cpu(0), new Fadump.Machine.Cpu(1) };
            cpus[0].Nip = CrashedNip;
            cpus[0].Lr = 0xc000000000100000;
            cpus[0].Gpr[1] = 0xc000000001ff0000;
            cpus[1].Nip = 0xc000000000200000;
            var area = Fadump.Firmware.Rtas.RegisterSaveArea.Build(cpus);
            Memory.AsSpan((int)Listing.Cpu.Address, (int)CpuLength).Clear();
            area.CopyTo(Memory.AsSpan((int)Listing.Cpu.Address));
        }
        else
        {
            Memory.AsSpan((int)Listing.Cpu.Address, (int)CpuLength).Fill(0x11);
        }

        Memory.AsSpan((int)Listing.Hpte.Address, (int)HpteLength).Fill(0x22);
        WithKernel = withKernel;
    }

    public byte[] Memory { get; }

    /// <summary>The crashed kernel's memory as it was at the crash (what a dump must hold), before the capture kernel ran.</summary>
    public byte[] Crashed { get; private set; } = [];

    public ulong BootRegion { get; }

    public bool WithKernel { get; }

    public ReleaseRegionListing Listing { get; }

    /// <summary>Asked at each release: is the save still running?</summary>
    public Func<bool> SaveInProgress { get; set; } = () => false;

    /// <summary>Called at each release, before the memory is reused (to look at the output at that moment).</summary>
    public Action<AddressLength>? OnRelease { get; set; }

    /// <summary>Text of /sys/kernel/vmcoreinfo; null: no such file.</summary>
    public string? VmcoreInfoText { get; set; }

    public List<(string Text, AddressLength Range, bool DuringSave)> Releases { get; } = [];

    public string Description => "fake Power6 LPAR";

    /// <summary>The crashed kernel's byte at a physical address (without the kernel structures of withKernel).</summary>
    public static byte Original(ulong paddr) => (byte)((paddr * 2654435761UL) >> 13);

    public string ListingText => string.Create(CultureInfo.InvariantCulture,
        $"CPU:0x{Listing.Cpu.Address:x}-0x{Listing.Cpu.Length:x}: HPTE:0x{Listing.Hpte.Address:x}-0x{Listing.Hpte.Length:x}: DUMP:0x{Listing.Dump.Address:x}-0x{Listing.Dump.Length:x}, 0x{Listing.Reserved.Address:x}-0x{Listing.Reserved.Length:x}:\n");

    public bool Exists(string path) => path is "/sys/kernel/release_region" or "/dev/mem" or "/sys/kernel/phyp_dump_active"
        || (path == VmcoreInfoLocation.SysfsPath && VmcoreInfoText is not null);

    public string ReadText(string path) => path switch
    {
        "/sys/kernel/release_region" => ListingText,
        VmcoreInfoLocation.SysfsPath when VmcoreInfoText is not null => VmcoreInfoText,
        _ => throw new IOException($"{path}: No such file or directory"),
    };

    public void WriteText(string path, string text)
    {
        if (path != "/sys/kernel/release_region")
        {
            throw new IOException($"{path}: Permission denied");
        }

        var parts = text.Trim().Split(' ');
        if (parts.Length != 2)
        {
            throw new IOException($"{path}: Invalid argument");
        }

        var range = new AddressLength(Hex(parts[0]), Hex(parts[1]));
        OnRelease?.Invoke(range);
        Releases.Add((text, range, SaveInProgress()));
        Memory.AsSpan((int)range.Address, (int)range.Length).Fill(ReusedByte);
    }

    public IRandomAccessSource OpenRead(string path) => path == "/dev/mem"
        ? new MemorySource(Memory, "/dev/mem")
        : throw new IOException($"{path}: No such file or directory");

    /// <summary>The crashed kernel's log_buf variables, the log and the VMCOREINFO note, in its low memory.</summary>
    private void PlaceKernel()
    {
        const ulong vars = 0x30000, buf = 0x31000;
        const uint bufLen = 0x1000;
        var be = Memory.AsSpan();
        BinaryPrimitives.WriteUInt64BigEndian(be[(int)vars..], PageOffset + buf);
        BinaryPrimitives.WriteUInt32BigEndian(be[(int)(vars + 8)..], bufLen);
        BinaryPrimitives.WriteUInt32BigEndian(be[(int)(vars + 12)..], (uint)LogText.Length);
        BinaryPrimitives.WriteUInt32BigEndian(be[(int)(vars + 16)..], (uint)LogText.Length);
        Memory.AsSpan((int)buf, (int)bufLen).Clear();
        Encoding.ASCII.GetBytes(LogText).CopyTo(Memory.AsSpan((int)buf));
        string info = string.Create(CultureInfo.InvariantCulture,
            $"OSRELEASE={Release}\nPAGESIZE=65536\nSYMBOL(log_buf)={PageOffset + vars:x}\nSYMBOL(log_buf_len)={PageOffset + vars + 8:x}\nSYMBOL(log_end)={PageOffset + vars + 12:x}\nSYMBOL(logged_chars)={PageOffset + vars + 16:x}\nCRASHTIME=1700000000\n");
        var desc = Encoding.ASCII.GetBytes(info);
        var note = Memory.AsSpan((int)VmcoreInfoAddress, (int)VmcoreInfoSize);
        note.Clear();
        BinaryPrimitives.WriteUInt32BigEndian(note, 11);
        BinaryPrimitives.WriteUInt32BigEndian(note[4..], (uint)desc.Length);
        BinaryPrimitives.WriteUInt32BigEndian(note[8..], 0);
        "VMCOREINFO\0"u8.CopyTo(note[12..]);
        desc.CopyTo(note[24..]);
        VmcoreInfoText = string.Create(CultureInfo.InvariantCulture, $"{VmcoreInfoAddress:x} {VmcoreInfoSize:x}\n");
    }

    private static ulong Hex(string s) => ulong.Parse(s.StartsWith("0x", StringComparison.Ordinal) ? s[2..] : s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
}
