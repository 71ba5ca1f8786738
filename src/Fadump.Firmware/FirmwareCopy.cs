using Fadump.Machine;

namespace Fadump.Firmware;

/// <summary>How every firmware here moves memory at a dump (PHYP's copies, hostboot's MPIPL ranges).</summary>
internal static class FirmwareCopy
{
    /// <summary>
    /// Copies [src, src + len) to dst: whole frames as a remap that snapshots the source (not a byte copy), other
    /// lengths (the 2 KiB param area, say) in bounded chunks.
    /// </summary>
    public static void Copy(PhysicalMemory mem, ulong src, ulong dst, ulong len)
    {
        if ((src | dst | len) % PhysicalMemory.FrameSize == 0)
        {
            mem.Copy(src, dst, len);
            return;
        }

        var b = new byte[Math.Min(len, 1UL << 20)];
        for (ulong done = 0; done < len;)
        {
            int n = (int)Math.Min((ulong)b.Length, len - done);
            mem.Read(src + done, b.AsSpan(0, n));
            mem.Write(dst + done, b.AsSpan(0, n));
            done += (ulong)n;
        }
    }
}
