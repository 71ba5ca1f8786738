using Fadump.Firmware.Rtas;
using Fadump.Machine;

namespace Fadump.Kernel.Fadump;

/// <summary>struct fw_dump: FADump's state in one kernel.</summary>
public sealed class FwDump
{
    public bool Supported { get; set; }

    public bool Enabled { get; set; }

    public bool NoCma { get; set; }

    public bool DumpActive { get; set; }

    public bool Registered { get; set; }

    public ulong CpuStateDataSize { get; set; }

    public ulong HpteRegionSize { get; set; }

    public ulong BootMemorySize { get; set; }

    public IReadOnlyList<MemoryRange> BootRegions { get; set; } = [];

    public ulong BootMemTop { get; set; }

    public ulong ReserveStart { get; set; }

    public ulong ReserveSize { get; set; }

    public ulong BootMemDestAddr { get; set; }

    public ulong HeaderAddress { get; set; }

    /// <summary>Where the platform's kernel metadata is (OPAL: the last page(s) of the reservation), 0 when it has none.</summary>
    public ulong KernelMetadata { get; set; }

    /// <summary>Physical address of the 2 KiB param area (bootargs_append), 0 when unsupported.</summary>
    public ulong ParamArea { get; set; }

    public MemoryRange? Cma { get; set; }

    /// <summary>The structure registered with the firmware (first kernel) or returned by it (capture kernel).</summary>
    public FadumpStructure? Structure { get; set; }

    /// <summary>fdm_active: the structure the firmware returned after the dump (capture kernel), kept after an invalidation.</summary>
    public FadumpStructure? FirmwareStructure { get; set; }

    public ulong ElfcorehdrAddress { get; set; }

    public ulong ElfcorehdrSize { get; set; }

    /// <summary>Bytes returned to the buddy allocator by release_mem.</summary>
    public ulong ReleasedBytes { get; set; }

    public bool Released { get; set; }
}
