using Fadump.Kernel.CommandLine;
using Fadump.Machine;

namespace Fadump.Kernel.Fadump;

/// <summary>The platform constants FADump sizing depends on.</summary>
public sealed record FadumpPlatform(string Name, ulong BootMemMinimum, int MaxBootRegions, ulong MaxCopySize, int PageSize)
{
    /// <summary>pSeries: 320 MiB minimum (raised by 64 MiB after capture-kernel OOMs), 7 regions, no copy limit.</summary>
    public static FadumpPlatform Pseries => new("pseries", 0x14000000, 7, ulong.MaxValue & ~0xFFFFUL, 65536);

    /// <summary>OPAL: 768 MiB minimum, 128 regions, 4 GiB − page per copy.</summary>
    public static FadumpPlatform Opal => new("opal", 0x30000000, 128, 0xFFFF0000, 65536);
}

/// <summary>The result of sizing boot memory: the size, or the reason FADump cannot be enabled.</summary>
public sealed record BootMemorySize(ulong Size, IReadOnlyList<string> Log, string? Error);

/// <summary>
/// Boot memory sizing and regions (arch/powerpc/kernel/fadump.c: fadump_calculate_reserve_size,
/// fadump_get_boot_mem_regions, add_boot_mem_regions).
/// </summary>
public static class BootMemory
{
    public static BootMemorySize CalculateSize(KernelCommandLine cmdline, ulong systemRam, ulong? memLimit, FadumpPlatform platform)
    {
        var log = new List<string>();
        string? reserveMem = cmdline.Last("fadump_reserve_mem");
        ulong reserveMemValue = 0;
        if (reserveMem is not null)
        {
            log.Add("fadump: fadump_reserve_mem=<size> is deprecated. Use crashkernel=<size> instead.");
            reserveMemValue = MemParse.Parse(reserveMem).Value;
        }

        ulong size;
        var ck = CrashKernelParameter.Parse(cmdline, systemRam);
        if (ck is { Ok: true, Size: > 0 })
        {
            size = ck.Size;
            ulong max = systemRam / 4;
            if (size > max)
            {
                size = max;
                log.Add(FormattableString.Invariant($"fadump: Adjusted boot memory size to {size >> 20}MB"));
            }
        }
        else if (reserveMemValue > 0)
        {
            size = reserveMemValue;
        }
        else
        {
            // 5 % of RAM rounded down to 256 MiB, at least the platform minimum.
            size = (systemRam / 20) & ~0x0FFFFFFFUL;
            if (memLimit is { } limit && size > limit)
            {
                size = limit;
            }

            size = Math.Max(size, platform.BootMemMinimum);
        }

        ulong page = (ulong)platform.PageSize;
        size = (size + page - 1) & ~(page - 1);
        if (size < platform.BootMemMinimum)
        {
            string msg = FormattableString.Invariant($"fadump: Can't enable fadump with boot memory size (0x{size:x}) less than 0x{platform.BootMemMinimum:x}");
            log.Add(msg);
            return new BootMemorySize(0, log, msg);
        }

        return new BootMemorySize(size, log, null);
    }

    /// <summary>
    /// Walks memory upward collecting boot memory, as fadump_get_boot_mem_regions does, including its
    /// quirk: when a range is smaller than the remaining size, both mem_size is reduced and cur_size
    /// grows, so the regions can sum to less than the boot memory size. Returns null when more than
    /// the platform's regions would be needed ("Too many holes in boot memory area to enable fadump").
    /// </summary>
    public static (List<MemoryRange> Regions, ulong BootMemTop)? Regions(IReadOnlyList<MemoryRange> memory, ulong bootMemorySize, FadumpPlatform platform)
    {
        var regions = new List<MemoryRange>();
        ulong memSize = bootMemorySize, curSize = 0, holeSize = 0, lastEnd = 0;
        bool ok = true;
        foreach (var r in memory.OrderBy(r => r.Start))
        {
            ulong size = r.Size;
            holeSize += r.Start - lastEnd;
            if (curSize + size >= memSize)
            {
                size = memSize - curSize;
                ok = AddRegions(regions, r.Start, size, platform);
                break;
            }

            // (quirk) both counters move: the kernel's double counting.
            memSize -= size;
            curSize += size;
            ok = AddRegions(regions, r.Start, size, platform);
            if (!ok)
            {
                break;
            }

            lastEnd = r.End;
        }

        if (!ok)
        {
            return null;
        }

        ulong page = (ulong)platform.PageSize;
        ulong top = (bootMemorySize + holeSize + page - 1) & ~(page - 1);
        return (regions, top);
    }

    private static bool AddRegions(List<MemoryRange> regions, ulong start, ulong size, FadumpPlatform platform)
    {
        while (size > 0)
        {
            if (regions.Count >= platform.MaxBootRegions)
            {
                return false;
            }

            ulong n = Math.Min(size, platform.MaxCopySize);
            regions.Add(new MemoryRange(start, n));
            start += n;
            size -= n;
        }

        return true;
    }
}
