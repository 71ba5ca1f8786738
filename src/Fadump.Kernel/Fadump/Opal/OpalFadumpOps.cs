using System.Text;
using Fadump.Firmware.Opal;
using Fadump.Formats;
using Fadump.Formats.Elf;
using Fadump.Kernel.Mm;
using Fadump.Machine;

namespace Fadump.Kernel.Fadump.Opal;

/// <summary>
/// FADump on PowerNV (arch/powerpc/platforms/powernv/opal-fadump.c): the kernel metadata in the last page of the
/// reservation registered as TAG_KERNEL, boot_mem_top as TAG_BOOT_MEM, one OPAL_MPIPL_ADD_RANGE per boot region,
/// opal_cec_reboot2(MPIPL) as the trigger with the crashing CPU's PIR in the crash info header, and in the
/// capture kernel the CPU notes built from the firmware's HDAT register data.
/// </summary>
public sealed class OpalFadumpOps(OpalFirmware opal) : IFadumpOps
{
    public const int TagCpu = 0;
    public const int TagOpal = 1;
    public const int TagKernel = 2;
    public const int TagBootMem = 3;

    private OpalFadumpMem? _fdm;
    private OpalFadumpMem? _fdmActive;
    private ulong _cpuMetadata;
    private ulong _fdmActiveAddress;

    public FadumpPlatform Limits => FadumpPlatform.Opal;

    public string LogPrefix => "opal fadump: ";

    public bool ParamAreaSupported => false;

    /// <summary>PAGE_ALIGN(sizeof(struct opal_fadump_mem_struct)).</summary>
    public ulong MetadataSize => Ranges.AlignUp(OpalFadumpMem.Size, 0x10000);

    /// <summary>Set by the capture kernel's processing when the crashed kernel wrote its crashing CPU (opal-core's kernel_initiated).</summary>
    public bool KernelInitiated { get; private set; }

    /// <summary>The metadata of the dump being processed (null in a first kernel).</summary>
    public OpalFadumpMem? ActiveMetadata => _fdmActive;

    /// <summary>
    /// PIRs of the kernel's CPUs: logical CPU numbers follow the /cpus nodes in the order skiboot created them,
    /// ascending PIR (chip, core, thread).
    /// </summary>
    public static Dictionary<int, uint> PirMap(DeviceTreeNode dt)
    {
        var pirs = (dt.Find("/cpus")?.Children ?? [])
            .Select(n => n.Get("ibm,pir") is { Length: >= 4 } p ? DeviceTreeNode.Cells(p)[0] : (uint?)null)
            .OfType<uint>().Order().ToList();
        return pirs.Select((pir, cpu) => (pir, cpu)).ToDictionary(x => x.cpu, x => x.pir);
    }

    /// <summary>opal_fadump_dt_scan: /ibm,opal/dump, its compatible and fw-load-area; after an MPIPL boot the tags and the active metadata.</summary>
    public byte[]? DtScan(FadumpCore fadump)
    {
        var dump = fadump.Dump;
        var kernel = fadump.Kernel;
        var dn = fadump.Machine.DeviceTree.Find("/ibm,opal/dump");
        if (dn is null)
        {
            return null; // pr_debug("FADump support is missing!")
        }

        if (dn.Get("compatible") is not { } compat || !Encoding.ASCII.GetString(compat).Split('\0').Contains("ibm,opal-dump"))
        {
            kernel.EarlyPrintk("opal fadump: Support missing for this f/w version!");
            return null;
        }

        if (dn.Get("fw-load-area") is { } prop)
        {
            var c = DeviceTreeNode.Cells(prop);
            for (int i = 0; i + 3 < c.Length; i += 4)
            {
                ulong b = ((ulong)c[i] << 32) | c[i + 1];
                ulong end = b + (((ulong)c[i + 2] << 32) | c[i + 3]);
                if (end > FadumpPlatform.Opal.BootMemMinimum)
                {
                    kernel.EarlyPrintk(FormattableString.Invariant($"opal fadump: F/W load area: 0x{b:x}-0x{end:x}"));
                    kernel.EarlyPrintk("opal fadump: F/W version not supported!");
                    return null;
                }
            }
        }

        dump.Supported = true;
        if (dn.Get("mpipl-boot") is null)
        {
            return null;
        }

        long ret = opal.QueryTag(TagKernel, out ulong addr);
        if (ret != OpalFirmware.Success || addr == 0)
        {
            kernel.EarlyPrintk(FormattableString.Invariant($"opal fadump: Failed to get Kernel metadata ({ret})"));
            return null;
        }

        if (!fadump.Machine.Memory.IsRam(addr, OpalFadumpMem.Size))
        {
            kernel.EarlyPrintk(FormattableString.Invariant($"opal fadump: Failed to get Kernel metadata ({ret})"));
            return null;
        }

        var active = new byte[OpalFadumpMem.Size];
        fadump.Machine.Memory.Read(addr, active);
        var fdm = OpalFadumpMem.Decode(active, kernel.Arch.BigEndian);
        if (fdm.Version != OpalFadumpMem.Version1)
        {
            kernel.EarlyPrintk(FormattableString.Invariant($"opal fadump: Supported kernel metadata version: {OpalFadumpMem.Version1}, found: {fdm.Version}!"));
            kernel.EarlyPrintk("opal fadump: WARNING: Kernel metadata format mismatch identified! Core file maybe corrupted..");
        }

        if (fdm.RegisteredRegions == 0)
        {
            return null; // kernel regions not registered for MPIPL: nothing of the kernel's was preserved
        }

        opal.QueryTag(TagCpu, out _cpuMetadata);
        _fdmActive = fdm;
        _fdmActiveAddress = addr;
        return active;
    }

