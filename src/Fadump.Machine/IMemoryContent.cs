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
