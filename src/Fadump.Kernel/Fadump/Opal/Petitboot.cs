using Fadump.Firmware.Opal;
using Fadump.Kernel.Sysfs;
using Fadump.Machine;

namespace Fadump.Kernel.Fadump.Opal;

/// <summary>
/// The dump side of a kernel built with CONFIG_PRESERVE_FA_DUMP instead of CONFIG_FA_DUMP (petitboot's): after an
/// MPIPL boot with the crashed kernel's regions registered it keeps everything above boot_mem_top reserved and
/// runs in boot memory only, so that the kernel it kexecs can process the dump (opal_fadump_dt_scan and
/// fadump_reserve_mem of that configuration). No sysfs files, no registration, no dump of its own.
/// </summary>
public sealed class PreserveFaDump(LinuxKernel kernel, OpalFirmware opal) : ICrashDumpMechanism
{
    private readonly List<MemoryRange> _preserved = [];

    /// <summary>An MPIPL dump is being preserved for the next kernel.</summary>
    public bool DumpActive { get; private set; }

    public ulong BootMemTop { get; private set; }

    /// <summary>The ranges kept reserved for the next kernel.</summary>
    public IReadOnlyList<MemoryRange> Preserved => _preserved;

    public bool HoldsDumpMemory => DumpActive;

    /// <summary>A preserving kernel is confined to boot memory exactly as a capture kernel is.</summary>
    public bool IsCaptureKernel => DumpActive;

    public ulong? BootMemoryLimit => DumpActive ? BootMemTop : null;

    public IEnumerable<MemoryRange> ReservedAreas => [];

    public bool Armed => false;

    public bool Present => false;

    public IEnumerable<string> Messages => kernel.Log.Lines
        .Select(Structures.KernelLogLines.WithoutTimestamp)
        .Where(l => l.StartsWith("fadump: ", StringComparison.Ordinal) || l.StartsWith("opal fadump: ", StringComparison.Ordinal));

    public CrashDumpStatus Status => new()
    {
        Supported = kernel.Machine.DeviceTree.Find("/ibm,opal/dump") is not null,
        Armed = false,
        ReservedBytes = 0,
        FirmwareCopyBytes = 0,
        DumpActive = false,
        CaptureKernelMemory = DumpActive ? BootMemTop : 0,
        Released = false,
        ReleasedBytes = 0,
        CaptureLog = [],
        FirstKernelRegions = [],
        CaptureKernelRegions = [],
    };

    public void EarlyReserve()
    {
        var dn = kernel.Machine.DeviceTree.Find("/ibm,opal/dump");
        if (dn?.Get("mpipl-boot") is null)
        {
            return;
        }

        if (opal.QueryTag(OpalFadumpOps.TagKernel, out ulong addr) != OpalFirmware.Success || addr == 0
            || !kernel.Machine.Memory.IsRam(addr, OpalFadumpMem.Size))
        {
            return; // pr_debug("Could not get Kernel metadata")
        }

        if (OpalFadumpMem.Read(kernel.Machine.Memory, addr, kernel.Arch.BigEndian).RegisteredRegions == 0)
        {
            return;
        }

        long ret = opal.QueryTag(OpalFadumpOps.TagBootMem, out ulong top);
        if (ret != OpalFirmware.Success || top == 0)
        {
            kernel.EarlyPrintk(FormattableString.Invariant($"opal fadump: Failed to get boot memory tag ({ret})"));
            return;
        }

        BootMemTop = top;
        kernel.EarlyPrintk("opal fadump: Firmware-assisted dump is active.");
        DumpActive = true;
        kernel.EarlyPrintk("fadump: Preserving crash data for processing in next boot.");
        foreach (var r in kernel.Memory)
        {
            ulong start = Math.Max(r.Start, top);
            if (start < r.End)
            {
                var keep = MemoryRange.FromBounds(start, r.End);
                kernel.Memblock.Reserve(keep);
                _preserved.Add(keep);
                kernel.EarlyPrintk(FormattableString.Invariant($"fadump: Reserving {(r.End - start) >> 20}MB of memory at {CFormat.Hex016(start)} for preserving crash data"));
            }
        }
    }

    public void ClearStaticData()
    {
    }

    public void LateInit()
    {
    }

    public void AddFiles(KernelFileSystem files)
    {
    }

    public bool OnPanic(int crashingCpu, string message) => false;

    public void Shutdown()
    {
    }
}

/// <summary>A kernel built without any firmware-assisted dump support (a petitboot without CONFIG_PRESERVE_FA_DUMP): it takes all memory as its own.</summary>
public sealed class NoFaDump : ICrashDumpMechanism
{
    public bool HoldsDumpMemory => false;

    public bool IsCaptureKernel => false;

    public ulong? BootMemoryLimit => null;

    public IEnumerable<MemoryRange> ReservedAreas => [];

    public bool Armed => false;

    public bool Present => false;

    public IEnumerable<string> Messages => [];

    public CrashDumpStatus Status => new()
    {
        Supported = false,
        Armed = false,
        ReservedBytes = 0,
        FirmwareCopyBytes = 0,
        DumpActive = false,
        CaptureKernelMemory = 0,
        Released = false,
        ReleasedBytes = 0,
        CaptureLog = [],
        FirstKernelRegions = [],
        CaptureKernelRegions = [],
    };

    public void EarlyReserve()
    {
    }

    public void ClearStaticData()
    {
    }

    public void LateInit()
    {
    }

    public void AddFiles(KernelFileSystem files)
    {
    }

    public bool OnPanic(int crashingCpu, string message) => false;

    public void Shutdown()
    {
    }
}