    /// <summary>opal_fadump_get_config: the boot regions from the crashed kernel's metadata.</summary>
    public bool GetConfig(FadumpCore fadump, byte[] activeDump)
    {
        var dump = fadump.Dump;
        var kernel = fadump.Kernel;
        kernel.EarlyPrintk("opal fadump: Firmware-assisted dump is active.");
        var fdm = _fdmActive!;

        // Linux trusts region_cnt (up to 65535 into a 128-entry array); the simulation stops at 128.
        int count = Math.Min((int)fdm.RegionCount, OpalFadumpMem.MaxRegions);
        var regions = new List<MemoryRange>();
        ulong bootSize = 0, holes = 0, lastEnd = 0;
        for (int i = 0; i < count; i++)
        {
            var (src, _, size) = fdm.Regions[i];
            regions.Add(new MemoryRange(src, size));
            bootSize += size;
            holes += src - Math.Min(src, lastEnd);
            lastEnd = src + size;
        }

        if (count == 0)
        {
            return false;
        }

        dump.ReserveStart = fdm.Regions[0].Dest;
        if (fdm.RegionCount > fdm.RegisteredRegions)
        {
            kernel.EarlyPrintk("opal fadump: Not all memory regions were saved!!!");
            kernel.EarlyPrintk("opal fadump:   Unsaved memory regions:");
            for (int i = fdm.RegisteredRegions; i < count; i++)
            {
                kernel.EarlyPrintk(FormattableString.Invariant($"opal fadump: \t[{i:D3}] base: 0x{fdm.Regions[i].Src:x}, size: 0x{fdm.Regions[i].Size:x}"));
            }

            kernel.EarlyPrintk("opal fadump: If the unsaved regions only contain pages that are filtered out (eg. free/user pages), the vmcore should still be usable.");
            kernel.EarlyPrintk("opal fadump: WARNING: If the unsaved regions contain kernel pages, the vmcore will be corrupted.");
        }

        dump.BootRegions = regions;
        dump.BootMemorySize = bootSize;
        dump.BootMemTop = bootSize + holes;
        dump.BootMemDestAddr = fdm.Regions[0].Dest;
        dump.HeaderAddress = fdm.HeaderAddress;
        dump.ReserveSize = bootSize + CrashInfoHeader.Size + MetadataSize;
        dump.KernelMetadata = _fdmActiveAddress; // the crashed kernel's, in the last page of the same reservation
        return true;
    }

