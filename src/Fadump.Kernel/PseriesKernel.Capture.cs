using System.Buffers.Binary;
using Fadump.Firmware.Rtas;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Kernel.Fadump;
using Fadump.Kernel.Vmcore;
using Fadump.Machine;
using Fadump.Kernel.Arch;
using P = Fadump.Kernel.Arch.Ppc64.Ppc64Arch;

namespace Fadump.Kernel;

public sealed partial class PseriesKernel
{
    /// <summary>Where the capture kernel allocates the elfcorehdr and the CPU notes (its own memory, above its image).</summary>
    public const ulong ElfcorehdrPhys = 0x3000000;
    public const ulong CpuNotesPhys = 0x3100000;

    /// <summary>Log lines of the capture kernel's dump processing (errors explain a missing /proc/vmcore).</summary>
    public List<string> VmcoreLog { get; } = [];

    /// <summary>Early boot with /rtas/ibm,kernel-dump: configuration from the firmware's structure, everything above boot_mem_top reserved.</summary>
    private void EarlyCaptureReserve(byte[] active)
    {
        _early.Add("rtas fadump: Firmware-assisted dump is active.");
        var s = FadumpStructure.Decode(active);
        if (s is null)
        {
            _early.Add("rtas fadump: Invalid dump structure from firmware");
            Dump.DumpActive = false;
            return;
        }

        Dump.Structure = s;
        Dump.FirmwareStructure = s;
        var regions = new List<MemoryRange>();
        ulong bootSize = 0, firstDest = 0;
        foreach (var sec in s.Sections)
        {
            switch (sec.Type)
            {
                case FadumpStructure.CpuStateData:
                    Dump.ReserveStart = sec.DestinationAddress;
                    Dump.CpuStateDataSize = sec.SourceLength;
                    break;
                case FadumpStructure.HpteRegion:
                    Dump.HpteRegionSize = sec.SourceLength;
                    break;
                case FadumpStructure.RealModeRegion:
                    if (regions.Count == 0)
                    {
                        firstDest = sec.DestinationAddress;
                    }

                    regions.Add(new MemoryRange(sec.SourceAddress, sec.SourceLength));
                    bootSize += sec.SourceLength;
                    break;
                case FadumpStructure.ParamArea:
                    Dump.ParamArea = sec.ErrorFlags == 0 && sec.BytesDumped == sec.SourceLength ? sec.DestinationAddress : 0;
                    break;
                default:
                    _early.Add(FormattableString.Invariant($"rtas fadump: Skipping unknown section type {sec.Type:x}"));
                    break;
            }
        }

        Dump.BootRegions = regions;
        Dump.BootMemorySize = bootSize;
        Dump.BootMemDestAddr = firstDest;
        ulong holes = 0, last = 0;
        foreach (var r in regions)
        {
            holes += r.Start - last;
            last = r.End;
        }

        Dump.BootMemTop = Align(bootSize + holes, Page);
        Dump.HeaderAddress = firstDest + bootSize;
        Dump.ReserveSize = Align(Dump.CpuStateDataSize + Dump.HpteRegionSize, Page) + bootSize + CrashInfoHeader.Size;

        // bootargs_append: the param area's text joins this kernel's command line.
        if (Dump.ParamArea != 0)
        {
            var p = new byte[ParamAreaSize];
            _machine.Memory.Read(Dump.ParamArea, p);
            int nul = p.AsSpan().IndexOf((byte)0);
            string extra = System.Text.Encoding.ASCII.GetString(p, 0, nul < 0 ? p.Length : nul).Trim();
            if (extra.Length > 0)
            {
                if (CommandLine.Text.Length + 1 + extra.Length >= CommandLineSize)
                {
                    _early.Add("fadump: Appending parameters exceeds cmdline size. Truncating!");
                    extra = extra[..Math.Max(0, CommandLineSize - 2 - CommandLine.Text.Length)];
                }

                CommandLine = CommandLine.Append(extra);
            }
        }

        // Everything above boot_mem_top belongs to the dump until release_mem.
        foreach (var r in Memory)
        {
            ulong start = Math.Max(r.Start, Dump.BootMemTop);
            if (start < r.End)
            {
                _memblockReserved.Add(MemoryRange.FromBounds(start, r.End));
                _early.Add(FormattableString.Invariant($"fadump: Reserving {(r.End - start) >> 20}MB of memory at {CFormat.Hex016(start)} for preserving crash data"));
            }
        }
    }

    public const int CommandLineSize = 2048;

