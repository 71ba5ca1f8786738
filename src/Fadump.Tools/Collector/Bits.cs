namespace Fadump.Tools.Collector;

/// <summary>Scans LSB-first PFN bitmaps (bit i is bit i &amp; 7 of byte i &gt;&gt; 3) a byte at a time where it can.</summary>
internal static class Bits
{
    public static bool Test(ReadOnlySpan<byte> bits, ulong i) => (bits[(int)(i >> 3)] & (1 << (int)(i & 7))) != 0;

    /// <summary>The first set bit in [from, end), or end.</summary>
    public static ulong NextSet(ReadOnlySpan<byte> bits, ulong from, ulong end) => Next(bits, from, end, set: true);

    /// <summary>The first clear bit in [from, end), or end.</summary>
    public static ulong NextClear(ReadOnlySpan<byte> bits, ulong from, ulong end) => Next(bits, from, end, set: false);

    private static ulong Next(ReadOnlySpan<byte> bits, ulong from, ulong end, bool set)
    {
        byte skip = set ? (byte)0 : (byte)0xff;
        ulong i = from;
        while (i < end)
        {
            if ((i & 7) == 0 && end - i >= 8)
            {
                int byteIndex = (int)(i >> 3);
                int lastByte = (int)(end >> 3);
                int k = bits[byteIndex..lastByte].IndexOfAnyExcept(skip);
                if (k < 0)
                {
                    i = (ulong)lastByte << 3;
                    continue;
                }

                i = (ulong)(byteIndex + k) << 3;
            }

            if (Test(bits, i) == set)
            {
                return i;
            }

            i++;
        }

        return end;
    }
}
