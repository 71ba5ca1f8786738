using System.Text;
using Fadump.Formats;

namespace Fadump.Tools.Inspect.Symbols;

/// <summary>The BTF kinds (include/uapi/linux/btf.h).</summary>
public enum BtfKind
{
    Unknown = 0,
    Int = 1,
    Pointer = 2,
    Array = 3,
    Struct = 4,
    Union = 5,
    Enum = 6,
    Forward = 7,
    Typedef = 8,
    Volatile = 9,
    Const = 10,
    Restrict = 11,
    Function = 12,
    FunctionProto = 13,
    Variable = 14,
    DataSection = 15,
    Float = 16,
    DeclTag = 17,
    TypeTag = 18,
    Enum64 = 19,
}

/// <summary>A structure member found by path: its offset from the start of the outermost structure (in bits, so
/// bitfields are exact), its bitfield width (0: not a bitfield), its type and that type's size in bytes.</summary>
public readonly record struct BtfMember(string Path, long BitOffset, int BitfieldSize, int TypeId, long Size)
{
    public long ByteOffset => BitOffset / 8;
}

/// <summary>
/// BPF Type Format type information, as the kernel keeps it in memory between <c>__start_BTF</c> and
/// <c>__stop_BTF</c> (CONFIG_DEBUG_INFO_BTF): a header (magic 0xEB9F in the kernel's byte order, version 1,
/// hdr_len, type and string sections), then <c>struct btf_type</c> records numbered from 1, each followed by its
/// kind's data. Structure layouts a triage needs are read from here, never from tables of our own. Parsing is
/// bounded by the blob and checks every record and string offset.
/// </summary>
public sealed class Btf
{
    /// <summary>Larger than any vmlinux BTF (Debian's x86_64 6.1: about 5 MiB).</summary>
    public const int MaxSize = 64 << 20;

    private const ushort Magic = 0xEB9F;
    private const int HeaderMinimum = 24;
    private const int TypeHeaderSize = 12;
    private const int MaxDepth = 32;

    private readonly byte[] _blob;
    private readonly bool _bigEndian;
    private readonly int _typeStart;
    private readonly int _stringStart;
    private readonly int _stringLength;
    private readonly List<int> _offsets = [0]; // record offset of type id i (id 0 is void)
    private Dictionary<string, int>? _named;

    private Btf(byte[] blob, bool bigEndian, int typeStart, int typeLength, int stringStart, int stringLength, string path)
    {
        _blob = blob;
        _bigEndian = bigEndian;
        _typeStart = typeStart;
        _stringStart = stringStart;
        _stringLength = stringLength;
        int at = typeStart, end = typeStart + typeLength;
        while (at < end)
        {
            if (end - at < TypeHeaderSize)
            {
                throw new DumpFormatException(path, $"BTF type {_offsets.Count} at offset {at - typeStart} of the type section: a {TypeHeaderSize}-byte header does not fit in the {end - at} bytes left");
            }

            _offsets.Add(at);
            uint info = U32(at + 4);
            int vlen = (int)(info & 0xFFFF);
            int extra = (BtfKind)((info >> 24) & 0x1F) switch
            {
                BtfKind.Int => 4,
                BtfKind.Array => 12,
                BtfKind.Struct or BtfKind.Union => vlen * 12,
                BtfKind.Enum => vlen * 8,
                BtfKind.FunctionProto => vlen * 8,
                BtfKind.Variable => 4,
                BtfKind.DataSection => vlen * 12,
                BtfKind.DeclTag => 4,
                BtfKind.Enum64 => vlen * 12,
                BtfKind.Pointer or BtfKind.Forward or BtfKind.Typedef or BtfKind.Volatile or BtfKind.Const
                    or BtfKind.Restrict or BtfKind.Function or BtfKind.Float or BtfKind.TypeTag => 0,
                var k => throw new DumpFormatException(path, $"BTF type {_offsets.Count - 1} at offset {at - typeStart} of the type section has unknown kind {(int)k}"),
            };
            at += TypeHeaderSize + extra;
        }

        if (at != end)
        {
            throw new DumpFormatException(path, $"BTF: the last type record runs {at - end} bytes past the type section");
        }
    }

