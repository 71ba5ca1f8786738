using System.CommandLine;
using Fadump.Formats;
using Fadump.Tools.Inspect;

namespace Fadump.Cli;

/// <summary>Commands registered beside info, regs and read.</summary>
internal static class ExtraCommands
{
    public static IEnumerable<Command> All(TextWriter stdout, TextWriter stderr, Stream? rawStdout)
    {
        yield return DmesgCommand(stdout, stderr, rawStdout);
        yield return CollectCommand.Create(stdout, stderr);
        foreach (var c in SaveCommands.All(stdout, stderr, rawStdout))
        {
            yield return c;
        }

        foreach (var c in SimCommands.All(stdout, stderr))
        {
            yield return c;
        }
    }

    private static Command DmesgCommand(TextWriter stdout, TextWriter stderr, Stream? rawStdout)
    {
        var dumpArg = FadumpCommand.DumpFilesArgument();
        var cmd = new Command("dmesg", "Print the crashed kernel's log exactly as makedumpfile --dump-dmesg writes it (an OPAL core: skiboot's console)") { dumpArg };
        cmd.SetAction(p =>
        {
            using var dump = FadumpCommand.OpenDump(p.GetRequiredValue(dumpArg));
            if (OpalCore.TryRead(dump) is { } opal)
            {
                // skiboot's in-memory console, as /sys/firmware/opal/msglog would have shown it.
                WriteRaw(stdout, rawStdout, SkibootConsole.Read(opal).Text);
                return FadumpCommand.ExitOk;
            }

            var log = KernelLog.Read(dump);
            foreach (var w in log.Warnings)
            {
                stderr.WriteLine($"fadump: warning: {w}");
            }

            stdout.Flush();
            if (rawStdout is not null)
            {
                // The log's bytes as they are (not re-encoded), through write(2): a closed pipe is an error.
                using var o = new BufferedStream(rawStdout, 1 << 16);
                log.WriteMakedumpfile(o);
                o.Flush();
            }
            else
            {
                stdout.Write(System.Text.Encoding.Latin1.GetString(log.ToMakedumpfileBytes()));
            }

            return FadumpCommand.ExitOk;
        });
        return cmd;
    }

    private static void WriteRaw(TextWriter stdout, Stream? rawStdout, byte[] bytes)
    {
        stdout.Flush();
        if (rawStdout is not null)
        {
            rawStdout.Write(bytes);
            rawStdout.Flush();
        }
        else
        {
            stdout.Write(System.Text.Encoding.Latin1.GetString(bytes));
        }
    }
}