    /// <summary>fadump_process: validate sections and header, build the elfcorehdr and CPU notes, create /proc/vmcore.</summary>
    private void SetupCaptureKernel()
    {
        var s = Dump.Structure;
        if (s is null)
        {
            return;
        }

        for (int i = 0; i < s.Sections.Count; i++)
        {
            var sec = s.Sections[i];
            if (sec.Type is not (FadumpStructure.CpuStateData or FadumpStructure.HpteRegion or FadumpStructure.RealModeRegion))
            {
                continue;
            }

            // rtas_fadump_process: each check reports on its own; the dump status flag itself is not consulted.
            bool bad = false;
            if (sec.ErrorFlags != 0)
            {
                LogDumpError(FormattableString.Invariant($"rtas fadump: Dump taken by platform is not valid ({i})"), 3);
                bad = true;
            }

            if (sec.BytesDumped != sec.SourceLength)
            {
                LogDumpError(FormattableString.Invariant($"rtas fadump: Dump taken by platform is incomplete ({i})"), 3);
                bad = true;
            }

            if (bad)
            {
                FailDump(FormattableString.Invariant($"rtas fadump: Region type: {sec.Type} src addr: 0x{sec.SourceAddress:x} dest addr: 0x{sec.DestinationAddress:x}"), 4);
                return;
            }
        }

        var hb = new byte[CrashInfoHeader.Size];
        _machine.Memory.Read(Dump.HeaderAddress, hb);
        ulong magic = Endian.U64(hb, _arch.BigEndian);
        if (magic != CrashInfoHeader.MagicFadmpsig)
        {
            FailDump(magic == CrashInfoHeader.MagicFadmpinf ? "fadump: Old magic number, can't process the dump."
                : magic == BinaryPrimitives.ReverseEndianness(CrashInfoHeader.MagicFadmpsig) ? "fadump: Endianness mismatch between the crashed and the capture kernel."
                : "fadump: Fadump header is corrupted.");
            return;
        }

        var fdh = CrashInfoHeader.Decode(hb, _arch.BigEndian);
        if (fdh.PtRegsSz != CrashInfoHeader.PtRegsSize || fdh.CpuMaskSz != CrashInfoHeader.CpuMaskSize)
        {
            FailDump("fadump: Fadump header size mismatch.");
            return;
        }

        var notes = BuildCpuNotes(fdh, s);
        if (notes is null)
        {
            return;
        }

        BuildElfcorehdr(fdh, notes.Value);
        var vmcore = ProcVmcore.Build(_machine.Memory, _arch, ElfcorehdrPhys, Dump.ElfcorehdrSize, VmcoreLog);
        foreach (var line in VmcoreLog)
        {
            Printk(line, 4);
        }

        if (vmcore is null)
        {
            FailDump("fadump: Failed to build /proc/vmcore");
            return;
        }

        Dump.Vmcore = vmcore;
    }

    private void LogDumpError(string message, int level)
    {
        VmcoreLog.Add(message);
        Printk(message, level);
    }

    private void FailDump(string message, int level = 3)
    {
        LogDumpError(message, level);
        // Invalidate and release: no /proc/vmcore.
        InvalidateAndRelease();
    }

    /// <summary>rtas_fadump_build_cpu_notes: NT_PRSTATUS per CPU of the save area in the header's mask.</summary>
    private (ulong Address, ulong Size)? BuildCpuNotes(CrashInfoHeader fdh, FadumpStructure s)
    {
        var cpuSec = s.Sections.First(x => x.Type == FadumpStructure.CpuStateData);
        var area = new byte[cpuSec.BytesDumped];
        _machine.Memory.Read(cpuSec.DestinationAddress, area);
        if (area.Length < RegisterSaveArea.EntriesOffset || BinaryPrimitives.ReadUInt64BigEndian(area) != RegisterSaveArea.Magic)
        {
            FailDump("rtas fadump: Unable to read register save area.");
            return null;
        }

        int pos = (int)BinaryPrimitives.ReadUInt32BigEndian(area.AsSpan(12));
        uint numCpus = BinaryPrimitives.ReadUInt32BigEndian(area.AsSpan(pos));
        pos += 4;
        var machine = _arch.Machine;
        var notes = new List<ElfNote>();
        for (uint i = 0; i < numCpus; i++)
        {
            if (pos + 16 > area.Length || BinaryPrimitives.ReadUInt64BigEndian(area.AsSpan(pos)) != RegisterSaveArea.CpuStart)
            {
                FailDump("rtas fadump: Unable to read CPU state data");
                return null;
            }

            int cpu = (int)(BinaryPrimitives.ReadUInt64BigEndian(area.AsSpan(pos + 8)) & 0xffffffff);
            pos += 16;
            var regs = new ulong[48];
            while (pos + 16 <= area.Length && BinaryPrimitives.ReadUInt64BigEndian(area.AsSpan(pos)) != RegisterSaveArea.CpuEnd)
            {
                SetRegister(regs, BinaryPrimitives.ReadUInt64BigEndian(area.AsSpan(pos)), BinaryPrimitives.ReadUInt64BigEndian(area.AsSpan(pos + 8)));
                pos += 16;
            }

            pos += 16;
            if (!fdh.HasCpu(cpu))
            {
                continue;
            }

            if (fdh.CrashingCpu == (uint)cpu)
            {
                regs = [.. fdh.Regs];
            }

            // Linux leaves pr_pid 0 in every FADump note, so gdb folds all CPUs into one thread.
            // The simulation departs from that on purpose: pr_pid = CPU + 1 keeps them apart.
            notes.Add(new PrStatus(cpu + 1, 0, regs).ToNote(machine));
        }

        var buf = ElfNote.EncodeAll(notes, _arch.BigEndian);
        ulong size = Align((ulong)Math.Max(1, numCpus) * 536, Page);
        var full = new byte[size];
        buf.CopyTo(full, 0);
        _machine.Memory.Write(CpuNotesPhys, full);
        return (CpuNotesPhys, size);
    }

