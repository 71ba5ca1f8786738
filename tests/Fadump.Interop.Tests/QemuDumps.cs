namespace Fadump.Interop.Tests;

/// <summary>The three QEMU dumps of the same stopped guest (tests/fixtures/qemu/README.md).</summary>
internal static class QemuDumps
{
    /// <summary>QEMU's ELF dump (e_ehsize 8, program headers after the section headers).</summary>
    public const string Elf = "vmcore.elf";

    /// <summary>QEMU's kdump-zlib dump: makedumpfile's flattened format.</summary>
    public const string Flattened = "vmcore.kdump-zlib";

    /// <summary>The same after makedumpfile -R: a plain kdump-compressed file (with QEMU's wrong phys_base).</summary>
    public const string Rearranged = "vmcore.kdump-zlib.kdump";

    public static readonly string[] All = [Elf, Flattened, Rearranged];

    public static TheoryData<string> Names => new(All);
}
