using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Fadump.Formats.Compression.Native;

/// <summary>
/// Pinning helpers: an empty span pins as a null pointer, which several C libraries reject even with a
/// zero length; these return a reference to a private dummy byte instead (never written: its length is 0).
/// </summary>
internal static class NativeSpan
{
    private static readonly byte[] Dummy = new byte[1];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref byte Ref(Span<byte> span) => ref span.IsEmpty ? ref Dummy[0] : ref MemoryMarshal.GetReference(span);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref byte Ref(ReadOnlySpan<byte> span) => ref span.IsEmpty ? ref Dummy[0] : ref MemoryMarshal.GetReference(span);
}
