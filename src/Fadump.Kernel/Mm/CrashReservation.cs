using Fadump.Machine;

namespace Fadump.Kernel.Mm;

/// <summary>The crashkernel= reservation: the region (crashk_res), the low region (crashk_low_res) and the early log.</summary>
public sealed record CrashReservation(MemoryRange? Region, MemoryRange? LowRegion, IReadOnlyList<string> Log)
{
    public static CrashReservation None(params string[] log) => new(null, null, log);
}
