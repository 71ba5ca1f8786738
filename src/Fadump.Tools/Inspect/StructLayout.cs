using Fadump.Formats;
using VmcoreInfoNote = Fadump.Formats.VmcoreInfo.VmcoreInfo;

namespace Fadump.Tools.Inspect;

/// <summary>
/// Reads kernel structure sizes and member offsets from VMCOREINFO, checking each member fits its
/// structure, so that parsing code can index a span without further checks.
/// </summary>
internal sealed class StructLayout(VmcoreInfoNote info, string path, string purpose)
{
    /// <summary>Cap on a structure size: kernel structs the readers touch are far smaller.</summary>
    public const int MaxStructSize = 1 << 16;

    public ulong Symbol(string name) =>
        info.Symbol(name) ?? throw Missing($"SYMBOL({name})");

    public int Size(string type)
    {
        long v = info.Size(type) ?? throw Missing($"SIZE({type})");
        return v is > 0 and <= MaxStructSize
            ? (int)v
            : throw new DumpFormatException(path, FormattableString.Invariant($"VMCOREINFO SIZE({type})={v}: expected 1 to {MaxStructSize}"));
    }

    /// <summary>OFFSET(member), checked so that a field of fieldSize bytes at it fits in structSize.</summary>
    public int Offset(string member, int fieldSize, int structSize)
    {
        long v = info.Offset(member) ?? throw Missing($"OFFSET({member})");
        return OffsetIn(member, v, fieldSize, structSize);
    }

    /// <summary>OFFSET(member) when VMCOREINFO has it, else null.</summary>
    public int? OptionalOffset(string member, int fieldSize, int structSize) =>
        info.Offset(member) is { } v ? OffsetIn(member, v, fieldSize, structSize) : null;

    private int OffsetIn(string member, long v, int fieldSize, int structSize) =>
        v >= 0 && v + fieldSize <= structSize
            ? (int)v
            : throw new DumpFormatException(path,
                FormattableString.Invariant($"VMCOREINFO OFFSET({member})={v}: a {fieldSize}-byte field there does not fit in its {structSize}-byte structure"));

    private DumpFormatException Missing(string key) =>
        new(path, $"VMCOREINFO has no {key}: it is needed to read {purpose}");
}
