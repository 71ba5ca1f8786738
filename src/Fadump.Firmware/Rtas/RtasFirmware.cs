using Fadump.Machine;

namespace Fadump.Firmware.Rtas;

/// <summary>Options of the simulated PHYP partition firmware.</summary>
public sealed record RtasOptions
{
    /// <summary>Whether /rtas has ibm,extended-os-term (without it ibm,os-term returns and nothing is dumped).</summary>
    public bool ExtendedOsTerm { get; init; } = true;

    /// <summary>Whether the firmware offers FADump at all (/rtas/ibm,configure-kernel-dump).</summary>
    public bool FadumpSupported { get; init; } = true;

    /// <summary>HPTE region size reported by ibm,configure-kernel-dump-sizes (QEMU: 0; PHYP: a few pages).</summary>
    public ulong HpteRegionSize { get; init; } = 0x1000;

    /// <summary>maxcpus: the register save area is sized for this many CPUs. More than the machine has reproduces QEMU's incomplete-section bug.</summary>
    public int? MaxCpus { get; init; }

    /// <summary>Firmware-owned memory, published as the root's reserved-ranges property.</summary>
    public IReadOnlyList<MemoryRange> ReservedRanges { get; init; } = [];

    /// <summary>Real mode area size: the registration structure must lie below it.</summary>
    public ulong RealModeAreaSize { get; init; } = 1UL << 30;

    /// <summary>
    /// Copy faults at the dump, by section index in the registered structure: the firmware sets the section's
    /// error flags, stops after BytesDumped bytes (when given) and flags the whole dump with DUMP_ERROR.
    /// </summary>
    public IReadOnlyDictionary<int, SectionFault> SectionFaults { get; init; } = new Dictionary<int, SectionFault>();

    /// <summary>CPUs the firmware could not stop and save: left out of the register save area (the section still reports its full length).</summary>
    public IReadOnlySet<int> UnsavedCpus { get; init; } = new HashSet<int>();
}

/// <summary>A firmware copy error on one section: the error flags it reports, and how far the copy got (null: the whole length).</summary>
public sealed record SectionFault(ushort ErrorFlags, ulong? BytesDumped = null);

/// <summary>
/// PHYP's RTAS as the kernel sees it for FADump: ibm,configure-kernel-dump (register, unregister,
/// invalidate), ibm,configure-kernel-dump-sizes, ibm,os-term with ibm,extended-os-term, and the dump
/// at termination: register save area, boot memory copies, bytes_dumped and error flags, a reset that
/// keeps RAM, and a device tree carrying /rtas/ibm,kernel-dump. State lives in the firmware and
/// survives the reset.
/// </summary>
public class RtasFirmware
{
    public const int CmdRegister = 1;
    public const int CmdUnregister = 2;
    public const int CmdInvalidate = 3;

    public const int RcSuccess = 0;
    public const int RcHardwareError = -1;
    public const int RcBusy = -2;
    public const int RcParameterError = -3;
    public const int RcAlreadyRegistered = -9;
    public const int RcDumpActive = -10;

    /// <summary>RTAS token of ibm,configure-kernel-dump in the device tree (an arbitrary but stable number).</summary>
    public const uint ConfigureKernelDumpToken = 0x2010;

    private readonly SimulatedMachine _machine;
    private FadumpStructure? _registered;
    private FadumpStructure? _dump;

    public RtasFirmware(SimulatedMachine machine, RtasOptions? options = null)
    {
        _machine = machine;
        Options = options ?? new RtasOptions();
    }

    public RtasOptions Options { get; }

    public bool IsRegistered => _registered is not null;

    /// <summary>True after a dump was taken and until the kernel invalidates it.</summary>
    public bool IsDumpActive => _dump is not null;

    /// <summary>Return codes to give before handling the next calls (tests: busy and extended-delay retries).</summary>
    public Queue<int> InjectedReturnCodes { get; } = new();

    /// <summary>The buffer of the last ibm,os-term call ("OS panic: ...").</summary>
    public string? LastOsTermMessage { get; private set; }

    /// <summary>Count of ibm,configure-kernel-dump calls, busy answers included.</summary>
    public int Calls { get; private set; }

    /// <summary>Raised at the termination, before the firmware copies anything: memory as the crashed OS left it.</summary>
    public event Action? DumpStarting;

    /// <summary>The CPU state section's size as ibm,configure-kernel-dump-sizes reports it.</summary>
    public virtual ulong CpuStateSize => RegisterSaveArea.SizeFor(Options.MaxCpus ?? _machine.Cpus.Count);

