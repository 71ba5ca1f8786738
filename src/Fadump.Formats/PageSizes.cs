namespace Fadump.Formats;

internal static class PageSizes
{
    /// <summary>Accepts the page sizes Linux uses: powers of two from 4 KiB to 1 MiB.</summary>
    public static bool IsValid(long size) => size is >= 4096 and <= (1 << 20) && (size & (size - 1)) == 0;

    public static int FromVmcoreInfo(VmcoreInfo.VmcoreInfo? info, DumpMachine machine, string path)
    {
        long? ps = info?.PageSize;
        if (ps is null)
        {
            return machine.DefaultPageSize;
        }

        return IsValid(ps.Value)
            ? (int)ps.Value
            : throw new DumpFormatException(path, FormattableString.Invariant($"VMCOREINFO PAGESIZE={ps}: expected a power of two from 4096 to 1048576"));
    }
}
