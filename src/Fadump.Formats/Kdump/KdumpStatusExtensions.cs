using Fadump.Formats.Compression;

namespace Fadump.Formats.Kdump;

internal static class KdumpStatusExtensions
{
    public const uint CompressionMask = (uint)(KdumpStatus.CompressedZlib | KdumpStatus.CompressedLzo | KdumpStatus.CompressedSnappy | KdumpStatus.CompressedZstd);

    /// <summary>The status bit makedumpfile sets for a compression method (none for <see cref="PageCompression.None"/>).</summary>
    public static KdumpStatus ToStatus(this PageCompression method) => (KdumpStatus)(uint)method;
}
