using System.Text;
using Fadump.Firmware.Rtas;
using Fadump.Formats.Elf;
using Fadump.Kernel.Arch.Ppc64;
using Fadump.Kernel.Mm;
using Fadump.Kernel.Sysfs;
using Fadump.Machine;

namespace Fadump.Kernel.Fadump.Rtas;

/// <summary>
/// FADump on pSeries (arch/powerpc/platforms/pseries/rtas-fadump.c): the ibm,configure-kernel-dump RTAS call
/// with its structure (CPU state data, HPTE, one REAL_MODE_REGION per boot region, the param area), the
/// register save area's parsing into CPU notes, and ibm,os-term as the trigger.
/// </summary>
public sealed class RtasFadumpOps(RtasFirmware rtas) : IFadumpOps
{
    public FadumpPlatform Limits => FadumpPlatform.Pseries;

    public string LogPrefix => "rtas fadump: ";

    public bool ParamAreaSupported => true;

    /// <summary>rtas_fadump_ops has no metadata: the structure lives in the kernel's static data.</summary>
    public ulong MetadataSize => 0;

    public int SetupMetadata(FadumpCore fadump) => 0;

    public byte[]? DtScan(FadumpCore fadump)
    {
        var dump = fadump.Dump;
        var rtasNode = fadump.Machine.DeviceTree.Find("/rtas");
        dump.Supported = rtasNode?.Get("ibm,configure-kernel-dump") is not null;
        if (rtasNode?.Get("ibm,configure-kernel-dump-sizes") is { } sizes)
        {
            var cells = DeviceTreeNode.Cells(sizes);
            for (int i = 0; i + 2 < cells.Length; i += 3)
            {
                ulong v = ((ulong)cells[i + 1] << 32) | cells[i + 2];
                if (cells[i] == 1)
                {
                    dump.CpuStateDataSize = v;
                }
                else if (cells[i] == 2)
                {
                    dump.HpteRegionSize = v;
                }
            }
        }

        return rtasNode?.Get("ibm,kernel-dump");
    }

    /// <summary>rtas_fadump_get_config: the sections of the structure the firmware returned after the dump.</summary>
    public bool GetConfig(FadumpCore fadump, byte[] activeDump)
    {
        var dump = fadump.Dump;
        var kernel = fadump.Kernel;
        ulong page = (ulong)kernel.Arch.PageSize;
        kernel.EarlyPrintk("rtas fadump: Firmware-assisted dump is active.");
        var s = FadumpStructure.Decode(activeDump);
        if (s is null)
        {
            kernel.EarlyPrintk("rtas fadump: Invalid dump structure from firmware");
            return false;
        }

        dump.Structure = s;
        dump.FirmwareStructure = s;
        var regions = new List<MemoryRange>();
        ulong bootSize = 0, firstDest = 0;
        foreach (var sec in s.Sections)
        {
            switch (sec.Type)
            {
                case FadumpStructure.CpuStateData:
                    dump.ReserveStart = sec.DestinationAddress;
                    dump.CpuStateDataSize = sec.SourceLength;
                    break;
                case FadumpStructure.HpteRegion:
                    dump.HpteRegionSize = sec.SourceLength;
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
                    dump.ParamArea = sec.ErrorFlags == 0 && sec.BytesDumped == sec.SourceLength ? sec.DestinationAddress : 0;
                    break;
                default:
                    kernel.EarlyPrintk(FormattableString.Invariant($"rtas fadump: Skipping unknown section type {sec.Type:x}"));
                    break;
            }
        }

        dump.BootRegions = regions;
        dump.BootMemorySize = bootSize;
        dump.BootMemDestAddr = firstDest;
        ulong holes = 0, last = 0;
        foreach (var r in regions)
        {
            holes += r.Start - last;
            last = r.End;
        }

        dump.BootMemTop = Ranges.AlignUp(bootSize + holes, page);
        dump.HeaderAddress = firstDest + bootSize;
        dump.ReserveSize = Ranges.AlignUp(dump.CpuStateDataSize + dump.HpteRegionSize, page) + bootSize + CrashInfoHeader.Size;
        return true;
    }

    /// <summary>
    /// rtas_fadump_init_mem_struct: CPU, HPTE, one REAL_MODE_REGION per boot region, the param area. Returns
    /// dest + the regions' sizes: the header follows the last copy, which with the region quirk can be short of
    /// boot_memory_size.
    /// </summary>
    public ulong InitMemStruct(FadumpCore fadump)
    {
        var dump = fadump.Dump;
        dump.Structure = BuildStructure(dump);
        return dump.BootMemDestAddr + dump.BootRegions.Aggregate(0UL, (a, r) => a + r.Size);
    }