    /// <summary>Builds the device tree the firmware hands to the OS at IPL.</summary>
    public DeviceTreeNode BuildDeviceTree()
    {
        var root = new DeviceTreeNode("/");
        root.SetString("compatible", "IBM,pSeries");
        root.SetString("model", Model);
        if (Options.ReservedRanges.Count > 0)
        {
            var cells = new List<uint>();
            foreach (var r in Options.ReservedRanges)
            {
                cells.AddRange([(uint)(r.Start >> 32), (uint)r.Start, (uint)(r.Size >> 32), (uint)r.Size]);
            }

            root.SetCells("reserved-ranges", [.. cells]);
        }

        foreach (var r in _machine.Memory.Ram)
        {
            var mem = root.GetOrAdd(FormattableString.Invariant($"memory@{r.Start:x}"));
            mem.SetString("device_type", "memory");
            mem.SetCells("reg", (uint)(r.Start >> 32), (uint)r.Start, (uint)(r.Size >> 32), (uint)r.Size);
        }

        var cpusNode = root.GetOrAdd("cpus");
        foreach (var c in _machine.Cpus)
        {
            var n = cpusNode.GetOrAdd(FormattableString.Invariant($"{CpuNodeName}@{c.Id * 8:x}"));
            n.SetString("device_type", "cpu");
            n.SetCells("reg", (uint)(c.Id * 8));
        }

        var rtas = root.GetOrAdd("rtas");
        rtas.SetCells("ibm,os-term", 0x2001);
        if (Options.ExtendedOsTerm)
        {
            rtas.Set("ibm,extended-os-term", []);
        }

        if (Options.FadumpSupported)
        {
            rtas.SetCells("ibm,configure-kernel-dump", ConfigureKernelDumpToken);
            rtas.SetCells("ibm,configure-kernel-dump-version", 1, 1);
            ulong cpu = CpuStateSize, hpte = Options.HpteRegionSize;
            rtas.SetCells("ibm,configure-kernel-dump-sizes",
                1, (uint)(cpu >> 32), (uint)cpu,
                2, (uint)(hpte >> 32), (uint)hpte);
            if (_dump is not null)
            {
                AddDumpProperties(rtas, _dump.Encode());
            }
        }

        return root;
    }

    /// <summary>ibm,configure-kernel-dump(command, structure address, structure size).</summary>
    public int ConfigureKernelDump(int command, ulong address, ulong size)
    {
        Calls++;
        if (InjectedReturnCodes.TryDequeue(out int injected))
        {
            return injected;
        }

        if (!Options.FadumpSupported)
        {
            return RcHardwareError;
        }

        return Command(command, address, size);
    }

    /// <summary>The machine's model property (PAPR: "IBM,MMMM-TTT").</summary>
    protected virtual string Model => "IBM,9080-HEX";

    /// <summary>The name of the CPU nodes under /cpus.</summary>
    protected virtual string CpuNodeName => "PowerPC,POWER10";

    /// <summary>What /rtas says while a dump is active: the firmware's copy of the registered structure.</summary>
    protected virtual void AddDumpProperties(DeviceTreeNode rtas, byte[] structure) => rtas.Set("ibm,kernel-dump", structure);

    /// <summary>The commands of ibm,configure-kernel-dump as this firmware numbers them (PAPR: 1 register, 2 unregister, 3 invalidate).</summary>
    protected virtual int Command(int command, ulong address, ulong size)
    {
        switch (command)
        {
            case CmdRegister:
                return RegisterStructure(address, size);

            case CmdUnregister:
                if (_dump is not null)
                {
                    return RcDumpActive;
                }

                _registered = null;
                return RcSuccess;

            case CmdInvalidate:
                // QEMU quirk: the parameter error for "no dump active" is overwritten by success.
                InvalidateDump();
                return RcSuccess;

            default:
                return RcParameterError;
        }
    }

    /// <summary>Register: the structure at <paramref name="address"/> is checked and kept until the dump or a reboot.</summary>
    protected int RegisterStructure(ulong address, ulong size)
    {
        if (_registered is not null)
        {
            return RcAlreadyRegistered;
        }

        if (_dump is not null)
        {
            return RcDumpActive;
        }

        var s = ReadStructure(address, size);
        if (s is null || !Validate(s))
        {
            return RcParameterError;
        }

        _registered = s;
        return RcSuccess;
    }

    /// <summary>Forgets the dump taken at the last crash, and its properties in /rtas.</summary>
    protected void InvalidateDump()
    {
        _dump = null;
        var rtas = _machine.DeviceTree.Find("/rtas");
        rtas?.Remove("ibm,kernel-dump");
        rtas?.Remove("ibm,dump-kernel");
    }

    /// <summary>
    /// ibm,os-term: with ibm,extended-os-term and a registration, take the dump and reset; returns
    /// true when the machine was reset (the caller boots the next kernel). Without
    /// ibm,extended-os-term it is a no-op, as on PHYP.
    /// </summary>
    public bool OsTerm(string message)
    {
        LastOsTermMessage = message;
        if (!Options.ExtendedOsTerm || _registered is null)
        {
            return false;
        }

        TakeDumpAndReset();
        return true;
    }

