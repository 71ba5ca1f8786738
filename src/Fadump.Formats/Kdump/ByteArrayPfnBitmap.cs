namespace Fadump.Formats.Kdump;

/// <summary>A bitmap held in a byte array; PFNs past its end are clear.</summary>
public sealed class ByteArrayPfnBitmap(byte[] bits) : IPfnBitmap
{
    public void Fill(ulong firstPfn, Span<byte> dest)
    {
        dest.Clear();
        ulong start = firstPfn >> 3;
        if (start < (ulong)bits.Length)
        {
            int n = (int)Math.Min((ulong)dest.Length, (ulong)bits.Length - start);
            bits.AsSpan((int)start, n).CopyTo(dest);
        }
    }
}
