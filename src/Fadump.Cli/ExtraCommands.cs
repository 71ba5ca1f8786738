using System.CommandLine;
using Fadump.Formats;
using Fadump.Tools.Inspect;

namespace Fadump.Cli;

/// <summary>Commands registered beside info, regs and read.</summary>
internal static class ExtraCommands
{
    public static IEnumerable<Command> All(TextWriter stdout, TextWriter stderr)
    {
        yield return DmesgCommand(stdout, stderr);
        yield return CollectCommand.Create(stdout, stderr);
        foreach (var c in SaveCommands.All(stdout, stderr))
        {
            yield return c;
        }

        foreach (var c in SimCommands.All(stdout, stderr))
        {
            yield return c;
        }
    }

    private static Command DmesgCommand(TextWriter stdout, TextWriter stderr)
    {
        var dumpArg = FadumpCommand.DumpFilesArgument();
        var cmd = new Command("dmesg", "Print the crashed kernel's log exactly as makedumpfile --dump-dmesg writes it") { dumpArg };
        cmd.SetAction(p =>
        {
            using var dump = FadumpCommand.OpenDump(p.GetRequiredValue(dumpArg));
            var log = KernelLog.Read(dump);
            foreach (var w in log.Warnings)
            {
                stderr.WriteLine($"fadump: warning: {w}");
            }

            stdout.Flush();
            if (ReferenceEquals(stdout, Console.Out))
            {
                using var o = Console.OpenStandardOutput();
                log.WriteMakedumpfile(o);
            }
            else
            {
                stdout.Write(System.Text.Encoding.Latin1.GetString(log.ToMakedumpfileBytes()));
            }

            return FadumpCommand.ExitOk;
        });
        return cmd;
    }
}