    /// <summary>How many types there are (ids 1 to Count).</summary>
    public int Count => _offsets.Count - 1;

    public int Length => _blob.Length;

    /// <summary>Parses a BTF blob.</summary>
    /// <exception cref="DumpFormatException">It is not BTF, or is malformed.</exception>
    public static Btf Parse(byte[] blob, string path = "<btf>")
    {
        ArgumentNullException.ThrowIfNull(blob);
        if (blob.Length < HeaderMinimum)
        {
            throw new DumpFormatException(path, $"BTF: {blob.Length} bytes is shorter than its {HeaderMinimum}-byte header");
        }

        bool big;
        if (Endian.U16(blob, bigEndian: false) == Magic)
        {
            big = false;
        }
        else if (Endian.U16(blob, bigEndian: true) == Magic)
        {
            big = true;
        }
        else
        {
            throw new DumpFormatException(path, $"BTF: magic is 0x{Endian.U16(blob, false):x4}, expected 0xeb9f");
        }

        if (blob[2] != 1)
        {
            throw new DumpFormatException(path, $"BTF: version {blob[2]}, expected 1");
        }

        uint hdrLen = Endian.U32(blob.AsSpan(4), big);
        uint typeOff = Endian.U32(blob.AsSpan(8), big), typeLen = Endian.U32(blob.AsSpan(12), big);
        uint strOff = Endian.U32(blob.AsSpan(16), big), strLen = Endian.U32(blob.AsSpan(20), big);
        ulong body = (ulong)blob.Length - Math.Min(hdrLen, (ulong)blob.Length);
        if (hdrLen < HeaderMinimum || hdrLen > (uint)blob.Length
            || (ulong)typeOff + typeLen > body || (ulong)strOff + strLen > body || strLen == 0)
        {
            throw new DumpFormatException(path, $"BTF: header (hdr_len {hdrLen}, types {typeOff}+{typeLen}, strings {strOff}+{strLen}) does not fit the {blob.Length}-byte blob");
        }

        return new Btf(blob, big, (int)(hdrLen + typeOff), (int)typeLen, (int)(hdrLen + strOff), (int)strLen, path);
    }

    public BtfKind Kind(int id) => id <= 0 || id > Count ? BtfKind.Unknown : (BtfKind)((U32(_offsets[id] + 4) >> 24) & 0x1F);

    public string Name(int id) => id <= 0 || id > Count ? string.Empty : String(U32(_offsets[id]));

    /// <summary>The first struct or union of that name, or null.</summary>
    public int? FindStruct(string name)
    {
        _named ??= BuildNames();
        return _named.TryGetValue(name, out int id) ? id : null;
    }

    /// <summary>The size in bytes of a type, through typedefs, qualifiers and arrays.</summary>
    public long SizeOf(int id)
    {
        for (int depth = 0; depth < MaxDepth; depth++)
        {
            switch (Kind(id))
            {
                case BtfKind.Int or BtfKind.Struct or BtfKind.Union or BtfKind.Enum or BtfKind.Enum64 or BtfKind.Float or BtfKind.DataSection:
                    return U32(_offsets[id] + 8);
                case BtfKind.Pointer:
                    return 8;
                case BtfKind.Array:
                    int at = _offsets[id] + TypeHeaderSize;
                    return SizeOf((int)U32(at)) * U32(at + 8);
                case BtfKind.Typedef or BtfKind.Volatile or BtfKind.Const or BtfKind.Restrict or BtfKind.TypeTag or BtfKind.Variable:
                    id = (int)U32(_offsets[id] + 8);
                    continue;
                default:
                    return 0;
            }
        }

        return 0;
    }

