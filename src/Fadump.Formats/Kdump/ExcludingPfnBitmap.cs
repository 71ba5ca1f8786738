namespace Fadump.Formats.Kdump;

/// <summary>Another bitmap minus the PFNs a predicate excludes: e.g. RAM minus filtered pages.</summary>
public sealed class ExcludingPfnBitmap(IPfnBitmap source, Func<ulong, bool> exclude) : IPfnBitmap
{
    public void Fill(ulong firstPfn, Span<byte> bits)
    {
        source.Fill(firstPfn, bits);
        for (int i = 0; i < bits.Length; i++)
        {
            byte b = bits[i];
            while (b != 0)
            {
                int bit = System.Numerics.BitOperations.TrailingZeroCount(b);
                b &= (byte)(b - 1);
                if (exclude(firstPfn + ((ulong)i * 8) + (ulong)bit))
                {
                    bits[i] &= (byte)~(1 << bit);
                }
            }
        }
    }
}
