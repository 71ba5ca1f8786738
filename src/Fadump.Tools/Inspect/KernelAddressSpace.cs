using Fadump.Formats;
using VmcoreInfoNote = Fadump.Formats.VmcoreInfo.VmcoreInfo;

namespace Fadump.Tools.Inspect;

/// <summary>
/// The crashed kernel's virtual address space over a dump's physical memory. Everything needed to
/// translate is found through VMCOREINFO (and the page tables it points to), so it works for any
/// <see cref="IDump"/> format. Reads are thread-safe when the dump's are.
/// </summary>
public abstract class KernelAddressSpace
{
    private protected KernelAddressSpace(IDump dump, VmcoreInfoNote info)
    {
        Dump = dump;
        VmcoreInfo = info;
    }

    public IDump Dump { get; }

    public VmcoreInfoNote VmcoreInfo { get; }

    public DumpMachine Machine => Dump.Machine;

    public bool BigEndian => Dump.Machine.BigEndian;

    /// <summary>Opens the address space for the dump's architecture.</summary>
    /// <exception cref="DumpFormatException">The dump has no VMCOREINFO, or it is unusable.</exception>
    public static KernelAddressSpace Create(IDump dump)
    {
        ArgumentNullException.ThrowIfNull(dump);
        var info = dump.VmcoreInfo
            ?? throw new DumpFormatException(dump.Path, "the dump has no VMCOREINFO note: kernel virtual addresses cannot be translated");
        return dump.Machine.Arch switch
        {
            DumpArch.X86_64 => new X86_64KernelAddressSpace(dump, info),
            DumpArch.Ppc64 => new Ppc64KernelAddressSpace(dump, info),
            _ => throw new DumpFormatException(dump.Path, $"unsupported architecture {dump.Machine}"),
        };
    }

    /// <summary>The physical address behind a kernel virtual address, or null when it is not mapped.</summary>
    public abstract ulong? ToPhysical(ulong vaddr);

    /// <summary>
    /// Why part of the kernel's address space cannot be translated (a damaged table in the dump, such as a
    /// truncated vmemmap_list), or null: addresses it would have mapped read as not in the dump.
    /// </summary>
    public virtual string? TranslationProblem => null;

    /// <summary>
    /// Reads kernel virtual memory, translating each page on its own (virtually contiguous pages
    /// need not be physically contiguous). Returns the count of bytes read before the first byte
    /// that is unmapped or not in the dump.
    /// </summary>
    public int ReadVirtual(ulong vaddr, Span<byte> buffer)
    {
        int done = 0;
        ulong pageSize = (ulong)Dump.PageSize;
        while (done < buffer.Length)
        {
            ulong v = vaddr + (ulong)done;
            if (v < vaddr)
            {
                break; // wrapped past the top of the address space
            }

            ulong? p = ToPhysical(v);
            if (p is not { } phys)
            {
                break;
            }

            int chunk = (int)Math.Min((ulong)(buffer.Length - done), pageSize - (v & (pageSize - 1)));
            int n = Dump.ReadPhysical(phys, buffer.Slice(done, chunk));
            done += n;
            if (n < chunk)
            {
                break;
            }
        }

        return done;
    }

    /// <summary>Reads exactly buffer.Length bytes or throws, naming what was being read.</summary>
    /// <exception cref="DumpFormatException">Part of the range is unmapped or not in the dump.</exception>
    public void ReadVirtualExactly(ulong vaddr, Span<byte> buffer, string what)
    {
        int n = ReadVirtual(vaddr, buffer);
        if (n < buffer.Length)
        {
            ulong bad = vaddr + (ulong)n;
            string why = ToPhysical(bad) is { } p
                ? FormattableString.Invariant($"physical address 0x{p:x} is not in the dump")
                : "the address is not mapped";
            throw new DumpFormatException(Dump.Path,
                FormattableString.Invariant($"cannot read {what} at kernel virtual address 0x{bad:x}: {why}"));
        }
    }

    public ulong ReadU64(ulong vaddr, string what)
    {
        Span<byte> b = stackalloc byte[8];
        ReadVirtualExactly(vaddr, b, what);
        return Endian.U64(b, BigEndian);
    }

    public uint ReadU32(ulong vaddr, string what)
    {
        Span<byte> b = stackalloc byte[4];
        ReadVirtualExactly(vaddr, b, what);
        return Endian.U32(b, BigEndian);
    }

    /// <summary>Reads a 64-bit value at a physical address, or null when it is not in the dump.</summary>
    private protected ulong? TryReadPhysicalU64(ulong paddr)
    {
        Span<byte> b = stackalloc byte[8];
        return Dump.ReadPhysical(paddr, b) == 8 ? Endian.U64(b, BigEndian) : null;
    }
}
