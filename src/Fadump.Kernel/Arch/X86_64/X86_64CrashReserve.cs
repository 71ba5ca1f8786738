using System.Globalization;
using Fadump.Kernel.CommandLine;
using Fadump.Kernel.Mm;
using Fadump.Machine;

namespace Fadump.Kernel.Arch.X86_64;

/// <summary>
/// reserve_crashkernel of Linux 6.1's arch/x86/kernel/setup.c (the generic kernel/crash_reserve.c
/// of 6.7+ logs "crashkernel reserved: …" instead): crashkernel=X tries below 4 GiB and falls back to
/// high memory; X,high goes high first; X@Y takes exactly [Y, Y+X); a region at or above 4 GiB also
/// needs a low one (X,low or the swiotlb default of 256 MiB). CRASH_ALIGN is 16 MiB.
/// </summary>
public static class X86_64CrashReserve
{
    public const ulong CrashAlign = 16UL << 20;
    public const ulong LowMax = 1UL << 32;             // CRASH_ADDR_LOW_MAX
    public const ulong HighMax = 64UL << 40;           // CRASH_ADDR_HIGH_MAX (MAXMEM, 4-level)
    public const ulong SwiotlbDefault = 64UL << 20;    // IO_TLB_DEFAULT_SIZE

    public static CrashReservation Reserve(KernelCommandLine cmdline, Memblock memblock)
    {
        var log = new List<string>();
        ulong totalMem = Ranges.Total(memblock.Memory);
        bool high = false;
        var ck = CrashKernelParameter.Parse(cmdline, totalMem);
        if (ck is { Ok: false })
        {
            log.Add(ck.Error!);
        }

        if (ck is not { Ok: true, Size: > 0 })
        {
            var hi = CrashKernelParameter.Parse(cmdline, totalMem, ",high");
            if (hi is { Ok: false })
            {
                log.Add(hi.Error!);
            }

            if (hi is not { Ok: true, Size: > 0 })
            {
                return new CrashReservation(null, null, log);
            }

            ck = hi;
            high = true;
        }

        ulong size = ck.Size, base_ = ck.Offset;
        if (base_ == 0)
        {
            ulong? at = high ? null : memblock.AllocRange(size, CrashAlign, CrashAlign, LowMax);
            at ??= memblock.AllocRange(size, CrashAlign, CrashAlign, HighMax);
            if (at is null)
            {
                log.Add("crashkernel reservation failed - No suitable area found.");
                return new CrashReservation(null, null, log);
            }

            base_ = at.Value;
        }
        else
        {
            ulong? at = base_ + size < base_ ? null : memblock.AllocRange(size, 1UL << 20, base_, base_ + size);
            if (at != base_)
            {
                log.Add("crashkernel reservation failed - memory is in use.");
                return new CrashReservation(null, null, log);
            }
        }

        MemoryRange? low = null;
        if (base_ >= LowMax)
        {
            var (lowRange, failed) = ReserveLow(cmdline, memblock, totalMem, log);
            if (failed)
            {
                memblock.Free(new MemoryRange(base_, size));
                return new CrashReservation(null, null, log);
            }

            low = lowRange;
        }

        log.Add(string.Create(CultureInfo.InvariantCulture,
            $"Reserving {size >> 20}MB of memory at {base_ >> 20}MB for crashkernel (System RAM: {totalMem >> 20}MB)"));
        return new CrashReservation(new MemoryRange(base_, size), low, log);
    }

    /// <summary>reserve_crashkernel_low: crashkernel=Y,low, or max(swiotlb + 8 MiB, 256 MiB); Y = 0 asks for none.</summary>
    private static (MemoryRange? Low, bool Failed) ReserveLow(KernelCommandLine cmdline, Memblock memblock, ulong totalMem, List<string> log)
    {
        ulong lowMemLimit = Math.Min(totalMem, LowMax);
        ulong lowSize;
        var y = CrashKernelParameter.Parse(cmdline, lowMemLimit, ",low");
        if (y is { Ok: true })
        {
            if (y.Size == 0)
            {
                return (null, false);
            }

            lowSize = y.Size;
        }
        else
        {
            lowSize = Math.Max(SwiotlbDefault + (8UL << 20), 256UL << 20);
        }

        ulong? at = memblock.AllocRange(lowSize, CrashAlign, 0, LowMax);
        if (at is null)
        {
            log.Add(string.Create(CultureInfo.InvariantCulture, $"Cannot reserve {lowSize >> 20}MB crashkernel low memory, please try smaller size."));
            return (null, true);
        }

        log.Add(string.Create(CultureInfo.InvariantCulture,
            $"Reserving {lowSize >> 20}MB of low memory at {at.Value >> 20}MB for crashkernel (low RAM limit: {lowMemLimit >> 20}MB)"));
        return (new MemoryRange(at.Value, lowSize), false);
    }
}
