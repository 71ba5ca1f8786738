using System.Buffers.Binary;
using System.Text;
using Fadump.Kernel.Sysfs;

namespace Fadump.Kernel.Kexec;

/// <summary>
/// The x86 boot protocol's <c>struct setup_header</c> inside a bzImage (arch/x86/include/uapi/asm/bootparam.h,
/// Documentation/arch/x86/boot.rst): the fields kexec reads, at their offsets in the image (and in boot_params).
/// </summary>
public static class BzImage
{
    public const int SetupSects = 0x1f1;        // u8 setup_sects
    public const int BootFlag = 0x1fe;          // u16 boot_flag = 0xAA55
    public const int Jump = 0x200;              // u16 jump; the byte at 0x201 is the header's length - 0x202 + 0x202
    public const int Header = 0x202;            // "HdrS"
    public const int Version = 0x206;           // u16 protocol version
    public const int TypeOfLoader = 0x210;      // u8
    public const int LoadFlags = 0x211;         // u8, LOADED_HIGH = 1
    public const int RamdiskImage = 0x218;      // u32
    public const int RamdiskSize = 0x21c;       // u32
    public const int CmdLinePtr = 0x228;        // u32
    public const int InitrdAddrMax = 0x22c;     // u32
    public const int KernelAlignment = 0x230;   // u32
    public const int RelocatableKernel = 0x234; // u8
    public const int XLoadFlags = 0x236;        // u16
    public const int CmdlineSize = 0x238;       // u32
    public const int PrefAddress = 0x258;       // u64
    public const int InitSize = 0x260;          // u32
    public const int HeaderEnd = 0x26c;         // end of protocol 2.15's header

    public const ushort BootFlagMagic = 0xAA55;
    public const byte LoadedHigh = 0x1;
    public const ushort XlfKernel64 = 1 << 0;
    public const ushort XlfCanBeLoadedAbove4G = 1 << 1;
    public const ushort XlfFiveLevel = 1 << 5;
    public const int SectorSize = 512;

    /// <summary>"HdrS" as a little-endian u32.</summary>
    public const uint HeaderMagic = 0x53726448;

    /// <summary>
    /// bzImage64_probe (arch/x86/kernel/kexec-bzimage64.c): −ENOEXEC with the kernel's message
    /// unless the image is a 64-bit relocatable bzImage of protocol 2.12 or later. The 32-bit EFI
    /// and 5-level paging checks do not apply to the simulated machine (64-bit firmware, 4-level).
    /// </summary>
    public static (Errno Errno, string? Message) Probe(ReadOnlySpan<byte> image)
    {
        if (image.Length < 2 * SectorSize)
        {
            return (Errno.ENOEXEC, "File is too short to be a bzImage");
        }

        if (image.Length < HeaderEnd || BinaryPrimitives.ReadUInt32LittleEndian(image[Header..]) != HeaderMagic)
        {
            return (Errno.ENOEXEC, "Not a bzImage");
        }

        if (BinaryPrimitives.ReadUInt16LittleEndian(image[BootFlag..]) != BootFlagMagic)
        {
            return (Errno.ENOEXEC, "No x86 boot sector present");
        }

        if (BinaryPrimitives.ReadUInt16LittleEndian(image[Version..]) < 0x020C)
        {
            return (Errno.ENOEXEC, "Must be at least protocol version 2.12");
        }

        if ((image[LoadFlags] & LoadedHigh) == 0)
        {
            return (Errno.ENOEXEC, "zImage not a bzImage");
        }

        ushort x = BinaryPrimitives.ReadUInt16LittleEndian(image[XLoadFlags..]);
        if ((x & XlfKernel64) == 0)
        {
            return (Errno.ENOEXEC, "Not a bzImage64. XLF_KERNEL_64 is not set.");
        }

        if ((x & XlfCanBeLoadedAbove4G) == 0)
        {
            return (Errno.ENOEXEC, "XLF_CAN_BE_LOADED_ABOVE_4G is not set.");
        }

        return (Errno.None, null);
    }

    /// <summary>(setup_sects + 1) × 512, setup_sects 0 meaning 4: the real-mode part before the 64-bit kernel.</summary>
    public static int Kern16Size(ReadOnlySpan<byte> image) => ((image[SetupSects] == 0 ? 4 : image[SetupSects]) + 1) * SectorSize;