    /// <summary>The type behind typedefs and qualifiers.</summary>
    public int Resolve(int id)
    {
        for (int depth = 0; depth < MaxDepth && Kind(id) is BtfKind.Typedef or BtfKind.Volatile or BtfKind.Const or BtfKind.Restrict or BtfKind.TypeTag; depth++)
        {
            id = (int)U32(_offsets[id] + 8);
        }

        return id;
    }

    /// <summary>The type a pointer or array points to or holds (after typedefs), or 0.</summary>
    public int Target(int id)
    {
        id = Resolve(id);
        return Kind(id) switch
        {
            BtfKind.Pointer => Resolve((int)U32(_offsets[id] + 8)),
            BtfKind.Array => Resolve((int)U32(_offsets[id] + TypeHeaderSize)),
            _ => 0,
        };
    }

    /// <summary>
    /// A member by dotted path ("thread_info.cpu", "signal"), looking through unnamed structs and unions as C
    /// does; null when there is none.
    /// </summary>
    public BtfMember? Member(int structId, string path)
    {
        long bits = 0;
        int type = structId, bitfield = 0;
        foreach (var part in path.Split('.'))
        {
            if (FindMember(Resolve(type), part, 0) is not { } m)
            {
                return null;
            }

            bits += m.Bits;
            type = m.Type;
            bitfield = m.Bitfield;
        }

        return new BtfMember(path, bits, bitfield, type, SizeOf(type));
    }

    /// <summary>The member names of a struct or union, in order (unnamed ones as empty strings).</summary>
    public IReadOnlyList<string> MemberNames(int structId)
    {
        int id = Resolve(structId);
        if (Kind(id) is not (BtfKind.Struct or BtfKind.Union))
        {
            return [];
        }

        int at = _offsets[id];
        int vlen = (int)(U32(at + 4) & 0xFFFF);
        return [.. Enumerable.Range(0, vlen).Select(i => String(U32(at + TypeHeaderSize + (i * 12))))];
    }

    private (long Bits, int Type, int Bitfield)? FindMember(int id, string name, int depth)
    {
        if (depth > MaxDepth || Kind(id) is not (BtfKind.Struct or BtfKind.Union))
        {
            return null;
        }

        int at = _offsets[id];
        uint info = U32(at + 4);
        int vlen = (int)(info & 0xFFFF);
        bool kindFlag = (info & 0x80000000) != 0;
        for (int i = 0; i < vlen; i++)
        {
            int m = at + TypeHeaderSize + (i * 12);
            string memberName = String(U32(m));
            int type = (int)U32(m + 4);
            uint offset = U32(m + 8);
            long bits = kindFlag ? offset & 0xFFFFFF : offset;
            int bitfield = kindFlag ? (int)(offset >> 24) : 0;
            if (memberName == name)
            {
                return (bits, type, bitfield);
            }

            if (memberName.Length == 0 && FindMember(Resolve(type), name, depth + 1) is { } inner)
            {
                return (bits + inner.Bits, inner.Type, inner.Bitfield);
            }
        }

        return null;
    }

    private Dictionary<string, int> BuildNames()
    {
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 1; id <= Count; id++)
        {
            if (Kind(id) is BtfKind.Struct or BtfKind.Union)
            {
                string n = Name(id);
                if (n.Length > 0)
                {
                    names.TryAdd(n, id);
                }
            }
        }

        return names;
    }

    private string String(uint offset)
    {
        if (offset >= (uint)_stringLength)
        {
            return string.Empty;
        }

        int start = _stringStart + (int)offset;
        int nul = Array.IndexOf(_blob, (byte)0, start, _stringLength - (int)offset);
        return nul < 0 ? string.Empty : Encoding.ASCII.GetString(_blob, start, nul - start);
    }

    private uint U32(int at) => Endian.U32(_blob.AsSpan(at), _bigEndian);
}