    private static FadumpStructure BuildStructure(FwDump dump)
    {
        var s = new FadumpStructure();
        ulong addr = dump.ReserveStart;
        s.Sections.Add(new FadumpSection { Type = FadumpStructure.CpuStateData, SourceLength = dump.CpuStateDataSize, DestinationAddress = addr });
        addr += dump.CpuStateDataSize;
        s.Sections.Add(new FadumpSection { Type = FadumpStructure.HpteRegion, SourceLength = dump.HpteRegionSize, DestinationAddress = addr });
        ulong dest = dump.BootMemDestAddr;
        foreach (var r in dump.BootRegions)
        {
            s.Sections.Add(new FadumpSection { Type = FadumpStructure.RealModeRegion, SourceAddress = r.Start, SourceLength = r.Size, DestinationAddress = dest });
            dest += r.Size;
        }

        if (dump.ParamArea != 0)
        {
            s.Sections.Add(new FadumpSection { Type = FadumpStructure.ParamArea, SourceAddress = dump.ParamArea, SourceLength = FadumpCore.ParamAreaSize, DestinationAddress = dump.ParamArea });
        }

        return s;
    }

    /// <summary>rtas_fadump_register, with the busy retries.</summary>
    public int Register(FadumpCore fadump)
    {
        var dump = fadump.Dump;
        var kernel = fadump.Kernel;
        dump.Structure = BuildStructure(dump);
        var bytes = dump.Structure.Encode();
        fadump.Machine.Memory.Write(Ppc64Arch.FadumpRegistrationOffset, bytes);
        int rc = CallWithRetry(fadump.Machine, RtasFirmware.CmdRegister, Ppc64Arch.FadumpRegistrationOffset, (ulong)bytes.Length);
        switch (rc)
        {
            case RtasFirmware.RcSuccess:
                kernel.Printk("rtas fadump: Registration is successful!");
                dump.Registered = true;
                return 0;
            case RtasFirmware.RcParameterError:
                if (!fadump.IsReservedAreaContiguous())
                {
                    kernel.Printk("rtas fadump: Can't have holes in reserved memory area.", 3);
                }

                kernel.Printk(FormattableString.Invariant($"rtas fadump: Failed to register. Parameter Error({rc})."), 3);
                return -(int)Errno.EINVAL;
            case RtasFirmware.RcAlreadyRegistered:
                kernel.Printk("rtas fadump: Already registered!", 3);
                dump.Registered = true;
                return -(int)Errno.EEXIST;
            case RtasFirmware.RcHardwareError:
                kernel.Printk(FormattableString.Invariant($"rtas fadump: Failed to register. Hardware Error({rc})."), 3);
                return -(int)Errno.EIO;
            default:
                kernel.Printk(FormattableString.Invariant($"rtas fadump: Failed to register. Unknown Error({rc})."), 3);
                return -(int)Errno.EIO;
        }
    }

    public int Unregister(FadumpCore fadump)
    {
        var bytes = fadump.Dump.Structure?.Encode() ?? new byte[FadumpStructure.FullSize];
        int rc = CallWithRetry(fadump.Machine, RtasFirmware.CmdUnregister, Ppc64Arch.FadumpRegistrationOffset, (ulong)bytes.Length);
        if (rc != 0)
        {
            fadump.Kernel.Printk(FormattableString.Invariant($"rtas fadump: Failed to un-register - unexpected error({rc})."), 3);
            return -(int)Errno.EIO;
        }

        fadump.Dump.Registered = false;
        return 0;
    }

    public int Invalidate(FadumpCore fadump)
    {
        rtas.ConfigureKernelDump(RtasFirmware.CmdInvalidate, 0, FadumpStructure.FullSize);
        return 0;
    }

    /// <summary>rtas_fadump_ops has no fadump_cleanup: nothing of the platform's outlives the kernel.</summary>
    public void Cleanup(FadumpCore fadump)
    {
    }

    /// <summary>ibm,configure-kernel-dump in rtas_busy_delay's loop.</summary>
    private int CallWithRetry(SimulatedMachine machine, int command, ulong address, ulong size) =>
        RtasBusy.Call(machine, () => rtas.ConfigureKernelDump(command, address, size));

    /// <summary>rtas_fadump_process: each section's status, the crash info header, the CPU notes.</summary>
    public (ulong Address, ulong Size)? Process(FadumpCore fadump)
    {
        var s = fadump.Dump.Structure;
        if (s is null)
        {
            return null;
        }

        for (int i = 0; i < s.Sections.Count; i++)
        {
            var sec = s.Sections[i];
            if (sec.Type is not (FadumpStructure.CpuStateData or FadumpStructure.HpteRegion or FadumpStructure.RealModeRegion))
            {
                continue;
            }

            // Each check reports on its own; the dump status flag itself is not consulted.
            bool bad = false;
            if (sec.ErrorFlags != 0)
            {
                fadump.LogDumpError(FormattableString.Invariant($"rtas fadump: Dump taken by platform is not valid ({i})"), 3);
                bad = true;
            }

            if (sec.BytesDumped != sec.SourceLength)
            {
                fadump.LogDumpError(FormattableString.Invariant($"rtas fadump: Dump taken by platform is incomplete ({i})"), 3);
                bad = true;
            }

            if (bad)
            {
                fadump.FailDump(FormattableString.Invariant($"rtas fadump: Region type: {sec.Type} src addr: 0x{sec.SourceAddress:x} dest addr: 0x{sec.DestinationAddress:x}"), 4);
                return null;
            }
        }

        if (fadump.ReadCrashInfoHeader() is not { } fdh)
        {
            return null;
        }

        return BuildCpuNotes(fadump, fdh, s);
    }

