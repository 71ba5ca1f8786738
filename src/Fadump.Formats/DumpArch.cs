namespace Fadump.Formats;

/// <summary>The architecture of the machine that crashed. Byte order is separate: ppc64 is both.</summary>
public enum DumpArch
{
    X86_64,
    Ppc64,
}

/// <summary>Architecture plus byte order: everything needed to lay out or parse a dump's records.</summary>
public readonly record struct DumpMachine(DumpArch Arch, bool BigEndian)
{
    public static DumpMachine X86_64 => new(DumpArch.X86_64, false);
    public static DumpMachine Ppc64le => new(DumpArch.Ppc64, false);
    public static DumpMachine Ppc64 => new(DumpArch.Ppc64, true);

    /// <summary>ELF e_machine: EM_X86_64 62, EM_PPC64 21.</summary>
    public ushort ElfMachine => Arch == DumpArch.X86_64 ? (ushort)62 : (ushort)21;

    /// <summary>ELF e_flags for ppc64: 2 = ELFv2 ABI (LE), 1 = ELFv1 (BE).</summary>
    public uint ElfFlags => Arch == DumpArch.Ppc64 ? (BigEndian ? 1u : 2u) : 0u;

    /// <summary>The default page size a kernel of this arch uses (Debian: ppc64 64 KiB, x86_64 4 KiB).</summary>
    public int DefaultPageSize => Arch == DumpArch.X86_64 ? 4096 : 65536;

    /// <summary>utsname machine string as the kernel reports it.</summary>
    public string UtsMachine => Arch == DumpArch.X86_64 ? "x86_64" : BigEndian ? "ppc64" : "ppc64le";

    /// <summary>Parses "x86_64", "ppc64le", "ppc64".</summary>
    public static DumpMachine Parse(string name) => name switch
    {
        "x86_64" or "amd64" => X86_64,
        "ppc64le" or "powerpc64le" => Ppc64le,
        "ppc64" or "powerpc64" => Ppc64,
        _ => throw new ArgumentException($"unknown architecture '{name}' (expected x86_64, ppc64le or ppc64)", nameof(name)),
    };

    public override string ToString() => UtsMachine;
}
