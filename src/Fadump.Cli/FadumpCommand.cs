using System.CommandLine;
using System.Globalization;
using Fadump.Formats;
using Fadump.Tools.Inspect;

namespace Fadump.Cli;

/// <summary>
/// The `fadump` command line (shared/DESIGN.md §5). Exit codes: 0 ok, 1 failure, 2 usage error.
/// </summary>
public static class FadumpCommand
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;

    /// <summary>
    /// The process's entry point: standard output through write(2), so that a closed pipe is an error
    /// (exit 1, "fadump: standard output: Broken pipe") and not a silent success; the signal handlers.
    /// </summary>
    public static int RunProcess(string[] args)
    {
        Signals.Install();
        var raw = new StandardOutput();
        var stdout = new StreamWriter(raw, new System.Text.UTF8Encoding(false), 1 << 14) { AutoFlush = true };
        int rc = Run(args, stdout, Console.Error, raw);
        try
        {
            stdout.Flush();
        }
        catch (IOException e)
        {
            if (rc == ExitOk)
            {
                Console.Error.WriteLine($"fadump: {e.Message}");
                rc = ExitFailure;
            }
        }

        return Signals.Received is > 0 and int s ? 128 + s : rc;
    }

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => Run(args, stdout, stderr, rawStdout: null);

    /// <param name="rawStdout">Standard output for binary data (save -F, dmesg); null: text through stdout, -F to descriptor 1.</param>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, Stream? rawStdout)
    {
        var root = Build(stdout, stderr, rawStdout);
        var parse = root.Parse(args);
        if (args.Length > 0 && args[0].Length > 0 && args[0][0] != '-'
            && !root.Subcommands.Any(c => c.Name == args[0] || c.Aliases.Contains(args[0])))
        {
            // Not "Required command was not provided" first: say which word is not a command, and what the commands are.
            stderr.WriteLine($"fadump: '{args[0]}' is not a fadump command; the commands are: {string.Join(", ", root.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))}");
            stderr.WriteLine("Try 'fadump --help' for more information.");
            return ExitUsage;
        }

        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors)
            {
                stderr.WriteLine($"fadump: {e.Message}");
            }

            stderr.WriteLine("Try 'fadump --help' for more information.");
            return ExitUsage;
        }

        try
        {
            // Signals are ours (Signals): System.CommandLine's handler would end the process after a timeout.
            var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
            return parse.InvokeAsync(config, Signals.Token).GetAwaiter().GetResult();
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"fadump: {e.Message}");
            return ExitUsage;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or NotSupportedException)
        {
            stderr.WriteLine($"fadump: {Describe(e)}");
            return ExitFailure;
        }
    }

    /// <summary>"PATH: reason" where .NET's message lacks the form (FileNotFoundException: "Could not find file '...'.").</summary>
    internal static string Describe(Exception e) => e switch
    {
        FileNotFoundException { FileName: { } f } => $"{f}: No such file or directory",
        _ => e.Message,
    };

    private static RootCommand Build(TextWriter stdout, TextWriter stderr, Stream? rawStdout)
    {
        var root = new RootCommand("Fadump: firmware-assisted crash dump for Linux, simulated platform and real tools");
        root.Subcommands.Add(InfoCommand(stdout, stderr));
        root.Subcommands.Add(RegsCommand(stdout));
        root.Subcommands.Add(ReadCommand(stdout));
        foreach (var c in ExtraCommands.All(stdout, stderr, rawStdout))
        {
            root.Subcommands.Add(c);
        }

        return root;
    }

    internal static Argument<string> DumpArgument() => new("DUMP") { Description = "a vmcore: ELF, kdump-compressed or flattened" };

    /// <summary>One dump, or the files of a makedumpfile --split set.</summary>
    internal static Argument<string[]> DumpFilesArgument() => new("DUMP") { Description = "a vmcore (ELF, kdump-compressed or flattened), or every file of a --split set", Arity = ArgumentArity.OneOrMore };

    internal static IDump OpenDump(string[] files) => files.Length == 1 ? DumpFile.Open(files[0]) : DumpFile.Open(files);

    /// <summary>info prints the summary of an incomplete (flagged or truncated) dump too, then exits 1 (DESIGN.md §5: a partial dump exits non-zero).</summary>
    private static Command InfoCommand(TextWriter stdout, TextWriter stderr)
    {
        var dumpArg = DumpFilesArgument();
        var json = new Option<bool>("--json") { Description = "print as JSON" };
        var cmd = new Command("info", "Summarise a dump: format, architecture, release, CPUs, crash time, dump level, pages") { dumpArg, json };
        cmd.SetAction(p =>
        {
            using var dump = OpenDump(p.GetRequiredValue(dumpArg));
            var summary = DumpSummary.Of(dump, PanicFinder.Find(dump));
            stdout.Write(p.GetValue(json) ? summary.ToJson() : summary.ToText());
            if (summary.IncompleteReason is { } why)
            {
                stderr.WriteLine($"fadump: {dump.Path}: the dump is incomplete: {why}");
                return ExitFailure;
            }

            return ExitOk;
        });
        return cmd;
    }

    private static Command RegsCommand(TextWriter stdout)
    {
        var dumpArg = DumpFilesArgument();
        var json = new Option<bool>("--json") { Description = "print as JSON" };
        var cmd = new Command("regs", "Print every CPU's registers (NT_PRSTATUS notes)") { dumpArg, json };
        cmd.SetAction(p =>
        {
            using var dump = OpenDump(p.GetRequiredValue(dumpArg));
            stdout.Write(p.GetValue(json) ? RegisterReport.ToJson(dump) : RegisterReport.ToText(dump));
            return ExitOk;
        });
        return cmd;
    }

    /// <summary>fadump read reads and prints this much at a time.</summary>
    private const int ReadChunkBytes = 1 << 20;

    private static Command ReadCommand(TextWriter stdout)
    {
        var dumpArg = DumpArgument();
        var addrArg = new Argument<string>("ADDRESS") { Description = "kernel virtual address (hex, 0x optional) or a VMCOREINFO symbol (init_uts_ns), +OFFSET optional (decimal, or hex with 0x); physical with --physical" };
        var lenArg = new Argument<string>("LENGTH") { Description = "bytes to read (default 64; K/M suffixes)", Arity = ArgumentArity.ZeroOrOne };
        var physical = new Option<bool>("--physical", "-p") { Description = "ADDRESS is a physical address" };
        var cmd = new Command("read", "Hex-dump memory from a dump at a kernel virtual or physical address") { dumpArg, addrArg, lenArg, physical };
        cmd.SetAction(p =>
        {
            long length = p.GetValue(lenArg) is { } l ? Sizes.Parse(l) : 64;
            if (length is <= 0 or > (64L << 20))
            {
                throw new UsageException("LENGTH must be between 1 and 64M");
            }

            using var dump = DumpFile.Open(p.GetRequiredValue(dumpArg));
            ulong address = ReadAddress.Resolve(p.GetRequiredValue(addrArg), dump, p.GetValue(physical));

            // A chunk at a time, each hex-dumped as it is read: memory stays bounded whatever LENGTH is.
            var buf = new byte[(int)Math.Min(length, ReadChunkBytes)];
            for (long done = 0; done < length;)
            {
                int want = (int)Math.Min(buf.Length, length - done);
                ulong at = address + (ulong)done;
                int n = MemoryReader.Read(dump, at, buf.AsSpan(0, want), p.GetValue(physical));
                HexDump.Write(stdout, at, buf.AsSpan(0, n));
                if (n < want)
                {
                    throw new IOException(string.Create(CultureInfo.InvariantCulture,
                        $"{dump.Path}: {(p.GetValue(physical) ? "physical" : "virtual")} address 0x{at + (ulong)n:x} is not in the dump"));
                }

                done += n;
            }

            return ExitOk;
        });
        return cmd;
    }
}

/// <summary>A command-line mistake: exit status 2.</summary>
public sealed class UsageException(string message) : Exception(message);