    /// <summary>rtas_fadump_build_cpu_notes: NT_PRSTATUS per CPU of the save area in the header's mask.</summary>
    private static (ulong Address, ulong Size)? BuildCpuNotes(FadumpCore fadump, CrashInfoHeader fdh, FadumpStructure s)
    {
        var arch = fadump.Kernel.Arch;
        var memory = fadump.Machine.Memory;
        var cpuSec = s.Sections.First(x => x.Type == FadumpStructure.CpuStateData);
        var area = new byte[cpuSec.BytesDumped];
        memory.Read(cpuSec.DestinationAddress, area);
        // The register save area is big-endian whatever the kernel's byte order (PAPR).
        if (!Ppc64RegisterSaveArea.HasHeader(area))
        {
            fadump.FailDump("rtas fadump: Unable to read register save area.");
            return null;
        }

        IReadOnlyList<Ppc64SavedCpu> saved;
        try
        {
            saved = Ppc64RegisterSaveArea.Parse(area, "CPU state data", (long)cpuSec.DestinationAddress);
        }
        catch (Formats.DumpFormatException)
        {
            fadump.FailDump("rtas fadump: Unable to read CPU state data");
            return null;
        }

        uint numCpus = (uint)saved.Count;
        var notes = new List<ElfNote>();
        foreach (var c in saved)
        {
            if (!fdh.HasCpu(c.Cpu))
            {
                continue;
            }

            IReadOnlyList<ulong> regs = fdh.CrashingCpu == (uint)c.Cpu ? [.. fdh.Regs] : c.Registers;

            // Linux leaves pr_pid 0 in every FADump note, so gdb folds all CPUs into one thread.
            // The simulation departs from that on purpose: pr_pid = CPU + 1 keeps them apart.
            notes.Add(new PrStatus(c.Cpu + 1, 0, regs).ToNote(arch.Machine));
        }

        var buf = ElfNote.EncodeAll(notes, arch.BigEndian);
        ulong size = Ranges.AlignUp((ulong)Math.Max(1, numCpus) * 536, (ulong)arch.PageSize);
        var full = new byte[size];
        buf.CopyTo(full, 0);
        memory.Write(FadumpCore.CpuNotesPhys, full);
        return (FadumpCore.CpuNotesPhys, size);
    }

    /// <summary>rtas_fadump_region_show.</summary>
    public string RegionShow(FadumpCore fadump)
    {
        var dump = fadump.Dump;
        if (dump.Structure is not { } s)
        {
            return string.Empty;
        }

        var sb = new StringBuilder();
        foreach (var sec in s.Sections)
        {
            switch (sec.Type)
            {
                case FadumpStructure.CpuStateData:
                    sb.Append(FormattableString.Invariant($"CPU :[{CFormat.Hex016(sec.DestinationAddress)}-{CFormat.Hex016(sec.DestinationAddress + sec.SourceLength - 1)}] {CFormat.Hex(sec.SourceLength)} bytes, Dumped: {CFormat.Hex(sec.BytesDumped)}\n"));
                    break;
                case FadumpStructure.HpteRegion:
                    sb.Append(FormattableString.Invariant($"HPTE:[{CFormat.Hex016(sec.DestinationAddress)}-{CFormat.Hex016(sec.DestinationAddress + sec.SourceLength - 1)}] {CFormat.Hex(sec.SourceLength)} bytes, Dumped: {CFormat.Hex(sec.BytesDumped)}\n"));
                    break;
                case FadumpStructure.RealModeRegion:
                    sb.Append(FormattableString.Invariant($"DUMP: Src: {CFormat.Hex016(sec.SourceAddress)}, Dest: {CFormat.Hex016(sec.DestinationAddress)}, Size: {CFormat.Hex(sec.SourceLength)}, Dumped: {CFormat.Hex(sec.BytesDumped)} bytes\n"));
                    break;
                case FadumpStructure.ParamArea:
                    sb.Append(FormattableString.Invariant($"\n[{CFormat.Hex016(sec.DestinationAddress)}-{CFormat.Hex016(sec.DestinationAddress + sec.SourceLength - 1)}]: cmdline append: '{fadump.ReadParamArea()}'\n"));
                    break;
            }
        }

        if (dump.DumpActive)
        {
            sb.Append(FormattableString.Invariant($"\nMemory above {CFormat.Hex016(dump.ReserveStart)} is reserved for saving crash dump\n"));
        }

        return sb.ToString();
    }

    /// <summary>rtas_fadump_trigger: the crashing CPU enters RTAS (the firmware saves it in that state), then ibm,os-term.</summary>
    public bool Trigger(FadumpCore fadump, CrashInfoHeader header, string message)
    {
        var c = fadump.Machine.Cpus[(int)header.CrashingCpu];
        c.Nip = 0x000000000000e000 + 0x1c0; // in RTAS
        c.Lr = Ppc64Arch.PanicNip + 0x160;
        return rtas.OsTerm(message);
    }
}