    /// <summary>opal_fadump_setup_metadata: the last page(s) of the reservation, registered as TAG_KERNEL; boot_mem_top as TAG_BOOT_MEM.</summary>
    public int SetupMetadata(FadumpCore fadump)
    {
        var dump = fadump.Dump;
        dump.KernelMetadata = dump.ReserveStart + dump.ReserveSize - MetadataSize;
        fadump.Say(FormattableString.Invariant($"opal fadump: Kernel metadata addr: {dump.KernelMetadata:x}"));
        _fdm = new OpalFadumpMem();
        WriteFdm(fadump);
        int err = 0;
        if (opal.RegisterTag(TagKernel, dump.KernelMetadata) != OpalFirmware.Success)
        {
            fadump.Say("opal fadump: Failed to set kernel metadata tag!", 3);
            err = -(int)Sysfs.Errno.EPERM;
        }

        if (opal.RegisterTag(TagBootMem, dump.BootMemTop) != OpalFirmware.Success)
        {
            fadump.Say("opal fadump: Failed to set boot memory tag!", 3);
            err = -(int)Sysfs.Errno.EPERM;
        }

        return err;
    }

    private void WriteFdm(FadumpCore fadump) =>
        fadump.Machine.Memory.Write(fadump.Dump.KernelMetadata, _fdm!.Encode(fadump.Kernel.Arch.BigEndian));

    /// <summary>
    /// opal_fadump_init_mem_struct: one region per boot region, destinations contiguous from the reservation's
    /// start; fadumphdr_addr = the first destination + boot_memory_size (with the regions quirk, past the copies).
    /// </summary>
    public ulong InitMemStruct(FadumpCore fadump)
    {
        var dump = fadump.Dump;
        _fdm = new OpalFadumpMem();
        ulong addr = dump.ReserveStart;
        foreach (var r in dump.BootRegions)
        {
            _fdm.Regions[_fdm.RegionCount++] = (r.Start, addr, r.Size);
            addr += r.Size;
        }

        _fdm.HeaderAddress = _fdm.Regions[0].Dest + dump.BootMemorySize;
        dump.BootMemDestAddr = _fdm.Regions[0].Dest;
        WriteFdm(fadump);
        return _fdm.HeaderAddress;
    }

    /// <summary>opal_fadump_register: ADD_RANGE per region; the table limit is a warning; any other failure removes what was added.</summary>
    public int Register(FadumpCore fadump)
    {
        var fdm = _fdm!;
        var kernel = fadump.Kernel;
        long rc = OpalFirmware.Parameter;
        int err = -(int)Sysfs.Errno.EIO;
        fdm.RegisteredRegions = 0;
        for (int i = 0; i < fdm.RegionCount; i++)
        {
            rc = opal.MpiplUpdate(0, fdm.Regions[i].Src, fdm.Regions[i].Dest, fdm.Regions[i].Size);
            if (rc != OpalFirmware.Success)
            {
                break;
            }

            fdm.RegisteredRegions++;
        }

        switch (rc)
        {
            case OpalFirmware.Success:
                kernel.Printk("opal fadump: Registration is successful!");
                fadump.Dump.Registered = true;
                err = 0;
                break;
            case OpalFirmware.Resource:
                kernel.Printk(FormattableString.Invariant($"opal fadump: {fdm.RegionCount - fdm.RegisteredRegions} regions could not be registered for MPIPL as MAX limit is reached!"), 4);
                fadump.Dump.Registered = true;
                err = 0;
                break;
            case OpalFirmware.Parameter:
                kernel.Printk(FormattableString.Invariant($"opal fadump: Failed to register. Parameter Error({rc})."), 3);
                break;
            case OpalFirmware.Hardware:
                kernel.Printk("opal fadump: Support not available.", 3);
                fadump.Dump.Supported = false;
                fadump.Dump.Enabled = false;
                break;
            default:
                kernel.Printk(FormattableString.Invariant($"opal fadump: Failed to register. Unknown Error({rc})."), 3);
                break;
        }

        WriteFdm(fadump);
        if (err < 0 && fdm.RegisteredRegions > 0)
        {
            Unregister(fadump);
        }

        return err;
    }

    public int Unregister(FadumpCore fadump)
    {
        long rc = opal.MpiplUpdate(2, 0, 0, 0);
        if (rc != 0)
        {
            fadump.Kernel.Printk(FormattableString.Invariant($"opal fadump: Failed to un-register - unexpected Error({rc})."), 3);
            return -(int)Sysfs.Errno.EIO;
        }

        if (_fdm is not null)
        {
            _fdm.RegisteredRegions = 0;
            WriteFdm(fadump);
        }

        fadump.Dump.Registered = false;
        return 0;
    }

