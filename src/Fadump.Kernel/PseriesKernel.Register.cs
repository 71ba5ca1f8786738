using Fadump.Firmware.Rtas;
using Fadump.Kernel.Fadump;
using Fadump.Kernel.Structures;
using Fadump.Kernel.Sysfs;
using Fadump.Machine;
using Fadump.Kernel.Arch;
using P = Fadump.Kernel.Arch.Ppc64.Ppc64Arch;

namespace Fadump.Kernel;

public sealed partial class PseriesKernel
{
    /// <summary>CMA areas are aligned to the pageblock (16 MiB with 64 KiB pages).</summary>
    public const ulong CmaMinAlign = 16UL << 20;

    /// <summary>The crash info header as the first kernel keeps it in the reserved area.</summary>
    public CrashInfoHeader? Header { get; private set; }

    private void InitCrashInfoHeader()
    {
        Header = new CrashInfoHeader
        {
            VmcoreInfoAddress = Relocate(VmcoreInfoNotePhys),
            VmcoreInfoSize = KernelVmcoreInfo.NoteSize,
        };

        // cpu_mask = possible CPUs at registration: a firmware-terminated LPAR still yields every CPU.
        foreach (var c in _machine.Cpus)
        {
            Header.SetCpu(c.Id);
        }

        WriteHeader();
    }

    private void WriteHeader() => _machine.Memory.Write(Dump.HeaderAddress, Header!.Encode(_arch.BigEndian));

    /// <summary>fadump_relocate: an address in boot region i moves to where the firmware copies it.</summary>
    public ulong Relocate(ulong pa)
    {
        ulong dest = Dump.BootMemDestAddr, hole = 0, last = 0;
        foreach (var r in Dump.BootRegions)
        {
            hole += r.Start - last;
            if (r.Contains(pa))
            {
                return pa + dest - hole;
            }

            last = r.End;
        }

        return pa;
    }

    private void CmaInit()
    {
        if (Dump.NoCma)
        {
            return;
        }

        ulong start = Align(Dump.ReserveStart, CmaMinAlign);
        ulong end = (Dump.ReserveStart + Dump.BootMemorySize) & ~(CmaMinAlign - 1);
        if (end <= start)
        {
            Printk("fadump: Too less memory to give to CMA");
            return;
        }

        Dump.Cma = MemoryRange.FromBounds(start, end);
        _image?.SetMovableOnly(Dump.Cma.Value);
        Printk(FormattableString.Invariant($"fadump: Initialized [0x{start:x}, {(end - start) >> 20}MB] cma area from [0x{Dump.ReserveStart:x}, {Dump.BootMemorySize >> 20}MB] for firmware-assisted dump"));
    }

    /// <summary>rtas_fadump_init_mem_struct: CPU, HPTE, one REAL_MODE_REGION per boot region, the param area.</summary>
    private FadumpStructure BuildStructure()
    {
        var s = new FadumpStructure();
        ulong addr = Dump.ReserveStart;
        s.Sections.Add(new FadumpSection { Type = FadumpStructure.CpuStateData, SourceLength = Dump.CpuStateDataSize, DestinationAddress = addr });
        addr += Dump.CpuStateDataSize;
        s.Sections.Add(new FadumpSection { Type = FadumpStructure.HpteRegion, SourceLength = Dump.HpteRegionSize, DestinationAddress = addr });
        ulong dest = Dump.BootMemDestAddr;
        foreach (var r in Dump.BootRegions)
        {
            s.Sections.Add(new FadumpSection { Type = FadumpStructure.RealModeRegion, SourceAddress = r.Start, SourceLength = r.Size, DestinationAddress = dest });
            dest += r.Size;
        }

        if (Dump.ParamArea != 0)
        {
            s.Sections.Add(new FadumpSection { Type = FadumpStructure.ParamArea, SourceAddress = Dump.ParamArea, SourceLength = ParamAreaSize, DestinationAddress = Dump.ParamArea });
        }

        return s;
    }

    public const ulong ParamAreaSize = 2048;

    /// <summary>register_fadump / rtas_fadump_register, with the busy retries. Returns 0 or a negative errno.</summary>
    private int RegisterFadump()
    {
        if (!Dump.Enabled || Dump.ReserveSize == 0)
        {
            return -(int)Errno.ENODEV;
        }

        Dump.Structure = BuildStructure();
        var bytes = Dump.Structure.Encode();
        _machine.Memory.Write(P.FadumpRegistrationOffset, bytes);
        int rc = CallWithRetry(RtasFirmware.CmdRegister, P.FadumpRegistrationOffset, (ulong)bytes.Length);
        switch (rc)
        {
            case RtasFirmware.RcSuccess:
                Printk("rtas fadump: Registration is successful!");
                Dump.Registered = true;
                return 0;
            case RtasFirmware.RcParameterError:
                if (!IsReservedAreaContiguous())
                {
                    Printk("rtas fadump: Can't have holes in reserved memory area.", 3);
                }

                Printk(FormattableString.Invariant($"rtas fadump: Failed to register. Parameter Error({rc})."), 3);
                return -(int)Errno.EINVAL;
            case RtasFirmware.RcAlreadyRegistered:
                Printk("rtas fadump: Already registered!", 3);
                Dump.Registered = true;
                return -(int)Errno.EEXIST;
            case RtasFirmware.RcHardwareError:
                Printk(FormattableString.Invariant($"rtas fadump: Failed to register. Hardware Error({rc})."), 3);
                return -(int)Errno.EIO;
            default:
                Printk(FormattableString.Invariant($"rtas fadump: Failed to register. Unknown Error({rc})."), 3);
                return -(int)Errno.EIO;
        }
    }

    private int UnregisterFadump()
    {
        var bytes = Dump.Structure?.Encode() ?? new byte[FadumpStructure.FullSize];
        int rc = CallWithRetry(RtasFirmware.CmdUnregister, P.FadumpRegistrationOffset, (ulong)bytes.Length);
        if (rc != 0)
        {
            Printk(FormattableString.Invariant($"rtas fadump: Failed to un-register - unexpected error({rc})."), 3);
            return -(int)Errno.EIO;
        }

        Dump.Registered = false;
        return 0;
    }

    /// <summary>RTAS busy handling: −2 retries after 1 ms, 9900..9905 after 10^(rc−9900) ms (rtas_busy_delay).</summary>
    private int CallWithRetry(int command, ulong address, ulong size)
    {
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            int rc = _rtas.ConfigureKernelDump(command, address, size);
            if (rc == RtasFirmware.RcBusy)
            {
                _machine.Clock.Advance(TimeSpan.FromMilliseconds(1));
                continue;
            }

            if (rc is >= 9900 and <= 9905)
            {
                _machine.Clock.Advance(TimeSpan.FromMilliseconds(Math.Pow(10, rc - 9900)));
                continue;
            }

            return rc;
        }

        return RtasFirmware.RcHardwareError;
    }

    private bool IsReservedAreaContiguous() =>
        _machine.Memory.IsRam(Dump.ReserveStart, Dump.ReserveSize);
}