    private static void SetRegister(ulong[] regs, ulong id, ulong value)
    {
        // GPRnn: "GPR" in the top three bytes, two digits after.
        if ((id & 0xffffff0000000000) == RegisterSaveArea.Id("GPR"))
        {
            int hi = (int)((id >> 32) & 0xff) - '0', lo = (int)((id >> 24) & 0xff) - '0';
            int n = (hi * 10) + lo;
            if (hi is >= 0 and <= 9 && lo is >= 0 and <= 9 && n < 32)
            {
                regs[n] = value;
            }

            return;
        }

        int index = id switch
        {
            _ when id == RegisterSaveArea.Id("NIA") => CrashInfoHeader.RegNip,
            _ when id == RegisterSaveArea.Id("MSR") => CrashInfoHeader.RegMsr,
            _ when id == RegisterSaveArea.Id("CTR") => CrashInfoHeader.RegCtr,
            _ when id == RegisterSaveArea.Id("LR") => CrashInfoHeader.RegLink,
            _ when id == RegisterSaveArea.Id("XER") => CrashInfoHeader.RegXer,
            _ when id == RegisterSaveArea.Id("CR") => CrashInfoHeader.RegCcr,
            _ when id == RegisterSaveArea.Id("DAR") => CrashInfoHeader.RegDar,
            _ when id == RegisterSaveArea.Id("DSISR") => CrashInfoHeader.RegDsisr,
            _ => -1,
        };
        if (index >= 0)
        {
            regs[index] = value;
        }
    }

    /// <summary>fadump_create_elfcore_headers: CPU notes, VMCOREINFO, boot regions at their copies, memory above boot_mem_top.</summary>
    private void BuildElfcorehdr(CrashInfoHeader fdh, (ulong Address, ulong Size) notes)
    {
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
        foreach (var r in Memory)
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
        ulong size = Align(64 + (56UL * (ulong)(2 + Dump.BootRegions.Count + Memory.Count)), Page);
        Dump.ElfcorehdrAddress = ElfcorehdrPhys;
        Dump.ElfcorehdrSize = size;
        var b = new byte[size];
        ElfHeaders.WriteCoreHeader(b, _arch.Machine, phnum);
        int p = ElfHeaders.EhdrSize;
        void Phdr(uint type, uint flags, ulong off, ulong vaddr, ulong paddr, ulong len)
        {
            ElfHeaders.WriteProgramHeader(b.AsSpan(p), _arch.BigEndian, new(type, flags, off, vaddr, paddr, len, len, 0));
            p += ElfHeaders.PhdrSize;
        }

        Phdr(ElfProgramHeader.PtNote, 0, notes.Address, 0, notes.Address, notes.Size);
        Phdr(ElfProgramHeader.PtNote, 0, fdh.VmcoreInfoAddress, 0, fdh.VmcoreInfoAddress, fdh.VmcoreInfoSize);
        foreach (var (off, paddr, len) in loads)
        {
            Phdr(ElfProgramHeader.PtLoad, 7, off, P.KernelBase + paddr, paddr, len);
        }

        _machine.Memory.Write(ElfcorehdrPhys, b);
    }
}
