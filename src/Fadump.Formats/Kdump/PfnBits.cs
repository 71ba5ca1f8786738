namespace Fadump.Formats.Kdump;

/// <summary>Bit operations on LSB-first PFN bitmaps (PFN i is bit i &amp; 7 of byte i &gt;&gt; 3).</summary>
internal static class PfnBits
{
    /// <summary>Sets bits [from, to) of an LSB-first bitmap.</summary>
    public static void SetRange(Span<byte> bits, ulong from, ulong to)
    {
        while (from < to && (from & 7) != 0)
        {
            bits[(int)(from >> 3)] |= (byte)(1 << (int)(from & 7));
            from++;
        }

        ulong wholeEnd = to & ~7UL;
        if (from < wholeEnd)
        {
            bits.Slice((int)(from >> 3), (int)((wholeEnd - from) >> 3)).Fill(0xff);
            from = wholeEnd;
        }

        while (from < to)
        {
            bits[(int)(from >> 3)] |= (byte)(1 << (int)(from & 7));
            from++;
        }
    }

    public static bool Test(ReadOnlySpan<byte> bits, ulong bit) => (bits[(int)(bit >> 3)] & (1 << (int)(bit & 7))) != 0;
}
