namespace Fadump.Kernel.CommandLine;

/// <summary>The outcome of parsing crashkernel= (kernel/crash_reserve.c parse_crashkernel).</summary>
public sealed record CrashKernelResult(ulong Size, ulong Offset, string? Error, string? Suffix)
{
    public bool Ok => Error is null;

    /// <summary>The kernel's log line for a failure, as crash_reserve.c prints it.</summary>
    public static CrashKernelResult Fail(string message) => new(0, 0, message, null);
}

/// <summary>
/// crashkernel= in the simple (size[@offset]) and the range (start-[end]:size[,…][@offset]) syntax,
/// with the suffixes ,high ,low ,cma. Error texts are the kernel's ("crashkernel: '-' expected" …).
/// </summary>
public static class CrashKernelParameter
{
    private static readonly string[] Suffixes = [",high", ",low", ",cma"];

    /// <summary>
    /// Parses the last crashkernel= occurrence that fits the requested suffix (null = none: occurrences
    /// ending in a suffix are skipped). Returns null when there is no such occurrence.
    /// </summary>
    public static CrashKernelResult? Parse(KernelCommandLine cmdline, ulong systemRam, string? suffix = null)
    {
        string? chosen = null;
        foreach (var v in cmdline.All("crashkernel"))
        {
            bool hasSuffix = Suffixes.Any(s => v.EndsWith(s, StringComparison.Ordinal));
            if (suffix is null ? !hasSuffix : v.EndsWith(suffix, StringComparison.Ordinal))
            {
                chosen = v;
            }
        }

        if (chosen is null)
        {
            return null;
        }

        if (suffix is not null)
        {
            chosen = chosen[..^suffix.Length];
            var (size, used) = MemParse.Parse(chosen);
            if (used == 0 || used != chosen.Length)
            {
                return CrashKernelResult.Fail("crashkernel: memory value expected");
            }

            return new CrashKernelResult(size, 0, null, suffix);
        }

        // Extended syntax when a ':' comes before the first space.
        return chosen.Contains(':', StringComparison.Ordinal)
            ? ParseRanges(chosen, systemRam)
            : ParseSimple(chosen);
    }

    private static CrashKernelResult ParseSimple(string s)
    {
        var (size, used) = MemParse.Parse(s);
        if (used == 0)
        {
            return CrashKernelResult.Fail("crashkernel: memory value expected");
        }

        ulong offset = 0;
        int i = used;
        if (i < s.Length && s[i] == '@')
        {
            var (off, u2) = MemParse.Parse(s, i + 1);
            if (u2 == 0)
            {
                return CrashKernelResult.Fail("crashkernel: memory value expected");
            }

            offset = off;
            i += 1 + u2;
        }

        if (i != s.Length)
        {
            return CrashKernelResult.Fail("crashkernel: unrecognized char: " + s[i]);
        }

        return new CrashKernelResult(size, offset, null, null);
    }

    private static CrashKernelResult ParseRanges(string s, ulong systemRam)
    {
        // The kernel rounds total RAM up to 128 MiB before matching ranges.
        ulong total = (systemRam + (128UL << 20) - 1) & ~((128UL << 20) - 1);
        int i = 0;
        ulong size = 0;
        bool matched = false;
        while (true)
        {
            var (start, u1) = MemParse.Parse(s, i);
            if (u1 == 0)
            {
                return CrashKernelResult.Fail("crashkernel: Memory value expected");
            }

            i += u1;
            if (i >= s.Length || s[i] != '-')
            {
                return CrashKernelResult.Fail("crashkernel: '-' expected");
            }

            i++;
            ulong end = ulong.MaxValue;
            if (i < s.Length && s[i] != ':')
            {
                var (e, u2) = MemParse.Parse(s, i);
                if (u2 == 0)
                {
                    return CrashKernelResult.Fail("crashkernel: Memory value expected");
                }

                end = e;
                i += u2;
                if (end <= start)
                {
                    return CrashKernelResult.Fail("crashkernel: end <= start");
                }
            }

            if (i >= s.Length || s[i] != ':')
            {
                return CrashKernelResult.Fail("crashkernel: ':' expected");
            }

            i++;
            var (sz, u3) = MemParse.Parse(s, i);
            if (u3 == 0)
            {
                return CrashKernelResult.Fail("Memory value expected");
            }

            i += u3;
            if (sz >= total)
            {
                return CrashKernelResult.Fail("crashkernel: invalid size");
            }

            if (!matched && total >= start && total < end)
            {
                size = sz;
                matched = true;
            }

            if (i < s.Length && s[i] == ',')
            {
                i++;
                continue;
            }

            break;
        }

        ulong offset = 0;
        if (i < s.Length && s[i] == '@')
        {
            var (off, u) = MemParse.Parse(s, i + 1);
            if (u == 0)
            {
                return CrashKernelResult.Fail("crashkernel: memory value expected");
            }

            offset = off;
            i += 1 + u;
        }

        if (i != s.Length)
        {
            return CrashKernelResult.Fail("crashkernel: unrecognized char: " + s[i]);
        }

        if (size == 0)
        {
            return CrashKernelResult.Fail("crashkernel size resulted in zero bytes");
        }

        return new CrashKernelResult(size, offset, null, null);
    }
}