    /// <summary>The LPAR terminated from the HMC (no OS trigger): dump if registered, then reset in any case.</summary>
    public void TerminateLpar()
    {
        if (_registered is not null)
        {
            TakeDumpAndReset();
        }
        else
        {
            _machine.Clock.Advance(TimeSpan.FromSeconds(_machine.Cost.ResetAndIplSeconds));
            _machine.Reset(BuildDeviceTree());
        }
    }

    /// <summary>A plain reboot (no dump): RAM is kept, registration is lost.</summary>
    public void Reboot()
    {
        _registered = null;
        _machine.Reset(BuildDeviceTree());
    }

    private FadumpStructure? ReadStructure(ulong address, ulong size)
    {
        if (size < FadumpStructure.HeaderSize || size > FadumpStructure.FullSize || address == 0
            || address + size > Options.RealModeAreaSize || !_machine.Memory.IsRam(address, size))
        {
            return null;
        }

        var b = new byte[size];
        _machine.Memory.Read(address, b);
        var s = FadumpStructure.Decode(b);
        return s is null || s.Version != 1 || (ulong)s.Size != size ? null : s;
    }

    private bool Validate(FadumpStructure s)
    {
        foreach (var sec in s.Sections)
        {
            bool destOk = sec.SourceLength == 0 || _machine.Memory.IsRam(sec.DestinationAddress, sec.SourceLength);
            bool srcOk = sec.Type is not (FadumpStructure.RealModeRegion or FadumpStructure.ParamArea)
                || _machine.Memory.IsRam(sec.SourceAddress, sec.SourceLength);
            if (!destOk || !srcOk)
            {
                return false;
            }
        }

        return true;
    }

    private void TakeDumpAndReset()
    {
        DumpStarting?.Invoke();
        var s = _registered!;
        var mem = _machine.Memory;
        ulong copied = 0;
        for (int index = 0; index < s.Sections.Count; index++)
        {
            var sec = s.Sections[index];
            var fault = Options.SectionFaults.GetValueOrDefault(index);
            ulong length = Math.Min(sec.SourceLength, fault?.BytesDumped ?? sec.SourceLength);
            sec.ErrorFlags = 0;
            sec.BytesDumped = 0;
            switch (sec.Type)
            {
                case FadumpStructure.CpuStateData:
                    var area = RegisterSaveArea.Build([.. _machine.Cpus.Where(c => !Options.UnsavedCpus.Contains(c.Id))]);
                    if (!mem.IsRam(sec.DestinationAddress, sec.SourceLength))
                    {
                        sec.ErrorFlags = FadumpStructure.ErrInvalidDestAddr;
                        break;
                    }

                    int n = (int)Math.Min((ulong)area.Length, length);
                    mem.Write(sec.DestinationAddress, area.AsSpan(0, n));
                    // CPUs left out still count as saved space: the section reports what the area was sized for.
                    sec.BytesDumped = Options.UnsavedCpus.Count > 0 ? length : (ulong)n;
                    break;

                case FadumpStructure.HpteRegion:
                    sec.BytesDumped = length;
                    break;

                case FadumpStructure.RealModeRegion:
                case FadumpStructure.ParamArea:
                    if (!mem.IsRam(sec.SourceAddress, sec.SourceLength))
                    {
                        sec.ErrorFlags = FadumpStructure.ErrInvalidSourceAddr;
                        break;
                    }

                    if (!mem.IsRam(sec.DestinationAddress, sec.SourceLength))
                    {
                        sec.ErrorFlags = FadumpStructure.ErrInvalidDestAddr;
                        break;
                    }

                    if (length > 0)
                    {
                        FirmwareCopy.Copy(mem, sec.SourceAddress, sec.DestinationAddress, length);
                    }

                    sec.BytesDumped = length;
                    copied += length;
                    break;

                default:
                    sec.ErrorFlags = FadumpStructure.ErrInvalidDataType;
                    break;
            }

            if (fault is not null)
            {
                sec.ErrorFlags |= fault.ErrorFlags;
            }
        }

        s.StatusFlags = FadumpStructure.StatusDumpPerformed | FadumpStructure.StatusDumpTriggered;
        if (s.Sections.Any(x => x.ErrorFlags != 0))
        {
            s.StatusFlags |= FadumpStructure.StatusError;
        }
        _dump = s;
        _registered = null;
        _machine.Clock.Advance(_machine.Cost.FirmwareCopy(copied));
        _machine.Clock.Advance(TimeSpan.FromSeconds(_machine.Cost.ResetAndIplSeconds));
        _machine.Reset(BuildDeviceTree());
    }
}
