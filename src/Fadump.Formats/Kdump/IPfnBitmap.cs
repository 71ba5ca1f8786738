namespace Fadump.Formats.Kdump;

/// <summary>
/// A bitmap over page frame numbers that fills its bits on demand, so that a writer never holds O(max_pfn)
/// memory. Bit order is the kdump one: PFN i is bit <c>1 &lt;&lt; (i &amp; 7)</c> of byte <c>i &gt;&gt; 3</c>.
/// Fill must be deterministic: a writer may ask for the same range more than once.
/// </summary>
public interface IPfnBitmap
{
    /// <summary>Fills the bits of PFNs [firstPfn, firstPfn + 8 × bits.Length); firstPfn is a multiple of 8.</summary>
    void Fill(ulong firstPfn, Span<byte> bits);
}
