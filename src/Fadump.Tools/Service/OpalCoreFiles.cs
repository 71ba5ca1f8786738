using Fadump.Formats.Hashing;
using Fadump.Formats.IO;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Service;

/// <summary>
/// The OPAL core a PowerNV capture kernel exports after an MPIPL crash (arch/powerpc/platforms/powernv/opal-core.c):
/// /sys/firmware/opal/mpipl/core (0400), the compatibility link /sys/firmware/opal/core (the only name on old
/// kernels), and release_core, which frees it when "1" is written (EPERM once it was released, EINVAL for anything else).
/// kdump-utils saves it as <c>opalcore</c> beside the vmcore (save_opalcore_fs: <c>cp $OPALCORE $path/opalcore</c>).
/// </summary>
internal static class OpalCoreFiles
{
    public const string MpiplCore = "/sys/firmware/opal/mpipl/core";
    public const string OldCore = "/sys/firmware/opal/core";
    public const string ReleaseCore = "/sys/firmware/opal/mpipl/release_core";
    public const string FileName = "opalcore";
    public const string IncompleteName = "opalcore-incomplete";

    /// <summary>Bytes copied per read.</summary>
    private const int Chunk = 1 << 20;

    /// <summary>The OPAL core under the root: the mpipl name first, as kdump-utils looks for it; null when there is none.</summary>
    public static string? Find(ISysroot root) => root.Exists(MpiplCore) ? MpiplCore : root.Exists(OldCore) ? OldCore : null;

    /// <summary>Copies the whole source through <paramref name="write"/> (bytes, offset), a chunk at a time; returns its SHA-256.</summary>
    public static byte[] Copy(IRandomAccessSource source, Action<ReadOnlySpan<byte>, long> write)
    {
        var hash = new Sha256();
        var buf = new byte[(int)Math.Min(Chunk, Math.Max(1, source.Length))];
        for (long off = 0; off < source.Length;)
        {
            int n = (int)Math.Min(buf.Length, source.Length - off);
            source.ReadExactly(off, buf.AsSpan(0, n), "OPAL core");
            write(buf.AsSpan(0, n), off);
            hash.Append(buf.AsSpan(0, n));
            off += n;
        }

        return hash.GetHashAndReset();
    }
}