    public static uint U32(ReadOnlySpan<byte> image, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(image[offset..]);

    /// <summary>
    /// A small synthetic bzImage: a valid protocol-2.15 setup header (64-bit, relocatable, loadable
    /// above 4 GiB, 16 MiB alignment, 2 KiB command line) before a "protected-mode kernel" whose
    /// bytes are a deterministic function of <paramref name="version"/> (so two builds differ only
    /// if their versions do).
    /// </summary>
    public static byte[] Build(string version, int kernelBytes = 64 << 10, uint initSize = 32 << 20, int setupSects = 3)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(kernelBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(setupSects, 1);
        int kern16 = (setupSects + 1) * SectorSize;
        var b = new byte[kern16 + kernelBytes];
        var s = b.AsSpan();
        s[SetupSects] = (byte)setupSects;
        BinaryPrimitives.WriteUInt16LittleEndian(s[BootFlag..], BootFlagMagic);
        s[Jump] = 0xeb;                                 // jmp short
        s[Jump + 1] = (byte)(HeaderEnd - Jump - 2);      // over the header
        BinaryPrimitives.WriteUInt32LittleEndian(s[Header..], HeaderMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(s[Version..], 0x020F);
        s[LoadFlags] = LoadedHigh;
        BinaryPrimitives.WriteUInt32LittleEndian(s[InitrdAddrMax..], 0x7fffffff);
        BinaryPrimitives.WriteUInt32LittleEndian(s[KernelAlignment..], 16 << 20);
        s[RelocatableKernel] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(s[XLoadFlags..], XlfKernel64 | XlfCanBeLoadedAbove4G);
        BinaryPrimitives.WriteUInt32LittleEndian(s[CmdlineSize..], 2047);
        BinaryPrimitives.WriteUInt64LittleEndian(s[PrefAddress..], 0x1000000);
        BinaryPrimitives.WriteUInt32LittleEndian(s[InitSize..], initSize);
        Encoding.ASCII.GetBytes(version.Length > 64 ? version[..64] : version, s[(HeaderEnd + 16)..]);

        // The payload: an xorshift stream seeded by the version, standing for compressed kernel bytes.
        ulong x = 0x9E3779B97F4A7C15;
        foreach (char c in version)
        {
            x = (x ^ c) * 0x100000001B3;
        }

        for (int i = kern16; i < b.Length; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b[i] = (byte)x;
        }

        return b;
    }
}

/// <summary>
/// The zero page handed to the kernel in rsi (<c>struct boot_params</c>, 4096 bytes): the image's
/// setup header copied in, the command line pointer, the initrd, and for a capture kernel the
/// e820 table it may use (kexec-tools x86-linux-setup.c setup_e820 with info->crash_range).
/// </summary>
public static class BootParams
{
    public const int Size = 4096;
    public const int E820Entries = 0x1e8;   // u8 e820_entries
    public const int E820Table = 0x2d0;     // struct boot_e820_entry[E820_MAX_ENTRIES_ZEROPAGE]
    public const int E820EntrySize = 20;    // {u64 addr, u64 size, u32 type}
    public const int E820MaxEntries = 128;  // E820_MAX_ENTRIES_ZEROPAGE

    /// <summary>
    /// Builds boot_params with the NUL-terminated command line at <paramref name="cmdlineOffset"/>
    /// (4096 for the kernel's loader; max(kern16_size, 4096) for kexec-tools'), padded to <paramref name="size"/>.
    /// </summary>
    public static byte[] Build(ReadOnlySpan<byte> kernelImage, ulong loadAddress, string commandLine, ulong initrdAddress, ulong initrdSize, IReadOnlyList<(ulong Start, ulong Size, uint Type)> e820, int size, int cmdlineOffset = Size)
    {
        byte[] cmd = Encoding.ASCII.GetBytes(commandLine + "\0");
        if (cmdlineOffset < Size || cmdlineOffset + cmd.Length > size || e820.Count > E820MaxEntries || initrdAddress > uint.MaxValue || initrdSize > uint.MaxValue || loadAddress + (ulong)size > uint.MaxValue)
        {
            throw new ArgumentException(FormattableString.Invariant($"boot_params: {cmd.Length}-byte command line, {e820.Count} e820 entries, initrd at 0x{initrdAddress:x} do not fit"));
        }

        var b = new byte[size];
        var s = b.AsSpan();

        // setup_header_size = 0x0202 + kernel[0x0201] - 0x1f1 (Documentation/arch/x86/boot.rst).
        int headerLength = BzImage.Jump + 2 + kernelImage[BzImage.Jump + 1] - BzImage.SetupSects;
        kernelImage.Slice(BzImage.SetupSects, headerLength).CopyTo(s[BzImage.SetupSects..]);
        s[BzImage.TypeOfLoader] = 0x0D << 4;   // "kexec"
        s[BzImage.LoadFlags] = 0;
        BinaryPrimitives.WriteUInt32LittleEndian(s[BzImage.CmdLinePtr..], (uint)(loadAddress + (ulong)cmdlineOffset));
        BinaryPrimitives.WriteUInt32LittleEndian(s[BzImage.RamdiskImage..], (uint)initrdAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(s[BzImage.RamdiskSize..], (uint)initrdSize);
        s[E820Entries] = (byte)e820.Count;
        for (int i = 0; i < e820.Count; i++)
        {
            var e = s[(E820Table + (i * E820EntrySize))..];
            BinaryPrimitives.WriteUInt64LittleEndian(e, e820[i].Start);
            BinaryPrimitives.WriteUInt64LittleEndian(e[8..], e820[i].Size);
            BinaryPrimitives.WriteUInt32LittleEndian(e[16..], e820[i].Type);
        }

        cmd.CopyTo(s[cmdlineOffset..]);
        return b;
    }

    /// <summary>The command line a boot_params buffer loaded at <paramref name="loadAddress"/> points at (cmd_line_ptr).</summary>
    public static string CommandLine(ReadOnlySpan<byte> paramsAndCmdline, ulong loadAddress)
    {
        ulong ptr = BinaryPrimitives.ReadUInt32LittleEndian(paramsAndCmdline[BzImage.CmdLinePtr..]);
        if (ptr < loadAddress + Size || ptr - loadAddress >= (ulong)paramsAndCmdline.Length)
        {
            throw new ArgumentException(FormattableString.Invariant($"cmd_line_ptr 0x{ptr:x} is not inside the {paramsAndCmdline.Length}-byte buffer at 0x{loadAddress:x}"));
        }

        var tail = paramsAndCmdline[(int)(ptr - loadAddress)..];
        int nul = tail.IndexOf((byte)0);
        return Encoding.ASCII.GetString(nul >= 0 ? tail[..nul] : tail);
    }
}