    public int Invalidate(FadumpCore fadump)
    {
        long rc = opal.MpiplUpdate(3, 0, 0, 0);
        if (rc != 0)
        {
            fadump.Kernel.Printk(FormattableString.Invariant($"opal fadump: Failed to invalidate - unexpected Error({rc})."), 3);
            return -(int)Sysfs.Errno.EIO;
        }

        fadump.Dump.DumpActive = false;
        _fdmActive = null;
        return 0;
    }

    /// <summary>opal_fadump_cleanup: TAG_KERNEL back to 0, so that a later MPIPL does not look like this kernel's dump.</summary>
    public void Cleanup(FadumpCore fadump)
    {
        long ret = opal.RegisterTag(TagKernel, 0);
        if (ret != OpalFirmware.Success)
        {
            fadump.Kernel.Printk(FormattableString.Invariant($"opal fadump: Could not reset ({unchecked((ulong)ret)}) kernel metadata tag!"), 4);
        }
    }

    /// <summary>opal_fadump_process: the crash info header's magic, then CPU notes from the firmware's register data.</summary>
    public (ulong Address, ulong Size)? Process(FadumpCore fadump)
    {
        var dump = fadump.Dump;
        if (_fdmActive is null || dump.HeaderAddress == 0)
        {
            fadump.FailDump("fadump: Failed to process the dump (no metadata)");
            return null;
        }

        var mem = fadump.Machine.Memory;
        bool be = fadump.Kernel.Arch.BigEndian;
        var magic = new byte[8];
        if (!mem.IsRam(dump.HeaderAddress, CrashInfoHeader.Size))
        {
            fadump.FailDump("opal fadump: Crash info header is not valid.");
            return null;
        }

        mem.Read(dump.HeaderAddress, magic);
        if (Endian.U64(magic, be) != CrashInfoHeader.MagicFadmpsig)
        {
            fadump.FailDump("opal fadump: Crash info header is not valid.");
            return null;
        }

        if (fadump.ReadCrashInfoHeader() is not { } fdh)
        {
            return null;
        }

        KernelInitiated = fdh.CrashingCpu != CrashInfoHeader.CpuUnknown;
        return BuildCpuNotes(fadump, fdh);
    }

    /// <summary>The firmware's CPU data (TAG_CPU), checked as is_opal_fadump_cpu_data_valid does; null when unusable.</summary>
    private static (ulong Dest, ulong Size, uint EntrySize)? CpuData(LinuxKernel kernel, ulong cpuMetadata)
    {
        if (cpuMetadata == 0 || MpiplFadumpView.Read(kernel.Machine.Memory, cpuMetadata, 1) is not { } md || md.Regions.Count == 0)
        {
            return null;
        }

        if (md.CpuDataVersion != OpalFirmware.CpuDataVersion)
        {
            kernel.Printk(FormattableString.Invariant($"opal fadump: Supported CPU state data version: {OpalFirmware.CpuDataVersion}, found: {md.CpuDataVersion}!"), 4);
            kernel.Printk("opal fadump: WARNING: F/W using newer CPU state data format!!", 4);
        }

        var (_, dest, size) = md.Regions[0];
        if (dest == 0 || md.CpuDataSize == 0 || md.CpuDataSize > size)
        {
            kernel.Printk("opal fadump: CPU state data is invalid. Ignoring!", 3);
            return null;
        }

        return (dest, size, md.CpuDataSize);
    }

