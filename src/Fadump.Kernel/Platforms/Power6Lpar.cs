using Fadump.Firmware.Rtas;
using Fadump.Kernel.Arch;
using Fadump.Kernel.Arch.Ppc64;
using Fadump.Kernel.Workload;

namespace Fadump.Kernel.Platforms;

/// <summary>
/// A Power6 LPAR of 2008 with hypervisor-assisted dump (seed 000): PHYP's <see cref="Power6Firmware"/>, a
/// big-endian ppc64 Linux 2.6.32 (Debian 6.0's 2.6.32-5-powerpc64, with the plain-text __log_buf) and
/// <see cref="Phyp.PhypDump"/> as its dump mechanism. The lifecycle is the pSeries one: boot and register,
/// crash (ibm,os-term), the firmware's copy of the low 256 MiB, the second kernel in the boot region holding
/// the rest, release range by range, and registration again once everything is back.
/// </summary>
public sealed class Power6Lpar : PseriesLpar
{
    public const string Release = "2.6.32-5-powerpc64";

    public const string DefaultCommandLine = "root=/dev/sda2 phyp_dump=1";

    public Power6Lpar(LparSpec spec)
        : base(Checked(spec), static (m, s) => new Power6Firmware(m, s.Firmware))
    {
    }

    /// <summary>The LPAR's PHYP.</summary>
    public Power6Firmware Power6Firmware => (Power6Firmware)Firmware;

    /// <summary>The running kernel's phyp dump.</summary>
    public Phyp.PhypDump PhypDump => (Phyp.PhypDump)Kernel!.Mechanism;

    protected override KernelArch KernelArch => Ppc64Arch.BigEndianArch;

    protected override KernelOptions KernelOptions() => new()
    {
        CommandLine = Spec.CommandLine,
        Release = Release,
        Version = "#1 SMP Mon Mar 7 23:37:21 UTC 2016",
        BuildId = string.Empty,
        NodeName = "p6lpar1",
        Workload = WorkloadModel.ByName(Spec.Workload, Spec.Seed),
        Profile = KernelProfile.Linux2632,
    };

    protected override ICrashDumpMechanism CreateMechanism(LinuxKernel kernel) => new Phyp.PhypDump(kernel, Firmware);

    /// <summary>Checks the shape as <see cref="LparSpec.Validate"/> does, and that the 2.6 kernel's reservation fits: null when the LPAR can be built.</summary>
    public static string? Validate(LparSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Validate() is { } error)
        {
            return error;
        }

        ulong cpu = RegisterSaveArea.SizeFor(spec.Firmware.MaxCpus ?? spec.Cpus);
        ulong bootvar = Phyp.PhypDump.ReserveSizeParameter(new CommandLine.KernelCommandLine(spec.CommandLine));
        return Phyp.PhypDump.CheckFits(spec.RamRanges()[^1].End, bootvar, cpu, spec.Firmware.HpteRegionSize);
    }

    private static LparSpec Checked(LparSpec spec) => Validate(spec) is { } error ? throw new ArgumentException(error, nameof(spec)) : spec;
}
