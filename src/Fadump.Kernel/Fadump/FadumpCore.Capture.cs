using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Kernel.Arch.Ppc64;
using Fadump.Kernel.Mm;
using Fadump.Machine;

namespace Fadump.Kernel.Fadump;

public sealed partial class FadumpCore
{
    /// <summary>Where the capture kernel allocates the elfcorehdr and the CPU notes (its own memory, above its image).</summary>
    public const ulong ElfcorehdrPhys = 0x3000000;
    public const ulong CpuNotesPhys = 0x3100000;

    /// <summary>Early boot with an active dump: the platform's configuration, the param area's bootargs, everything above boot_mem_top reserved.</summary>
    private void EarlyCaptureReserve(byte[] active)
    {
        if (!_ops.GetConfig(this, active))
        {
            Dump.DumpActive = false;
            return;
        }

        // fadump_append_bootargs: the param area's text joins this kernel's command line.
        if (Dump.ParamArea != 0)
        {
            string extra = ReadParamArea().Trim();
            if (extra.Length > 0)
            {
                var cmdline = Kernel.CommandLine.Text;
                if (cmdline.Length + 1 + extra.Length >= LinuxKernel.CommandLineSize)
                {
                    Kernel.EarlyPrintk("fadump: Appending parameters exceeds cmdline size. Truncating!");
                    extra = extra[..Math.Max(0, LinuxKernel.CommandLineSize - 2 - cmdline.Length)];
                }

                Kernel.AppendCommandLine(extra);
            }
        }

        // fadump_reserve_crash_area: everything above boot_mem_top belongs to the dump until release_mem.
        foreach (var r in Kernel.Memory)
        {
            ulong start = Math.Max(r.Start, Dump.BootMemTop);
            if (start < r.End)
            {
                Kernel.Memblock.Reserve(MemoryRange.FromBounds(start, r.End));
                Kernel.EarlyPrintk(FormattableString.Invariant($"fadump: Reserving {(r.End - start) >> 20}MB of memory at {CFormat.Hex016(start)} for preserving crash data"));
            }
        }
    }

    /// <summary>The param area's text up to its NUL.</summary>
    internal string ReadParamArea()
    {
        var b = new byte[ParamAreaSize];
        Machine.Memory.Read(Dump.ParamArea, b);
        int nul = b.AsSpan().IndexOf((byte)0);
        return System.Text.Encoding.ASCII.GetString(b, 0, nul < 0 ? b.Length : nul);
    }

    /// <summary>process_fadump: the platform validates the dump and builds the CPU notes; the ELF core header; /proc/vmcore.</summary>
    private void ProcessDump()
    {
        if (_ops.Process(this) is not { } notes || _crashedHeader is null)
        {
            return;
        }

        BuildElfcorehdr(_crashedHeader, notes);
        if (!Kernel.InitVmcore(ElfcorehdrPhys, Dump.ElfcorehdrSize, VmcoreLog))
        {
            FailDump("fadump: Failed to build /proc/vmcore");
        }
    }

    private CrashInfoHeader? _crashedHeader;

    /// <summary>
    /// The crashed kernel's crash info header, validated (magic in this kernel's byte order, structure sizes).
    /// Null after logging why and releasing the dump.
    /// </summary>
    public CrashInfoHeader? ReadCrashInfoHeader()
    {
        bool bigEndian = Kernel.Arch.BigEndian;
        var hb = new byte[CrashInfoHeader.Size];
        Machine.Memory.Read(Dump.HeaderAddress, hb);
        ulong magic = Endian.U64(hb, bigEndian);
        if (magic != CrashInfoHeader.MagicFadmpsig)
        {
            FailDump(magic == CrashInfoHeader.MagicFadmpinf ? "fadump: Old magic number, can't process the dump."
                : magic == System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(CrashInfoHeader.MagicFadmpsig) ? "fadump: Endianness mismatch between the crashed and the capture kernel."
                : "fadump: Fadump header is corrupted.");
            return null;
        }

        var fdh = CrashInfoHeader.Decode(hb, bigEndian);
        if (fdh.PtRegsSz != CrashInfoHeader.PtRegsSize || fdh.CpuMaskSz != CrashInfoHeader.CpuMaskSize)
        {
            FailDump("fadump: Fadump header size mismatch.");
            return null;
        }

        _crashedHeader = fdh;
        return fdh;
    }

    /// <summary>A dump processing error: in the capture log and printk.</summary>
    public void LogDumpError(string message, int level)
    {
        VmcoreLog.Add(message);
        Kernel.Printk(message, level);
    }

    /// <summary>The dump cannot be used: logged, then invalidated and released (no /proc/vmcore).</summary>
    public void FailDump(string message, int level = 3)
    {
        LogDumpError(message, level);
        InvalidateAndRelease();
    }

