namespace Fadump.Formats.Tests.Robustness;

/// <summary>The valid files that the mutation test starts from: every format, machine and byte order.</summary>
internal static class MutationCorpus
{
    public static readonly string[] Names = ["elf-x86_64", "elf-ppc64le", "elf-ppc64"];

    public static byte[] Build(string name) => name switch
    {
        "elf-x86_64" => TestDumps.BuildElf(DumpMachine.X86_64, 4096),
        "elf-ppc64le" => TestDumps.BuildElf(DumpMachine.Ppc64le, 65536),
        "elf-ppc64" => TestDumps.BuildElf(DumpMachine.Ppc64, 65536),
        _ => throw new ArgumentException(name),
    };
}
