using System.CommandLine;

namespace Fadump.Cli;

/// <summary>
/// --num-threads of save and convert: the value given, or the CPU count. The count is not the option's default
/// value, so that the help says "all CPUs" rather than the number of the machine that printed it.
/// </summary>
internal static class ThreadCount
{
    public static int Of(ParseResult p, Option<int> option) =>
        p.GetResult(option) is null ? Environment.ProcessorCount : p.GetValue(option);
}
