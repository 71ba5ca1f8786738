using Fadump.Machine;

namespace Fadump.Firmware.Rtas;

/// <summary>
/// The PHYP of a Power6 LPAR in 2008, as hypervisor-assisted dump (Linux 2.6.25 – 3.x phyp_dump.c) used it:
/// the same ibm,configure-kernel-dump structure as FADump's (a 40-byte header and 40-byte sections), but the
/// commands of that interface: 1 registers, 2 invalidates the dump taken at the last crash. While a dump is
/// active, /rtas carries ibm,dump-kernel (which the early boot scan looks for) beside ibm,kernel-dump (the
/// firmware's copy of the registered header, which the late init reads).
/// </summary>
public sealed class Power6Firmware(SimulatedMachine machine, RtasOptions? options = null) : RtasFirmware(machine, options)
{
    /// <summary>
    /// (quirk) The phyp dump kernel calls command 2 "invalidate"; PAPR's FADump interface later numbered 2 as
    /// unregister and 3 as invalidate. This firmware answers the old numbering.
    /// </summary>
    public const int CmdInvalidatePhyp = 2;

    /// <summary>A Power 570 (9117-MMA), the POWER6 machine of the time.</summary>
    protected override string Model => "IBM,9117-MMA";

    protected override string CpuNodeName => "PowerPC,POWER6";

    /// <summary>
    /// PHYP sizes the CPU state area in whole 64 KiB blocks (the seed's example: 0x10000 bytes), so that the copy
    /// of the low memory after it stays page-aligned.
    /// </summary>
    public override ulong CpuStateSize => (base.CpuStateSize + 0xffff) & ~0xffffUL;

    protected override void AddDumpProperties(DeviceTreeNode rtas, byte[] structure)
    {
        rtas.Set("ibm,dump-kernel", []);
        rtas.Set("ibm,kernel-dump", structure);
    }

    protected override int Command(int command, ulong address, ulong size)
    {
        switch (command)
        {
            case CmdRegister:
                return RegisterStructure(address, size);

            case CmdInvalidatePhyp:
                // Invalidating when no dump is active has nothing to do: it succeeds.
                InvalidateDump();
                return RcSuccess;

            default:
                return RcParameterError;
        }
    }
}
