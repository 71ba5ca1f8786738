using Fadump.Machine;

namespace Fadump.Kernel.Kexec;

/// <summary>
/// One <c>struct kexec_segment</c> (include/uapi/linux/kexec.h): <c>buf</c>/<c>bufsz</c> in the
/// caller's memory, <c>mem</c>/<c>memsz</c> in physical memory. The bytes of [mem + bufsz, mem + memsz)
/// are zero-filled at load (kimage_load_crash_segment).
/// </summary>
/// <param name="Buffer">The caller's buffer (<c>buf</c>): at least <paramref name="BufferSize"/> bytes, or the copy faults.</param>
/// <param name="BufferSize"><c>bufsz</c>.</param>
/// <param name="Memory"><c>mem</c>: the physical destination.</param>
/// <param name="MemorySize"><c>memsz</c>.</param>
public sealed record KexecSegment(byte[] Buffer, ulong BufferSize, ulong Memory, ulong MemorySize)
{
    /// <summary>A segment whose buffer is all of <paramref name="buffer"/>.</summary>
    public static KexecSegment Of(byte[] buffer, ulong memory, ulong memorySize) => new(buffer, (ulong)buffer.Length, memory, memorySize);

    /// <summary>[mem, mem + memsz); only meaningful once the segment passed sanity_check_segment_list.</summary>
    public MemoryRange Destination => new(Memory, MemorySize);

    public override string ToString() =>
        FormattableString.Invariant($"segment bufsz=0x{BufferSize:x} mem=0x{Memory:x} memsz=0x{MemorySize:x}");
}
