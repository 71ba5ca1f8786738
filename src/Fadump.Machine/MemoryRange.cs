namespace Fadump.Machine;

/// <summary>A range of physical addresses [Start, Start + Size).</summary>
public readonly record struct MemoryRange(ulong Start, ulong Size)
{
    public ulong End => Start + Size;

    public bool Contains(ulong address) => address - Start < Size;

    public bool Overlaps(MemoryRange other) => Start < other.End && other.Start < End;

    public static MemoryRange FromBounds(ulong start, ulong end) => new(start, end - start);

    public override string ToString() => FormattableString.Invariant($"[0x{Start:x}-0x{End - 1:x}]");
}
