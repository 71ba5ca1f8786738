namespace Fadump.Machine;

/// <summary>
/// The procedural base of physical memory: the content of every frame that nobody has written
/// through <see cref="PhysicalMemory.Write"/>, as a pure function of the frame's address. This is
/// how a 1 TiB machine fits in a few MiB of process memory (shared/DESIGN.md §3).
/// </summary>
public interface IMemoryContent
{
    /// <summary>Fills one frame (<see cref="PhysicalMemory.FrameSize"/> bytes) at a frame-aligned address.</summary>
    void Fill(ulong frameAddress, Span<byte> frame);
}

/// <summary>Freshly powered RAM in the simulation reads as zeros.</summary>
public sealed class ZeroContent : IMemoryContent
{
    public static readonly ZeroContent Instance = new();

    public void Fill(ulong frameAddress, Span<byte> frame) => frame.Clear();
}

/// <summary>
/// A newer content over an older one, only where the newer one was written (the ranges): what RAM holds after a
/// short-lived kernel has run over the memory of the one before it. Ranges are frame-aligned.
/// </summary>
public sealed class LayeredContent(IMemoryContent lower, IMemoryContent upper, IReadOnlyList<MemoryRange> upperRanges) : IMemoryContent
{
    private readonly MemoryRange[] _ranges = [.. upperRanges.Where(r => r.Size > 0).OrderBy(r => r.Start)];

    /// <summary>Where the newer content shows.</summary>
    public IReadOnlyList<MemoryRange> UpperRanges => _ranges;

    public IMemoryContent Lower => lower;

    public IMemoryContent Upper => upper;

    public void Fill(ulong frameAddress, Span<byte> frame)
    {
        int lo = 0, hi = _ranges.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            var r = _ranges[mid];
            if (frameAddress < r.Start)
            {
                hi = mid - 1;
            }
            else if (frameAddress >= r.End)
            {
                lo = mid + 1;
            }
            else
            {
                upper.Fill(frameAddress, frame);
                return;
            }
        }

        lower.Fill(frameAddress, frame);
    }
}
