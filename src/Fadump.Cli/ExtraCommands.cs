using System.CommandLine;

namespace Fadump.Cli;

/// <summary>Commands registered beside the inspection ones.</summary>
internal static class ExtraCommands
{
    public static IEnumerable<Command> All(TextWriter stdout, TextWriter stderr)
    {
        _ = stdout;
        _ = stderr;
        return [];
    }
}