    /// <summary>fadump_create_elfcore_headers: CPU notes, VMCOREINFO, boot regions at their copies, memory above boot_mem_top.</summary>
    private void BuildElfcorehdr(CrashInfoHeader fdh, (ulong Address, ulong Size) notes)
    {
        var arch = Kernel.Arch;
        var loads = new List<(ulong Off, ulong Paddr, ulong Size)>();
        ulong dest = Dump.BootMemDestAddr;
        foreach (var r in Dump.BootRegions)
        {
            // Boot regions keep their own PT_LOADs; p_offset is where the bytes are now.
            loads.Add((dest, r.Start, r.Size));
            dest += r.Size;
        }

        ulong resStart = Dump.ReserveStart, resEnd = Dump.ReserveStart + Dump.ReserveSize;
        int nulls = 0;
        foreach (var r in Kernel.Memory)
        {
            ulong start = r.Start, end = r.End;
            if (start < Dump.BootMemTop)
            {
                if (end <= Dump.BootMemTop)
                {
                    continue;
                }

                start = Dump.BootMemTop;
            }

            // Cut around the reserved dump area: 0, 1 or 2 loads.
            if (start < resEnd && end > resStart)
            {
                if (start < resStart)
                {
                    loads.Add((start, start, resStart - start));
                }

                if (end > resEnd)
                {
                    loads.Add((resEnd, resEnd, end - resEnd));
                }

                if (start >= resStart && end <= resEnd)
                {
                    nulls++; // (quirk) a range wholly inside the area leaves an all-zero PT_NULL phdr
                }
            }
            else
            {
                loads.Add((start, start, end - start));
            }
        }

        int phnum = 2 + loads.Count + nulls;
        ulong size = Ranges.AlignUp(64 + (56UL * (ulong)(2 + Dump.BootRegions.Count + Kernel.Memory.Count)), Page);
        Dump.ElfcorehdrAddress = ElfcorehdrPhys;
        Dump.ElfcorehdrSize = size;
        var b = new byte[size];
        ElfHeaders.WriteCoreHeader(b, arch.Machine, phnum);
        int p = ElfHeaders.EhdrSize;
        void Phdr(uint type, uint flags, ulong off, ulong vaddr, ulong paddr, ulong len)
        {
            ElfHeaders.WriteProgramHeader(b.AsSpan(p), arch.BigEndian, new(type, flags, off, vaddr, paddr, len, len, 0));
            p += ElfHeaders.PhdrSize;
        }

        Phdr(ElfProgramHeader.PtNote, 0, notes.Address, 0, notes.Address, notes.Size);
        Phdr(ElfProgramHeader.PtNote, 0, fdh.VmcoreInfoAddress, 0, fdh.VmcoreInfoAddress, fdh.VmcoreInfoSize);
        foreach (var (off, paddr, len) in loads)
        {
            Phdr(ElfProgramHeader.PtLoad, 7, off, arch.Virt(paddr), paddr, len);
        }

        Machine.Memory.Write(ElfcorehdrPhys, b);
    }

    /// <summary>
    /// fadump_invalidate_release_mem: drop /proc/vmcore, invalidate the dump with the firmware, free
    /// every page above boot_mem_top except the reserved dump area (kept for the next registration)
    /// and reserved-ranges, then rebuild the registration structure.
    /// </summary>
    private void InvalidateAndRelease()
    {
        Kernel.RemoveVmcore();
        // fadump_cleanup: the platform clears dump_active only when the firmware forgot the dump; the memory is
        // released either way.
        bool invalidated = _ops.Invalidate(this) == 0;
        _ops.Cleanup(this); // fadump_cleanup's platform part (OPAL: TAG_KERNEL reset; setup_metadata sets it again below)
        ulong released = 0;
        var keep = new List<MemoryRange>(Kernel.ReservedRanges) { new(Dump.ReserveStart, Ranges.AlignUp(Dump.ReserveSize, Page)) };
        Kernel.Memblock.Free(r => r.Start >= Dump.BootMemTop);
        foreach (var r in Kernel.Memory)
        {
            ulong start = Math.Max(r.Start, Dump.BootMemTop);
            if (start >= r.End)
            {
                continue;
            }

            released += r.End - start;
            foreach (var k in keep)
            {
                ulong a = Math.Max(k.Start, start), b = Math.Min(k.End, r.End);
                if (a < b)
                {
                    released -= b - a;
                }
            }
        }

        foreach (var k in keep)
        {
            Kernel.Memblock.Reserve(k);
        }

        Dump.ReleasedBytes = released;
        Dump.Released = true;
        Dump.DumpActive = !invalidated;
        Machine.Clock.Advance(Machine.Cost.Release(released));
        // The area stays reserved; the next registration uses it (and the capture kernel's layout).
        Dump.BootMemDestAddr = Dump.ReserveStart + Ranges.AlignUp(Dump.CpuStateDataSize + Dump.HpteRegionSize, Page);
        Dump.ParamArea = _ops.ParamAreaSupported ? Ppc64Arch.FadumpParamAreaOffset : 0;
        if (_ops.SetupMetadata(this) < 0)
        {
            Kernel.Printk("fadump: Failed to setup kernel metadata!", 4);
        }

        Dump.HeaderAddress = _ops.InitMemStruct(this);
    }
}
