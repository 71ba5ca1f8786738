namespace Fadump.Tools.Tests.Synthetic;

/// <summary>Ready-made synthetic kernels holding <see cref="SyntheticLog"/>.</summary>
internal static class SyntheticScenarios
{
    /// <summary>
    /// x86_64: prb, printk_rb_static and the descriptor arrays are static variables in the kernel
    /// image (text mapping, 2 MiB page); the 8 KiB data ring is vmalloc()ed (two 4 KiB pages,
    /// physically out of order).
    /// </summary>
    public static SyntheticX86_64 X86_64WithLog(PrintkRingBuilder? ring = null)
    {
        var x = new SyntheticX86_64();
        ring ??= SyntheticLog.Build(bigEndian: false);
        ulong prbVar = x.AllocImage(8, 8);
        ulong rb = x.AllocImage(PrintkRingBuilder.RingBufferSize, 64);
        ulong descs = x.AllocImage(PrintkRingBuilder.DescSize << ring.CountBits, 64);
        ulong infos = x.AllocImage(PrintkRingBuilder.InfoSize << ring.CountBits, 64);
        ulong data = x.Vmalloc(ring.DataSize / 4096);
        ring.WriteTo(x.Kernel, prbVar, rb, descs, infos, data);
        return x;
    }

    /// <summary>ppc64: everything in the linear map.</summary>
    public static SyntheticPpc64 Ppc64WithLog(bool bigEndian, PrintkRingBuilder? ring = null)
    {
        var p = new SyntheticPpc64(bigEndian, bigEndian ? "6.1.0-synthetic-powerpc64" : "6.1.0-synthetic-powerpc64le");
        ring ??= SyntheticLog.Build(bigEndian);
        ulong prbVar = p.Alloc(8, 8);
        ulong rb = p.Alloc(PrintkRingBuilder.RingBufferSize, 64);
        ulong descs = p.Alloc(PrintkRingBuilder.DescSize << ring.CountBits, 64);
        ulong infos = p.Alloc(PrintkRingBuilder.InfoSize << ring.CountBits, 64);
        ulong data = p.Alloc(ring.DataSize, 4096);
        ring.WriteTo(p.Kernel, prbVar, rb, descs, infos, data);
        return p;
    }
}