    /// <summary>opal_fadump_build_cpu_notes: the crashing CPU from the header, every other active thread from the HDAT data.</summary>
    private (ulong Address, ulong Size)? BuildCpuNotes(FadumpCore fadump, CrashInfoHeader fdh)
    {
        var kernel = fadump.Kernel;
        var arch = kernel.Arch;
        var mem = fadump.Machine.Memory;
        var cpuOf = PirMap(fadump.Machine.DeviceTree).ToDictionary(kv => kv.Value, kv => kv.Key);
        var data = CpuData(kernel, _cpuMetadata);
        var notes = new List<ElfNote>();
        int numCpus = 1;
        if (data is { } d)
        {
            var threads = HdatCpuData.Parse(mem, d.Dest, d.Size, d.EntrySize, 8192);
            numCpus = threads?.Count ?? 1;
            foreach (var t in threads ?? [])
            {
                // Linux leaves pr_pid 0; the simulation numbers notes by logical CPU + 1 (see RtasFadumpOps).
                int pid = cpuOf.TryGetValue(t.Pir, out int c) ? c + 1 : (int)t.Pir + 1;
                if (fdh.CrashingCpu == t.Pir)
                {
                    notes.Add(new PrStatus(pid, 0, [.. fdh.Regs]).ToNote(arch.Machine));
                    continue;
                }

                if (t.CoreState == HdatCpuData.CoreInactive)
                {
                    continue;
                }

                notes.Add(new PrStatus(pid, 0, t.Regs).ToNote(arch.Machine));
            }
        }

        if (notes.Count == 0)
        {
            if (fdh.CrashingCpu == CrashInfoHeader.CpuUnknown)
            {
                fadump.FailDump("fadump: Failed to build the CPU notes: no register data", 3);
                return null;
            }

            kernel.Printk("opal fadump: WARNING: appending only crashing CPU's register data", 4);
            notes.Add(new PrStatus(cpuOf.TryGetValue(fdh.CrashingCpu, out int cc) ? cc + 1 : 1, 0, [.. fdh.Regs]).ToNote(arch.Machine));
        }

        var buf = ElfNote.EncodeAll(notes, arch.BigEndian);
        ulong size = Ranges.AlignUp((ulong)Math.Max(buf.Length, numCpus * 536), (ulong)arch.PageSize);
        var full = new byte[size];
        buf.CopyTo(full, 0);
        mem.Write(FadumpCore.CpuNotesPhys, full);
        return (FadumpCore.CpuNotesPhys, size);
    }

    /// <summary>opal_fadump_region_show (with its quirk: "Dumped" keeps the last registered size for regions past the registered ones).</summary>
    public string RegionShow(FadumpCore fadump)
    {
        var dump = fadump.Dump;
        var fdm = dump.DumpActive ? _fdmActive : _fdm;
        if (fdm is null)
        {
            return string.Empty;
        }

        var sb = new StringBuilder();
        ulong dumped = 0;
        for (int i = 0; i < Math.Min((int)fdm.RegionCount, OpalFadumpMem.MaxRegions); i++)
        {
            if (dump.DumpActive && i < fdm.RegisteredRegions)
            {
                dumped = fdm.Regions[i].Size;
            }

            sb.Append(FormattableString.Invariant($"DUMP: Src: {CFormat.Hex016(fdm.Regions[i].Src)}, Dest: {CFormat.Hex016(fdm.Regions[i].Dest)}, "));
            sb.Append(FormattableString.Invariant($"Size: {CFormat.Hex(fdm.Regions[i].Size)}, Dumped: {CFormat.Hex(dumped)} bytes\n"));
        }

        if (dump.DumpActive)
        {
            sb.Append(FormattableString.Invariant($"\nMemory above {CFormat.Hex016(dump.ReserveStart)} is reserved for saving crash dump\n"));
        }

        return sb.ToString();
    }

    /// <summary>opal_fadump_trigger: the crashing CPU's PIR into the header (no logical CPU number in the firmware's data), then reboot2(MPIPL).</summary>
    public bool Trigger(FadumpCore fadump, CrashInfoHeader header, string message)
    {
        int cpu = (int)header.CrashingCpu;
        header.CrashingCpu = PirMap(fadump.Machine.DeviceTree).TryGetValue(cpu, out uint pir) ? pir : (uint)cpu;
        // fdh->crashing_cpu = mfspr(SPRN_PIR): only that field of the header in memory (was: the whole header
        // re-encoded, which rewrote the magic and everything else the kernel does not touch at this point).
        var field = new byte[4];
        Endian.Write(field, header.CrashingCpu, fadump.Kernel.Arch.BigEndian);
        fadump.Machine.Memory.Write(fadump.Dump.HeaderAddress + 12, field);
        int resets = fadump.Machine.Resets;
        // crash_fadump's string as is (the "OS panic: " prefix is rtas_os_term's).
        string msg = message.StartsWith("OS panic: ", StringComparison.Ordinal) ? message[10..] : message;
        long rc = opal.CecReboot2(OpalFirmware.RebootMpipl, msg, cpu);
        if (rc == OpalFirmware.Unsupported)
        {
            fadump.Kernel.Printk(FormattableString.Invariant($"opal fadump: Reboot type {OpalFirmware.RebootMpipl} not supported."), 0);
        }
        else if (rc == OpalFirmware.Hardware)
        {
            fadump.Kernel.Printk("opal fadump: No backend support for MPIPL!", 0);
        }

        return fadump.Machine.Resets > resets;
    }
}
