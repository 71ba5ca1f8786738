using System.CommandLine;
using System.Globalization;
using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Formats.Flattened;
using Fadump.Formats.Kdump;
using Fadump.Formats.IO;
using Fadump.Tools.Collector;
using Fadump.Tools.Inspect;
using Fadump.Tools.Output;
using Spectre.Console;

namespace Fadump.Cli;

/// <summary>
/// `fadump save` (makedumpfile's options and meanings) and `fadump convert`, both on <see cref="DumpSaver"/>.
/// Exit codes: 0 ok, 1 failure (an incomplete dump too), 2 usage.
/// </summary>
internal static class SaveCommands
{
    // makedumpfile --message-level bits.
    private const int MlProgress = 1;
    private const int MlCommon = 2;
    private const int MlError = 4;
    private const int MlDebug = 8;
    private const int MlReport = 16;

    public static IEnumerable<Command> All(TextWriter stdout, TextWriter stderr, Stream? rawStdout)
    {
        yield return Save(stdout, stderr, rawStdout);
        yield return Convert(stdout, stderr, rawStdout);
    }

    private sealed class CompressionOptions
    {
        public Option<bool> Zlib { get; } = new("-c") { Description = "compress pages with zlib" };

        public Option<bool> Lzo { get; } = new("-l") { Description = "compress pages with lzo" };

        public Option<bool> Snappy { get; } = new("-p") { Description = "compress pages with snappy" };

        public Option<bool> Zstd { get; } = new("-z") { Description = "compress pages with zstd" };

        public void AddTo(Command c)
        {
            c.Options.Add(Zlib);
            c.Options.Add(Lzo);
            c.Options.Add(Snappy);
            c.Options.Add(Zstd);
        }

        public PageCompression Get(ParseResult p)
        {
            var chosen = new List<PageCompression>();
            if (p.GetValue(Zlib))
            {
                chosen.Add(PageCompression.Zlib);
            }

            if (p.GetValue(Lzo))
            {
                chosen.Add(PageCompression.Lzo);
            }

            if (p.GetValue(Snappy))
            {
                chosen.Add(PageCompression.Snappy);
            }

            if (p.GetValue(Zstd))
            {
                chosen.Add(PageCompression.Zstd);
            }

            return chosen.Count switch
            {
                0 => PageCompression.None,
                1 => chosen[0],
                _ => throw new UsageException("-c, -l, -p and -z are mutually exclusive"),
            };
        }
    }

    private static Command Save(TextWriter stdout, TextWriter stderr, Stream? rawStdout)
    {
        var files = new Argument<string[]>("FILES") { Description = "VMCORE OUTFILE (-F: VMCORE only; -R: OUTFILE only; --dump-dmesg: VMCORE LOGFILE; --split: VMCORE OUTFILE1 OUTFILE2 [...]; --reassemble: OUTFILE1 OUTFILE2 [...] OUTFILE)", Arity = ArgumentArity.OneOrMore };
        var level = new Option<string>("-d") { HelpName = "LEVEL", Description = "dump level 0-31 (sum of 1 zero, 2 cache, 4 private cache, 8 user, 16 free); A,B retries at B when A does not fit", DefaultValueFactory = _ => "0" };
        var comp = new CompressionOptions();
        var elf = new Option<bool>("-E") { Description = "write an ELF core instead of kdump-compressed" };
        var flat = new Option<bool>("-F") { Description = "write the flattened format to standard output (OUTFILE omitted)" };
        var rearrange = new Option<bool>("-R") { Description = "rearrange a flattened dump read from standard input into OUTFILE" };
        var threads = new Option<int>("--num-threads") { HelpName = "N", Description = "threads that read and compress pages (default: all CPUs)" };
        var dmesg = new Option<bool>("--dump-dmesg") { Description = "write the kernel log to LOGFILE as makedumpfile --dump-dmesg does, instead of a dump" };
        var ml = new Option<int>("--message-level") { HelpName = "ML", Description = "message types: 1 progress, 2 common, 4 error, 8 debug, 16 report", DefaultValueFactory = _ => 7 };
        var limit = new Option<string?>("-L") { HelpName = "SIZE", Description = "limit the dump file to SIZE bytes (K/M/G/T); beyond it the dump is incomplete, or retried at the next -d level" };
        var force = new Option<bool>("-f") { Description = "overwrite OUTFILE if it exists" };
        var dryRun = new Option<bool>("--dry-run") { Description = "do everything but write OUTFILE (with --show-stats: what a save would keep)" };
        var showStats = new Option<bool>("--show-stats") { Description = "print the report (message level 16)" };
        var split = new Option<bool>("--split") { Description = "write a split set, as makedumpfile --split: one kdump-compressed file per OUTFILE, each holding the pages of its own range of memory" };
        var reassemble = new Option<bool>("--reassemble") { Description = "join the files of a split set into the last FILE, as makedumpfile --reassemble" };
        var splitBlock = new Option<long>("--splitblock-size") { Description = "with --split: the KiB of memory in which it is cut among the files", HelpName = "KB", DefaultValueFactory = _ => SplitPlanDefaults.SplitBlockKilobytes };
        var cmd = new Command("save", "Save a vmcore as makedumpfile does: filter by dump level, compress, write kdump-compressed, ELF, flattened or a split set")
        {
            files, level, elf, flat, rearrange, threads, dmesg, ml, limit, force, dryRun, showStats, split, reassemble, splitBlock,
        };
        comp.AddTo(cmd);
        cmd.SetAction((p, ct) => Task.FromResult(RunSave(stdout, stderr, rawStdout, ct, new SaveArgs(
            p.GetRequiredValue(files), p.GetValue(level)!, comp.Get(p), p.GetValue(elf), p.GetValue(flat), p.GetValue(rearrange),
            ThreadCount.Of(p, threads), p.GetValue(dmesg), p.GetValue(ml) | (p.GetValue(showStats) ? MlReport : 0), p.GetValue(limit), p.GetValue(force))
        {
            DryRun = p.GetValue(dryRun),
            Split = p.GetValue(split),
            Reassemble = p.GetValue(reassemble),
            SplitBlockKilobytes = p.GetValue(splitBlock),
        })));
        return cmd;
    }

    private static Command Convert(TextWriter stdout, TextWriter stderr, Stream? rawStdout)
    {
        var input = new Argument<string>("IN") { Description = "a dump: ELF, kdump-compressed or flattened" };
        var output = new Argument<string>("OUT") { Description = "the file to write" };
        var format = new Option<string>("--format") { HelpName = "kdump|elf|flat", Description = "kdump, elf or flat (flattened kdump-compressed)", DefaultValueFactory = _ => "kdump" };
        var level = new Option<int>("-d") { HelpName = "LEVEL", Description = "dump level 0-31", DefaultValueFactory = _ => 0 };
        var threads = new Option<int>("--num-threads") { HelpName = "N", Description = "threads that read and compress pages (default: all CPUs)" };
        var ml = new Option<int>("--message-level") { HelpName = "ML", Description = "message types as for save", DefaultValueFactory = _ => 7 };
        var force = new Option<bool>("-f") { Description = "overwrite OUT if it exists" };
        var comp = new CompressionOptions();
        var cmd = new Command("convert", "Convert a dump to kdump-compressed, ELF or flattened (same pipeline as save; default: kdump, level 0, uncompressed)")
        {
            input, output, format, level, threads, ml, force,
        };
        comp.AddTo(cmd);
        cmd.SetAction((p, ct) =>
        {
            string f = p.GetValue(format)!;
            if (f is not ("kdump" or "elf" or "flat"))
            {
                throw new UsageException($"--format must be kdump, elf or flat, not '{f}'");
            }

            var a = new SaveArgs([p.GetRequiredValue(input), p.GetRequiredValue(output)], p.GetValue(level).ToString(CultureInfo.InvariantCulture),
                comp.Get(p), f == "elf", Flat: false, Rearrange: false, ThreadCount.Of(p, threads), Dmesg: false, p.GetValue(ml), Limit: null, Force: p.GetValue(force))
            { FlattenedFile = f == "flat" };
            return Task.FromResult(RunSave(stdout, stderr, rawStdout, ct, a));
        });
        return cmd;
    }

    private sealed record SaveArgs(string[] Files, string Level, PageCompression Compression, bool Elf, bool Flat, bool Rearrange, int Threads, bool Dmesg, int MessageLevel, string? Limit, bool Force)
    {
        public bool FlattenedFile { get; init; }

        /// <summary>--dry-run: the whole save into a null stream; OUTFILE is not touched.</summary>
        public bool DryRun { get; init; }

        /// <summary>--split: Files are VMCORE and the files of the set.</summary>
        public bool Split { get; init; }

        /// <summary>--reassemble: Files are the files of a set and the file to write.</summary>
        public bool Reassemble { get; init; }

        public long SplitBlockKilobytes { get; init; } = SplitPlanDefaults.SplitBlockKilobytes;
    }

    private static class SplitPlanDefaults
    {
        /// <summary>makedumpfile DEFAULT_SPLITBLOCK_SIZE (1 GiB), in the KiB --splitblock-size takes.</summary>
        public const long SplitBlockKilobytes = 1L << 20;
    }

    /// <remarks>
    /// SIGINT, SIGTERM, SIGHUP (<see cref="Signals"/>): the save stops at the next batch; a file output that got
    /// its header keeps what was written under OUTFILE, flagged incomplete (status 0x8 / e_flags bit 0), as after
    /// a full disk; one that did not is removed. Then exit 128 + the signal. A partial dump is kept because it may
    /// be the only copy (SIGTERM at shutdown in the capture kernel), and its format and `info` say it is partial.
    /// makedumpfile handles no signal: it dies leaving its partial file unflagged under the final name.
    /// </remarks>
    private static int RunSave(TextWriter stdout, TextWriter stderr, Stream? rawStdout, CancellationToken ct, SaveArgs a)
    {
        using var cooperate = Signals.Cooperate();
        int ml = a.MessageLevel;
        if (ml is < 0 or > 31)
        {
            throw new UsageException("--message-level must be between 0 and 31");
        }

        void Common(string s)
        {
            if ((ml & MlCommon) != 0)
            {
                stderr.WriteLine(s);
            }
        }

        if (a.Split && a.Reassemble)
        {
            throw new UsageException("--split and --reassemble cannot be used together");
        }

        if (a.Reassemble)
        {
            return RunReassemble(a, Common, ct);
        }

        if (a.Split)
        {
            CheckSplit(a);
        }

        if (a.Rearrange)
        {
            if (a.Files.Length != 1)
            {
                throw new UsageException("-R takes one OUTFILE and reads the flattened dump from standard input");
            }

            using var file = new PrivateOutputFile(a.Files[0], a.Force);
            using var stdin = Console.OpenStandardInput();
            FlattenedRearranger.Rearrange(stdin, new FileSink(file.Handle), "<stdin>");
            file.Commit();
            Common($"The dumpfile is saved to {a.Files[0]}.");
            Common("fadump save Completed.");
            return FadumpCommand.ExitOk;
        }

        if (a.Dmesg)
        {
            if (a.Files.Length != 2)
            {
                throw new UsageException("--dump-dmesg takes VMCORE LOGFILE");
            }

            PrivateOutputFile.CheckTarget(a.Files[1], a.Force);
            using var dump = DumpFile.Open(a.Files[0]);
            var log = KernelLog.Read(dump);
            foreach (var w in log.Warnings)
            {
                Common($"fadump: warning: {w}");
            }

            using var file = new PrivateOutputFile(a.Files[1], a.Force);
            using (var fs = new FileStream(file.Handle, FileAccess.ReadWrite, 1 << 16, false))
            {
                log.WriteMakedumpfile(fs);
                fs.Flush();
                file.Commit();
            }

            Common($"The dmesg log is saved to {a.Files[1]}.");
            Common("fadump save Completed.");
            return FadumpCommand.ExitOk;
        }

        if (!a.Split && (a.Flat ? a.Files.Length != 1 : a.Files.Length != 2))
        {
            throw new UsageException(a.Flat ? "-F writes to standard output: give VMCORE only" : "give VMCORE and OUTFILE");
        }

        var levels = ParseLevels(a.Level);
        if (a.Elf && a.Compression != PageCompression.None)
        {
            throw new UsageException("-E cannot be used with -c, -l, -p or -z: the ELF format has no compressed pages");
        }

        if (a.Threads is < 1 or > 256)
        {
            throw new UsageException("--num-threads must be between 1 and 256");
        }

        long? limit = a.Limit is null ? null : Sizes.Parse(a.Limit);
        if (a.Split)
        {
            return RunSplit(stderr, ct, a, levels, limit);
        }

        bool existed = false;
        if (!a.Flat && !a.DryRun)
        {
            PrivateOutputFile.CheckTarget(a.Files[1], a.Force);
            existed = File.Exists(a.Files[1]);
        }

        using var input = DumpFile.Open(a.Files[0]);
        if (!input.IsIncomplete && input.IncompleteReason is { } truncated)
        {
            // Its missing pages cannot be read (only a writer's flag says which are lost): refused before OUTFILE exists.
            throw new IOException($"{input.Path}: the input dump is incomplete: {truncated}");
        }

        var options = new SaveOptions
        {
            DumpLevel = levels[0],
            FallbackLevels = levels.Skip(1).ToList(),
            Compression = a.Compression,
            Format = a.Elf ? SaveFormat.Elf : SaveFormat.Kdump,
            Flattened = a.Flat || a.FlattenedFile,
            Threads = a.Threads,
            SizeLimit = limit,
            MessageLevel = ml,
            Overwrite = a.Force,
        };
        if ((ml & MlDebug) != 0)
        {
            stderr.WriteLine(FormattableString.Invariant($"input: {input.Path} ({input.Format}{(input.IsFlattened ? ", flattened" : string.Empty)}, {input.Machine}, page size {input.PageSize}, max PFN 0x{input.MaxPfn:x})"));
            stderr.WriteLine(FormattableString.Invariant($"dump level {string.Join(',', levels)}, {options.Format}, compression {PageCodec.DescribeImplementation(a.Compression)}, {a.Threads} threads"));
        }

        SaveResult r;
        try
        {
            r = WithProgress(stderr, (ml & MlProgress) != 0, options, o => SaveTo(input, a, o, stdout, rawStdout, ct));
        }
        catch (Exception e) when (e is IOException or InvalidDataException && !a.Flat && !a.DryRun && File.Exists(a.Files[1]) && !existed)
        {
            // The input failed part-way: what was written is kept, flagged (DumpSaver); say so.
            stderr.WriteLine($"fadump: {FadumpCommand.Describe(e)}");
            stderr.WriteLine($"fadump: {a.Files[1]}: the dump is incomplete (flagged in the file); fadump save Failed.");
            return FadumpCommand.ExitFailure;
        }
        catch (OperationCanceledException)
        {
            if ((ml & MlError) != 0)
            {
                string why = Signals.Received > 0 ? $"interrupted by {Signals.Name(Signals.Received)}" : "interrupted";
                string what = a.DryRun ? "nothing was written"
                    : a.Flat ? $"the dump on {StandardOutput.Name} is incomplete"
                    : File.Exists(a.Files[1]) ? $"{a.Files[1]}: the dump is incomplete (flagged in the file)"
                    : $"nothing was written to {a.Files[1]}";
                stderr.WriteLine($"fadump: {why}: {what}; fadump save Failed.");
            }

            return FadumpCommand.ExitFailure;
        }

        foreach (var w in r.Warnings)
        {
            Common($"fadump: warning: {w}");
        }

        if ((ml & MlReport) != 0)
        {
            stderr.Write(Report(r));
        }

        if (r.Incomplete)
        {
            if ((ml & MlError) != 0)
            {
                stderr.WriteLine($"fadump: {r.Error}");
                string what = a.Flat ? $"the dump on {StandardOutput.Name} is incomplete"
                    : a.DryRun ? "the dump would be incomplete"
                    : File.Exists(a.Files[1]) ? $"{a.Files[1]}: the dump is incomplete (flagged in the file)"
                    : $"nothing was kept: {a.Files[1]} was not written";
                stderr.WriteLine($"fadump: {what}; fadump save Failed.");
            }

            return FadumpCommand.ExitFailure;
        }

        if (!a.Flat && !a.DryRun)
        {
            Common($"The dumpfile is saved to {a.Files[1]}.");
        }

        Common("fadump save Completed.");
        return FadumpCommand.ExitOk;
    }

    /// <summary>makedumpfile check_param_for_creating_dumpfile, for --split: what it refuses, refused here before anything is opened.</summary>
    private static void CheckSplit(SaveArgs a)
    {
        if (a.Elf)
        {
            throw new UsageException("--split cannot be used with -E: options for splitting dumpfile cannot be used with Elf format");
        }

        if (a.Flat)
        {
            throw new UsageException("--split cannot be used with -F: each file of a split set is written in place, not to standard output");
        }

        if (a.Rearrange || a.Dmesg)
        {
            throw new UsageException($"--split cannot be used with {(a.Rearrange ? "-R" : "--dump-dmesg")}");
        }

        if (a.DryRun)
        {
            throw new UsageException("--dry-run cannot be used with --split");
        }

        if (a.Files.Length < 3)
        {
            throw new UsageException("--split takes VMCORE and at least two OUTFILEs");
        }

        if (a.SplitBlockKilobytes < 1)
        {
            throw new UsageException("--splitblock-size must be at least 1 (KiB)");
        }
    }

    private static int RunSplit(TextWriter stderr, CancellationToken ct, SaveArgs a, List<int> levels, long? limit)
    {
        int ml = a.MessageLevel;
        var outputs = a.Files[1..];
        foreach (var o in outputs)
        {
            PrivateOutputFile.CheckTarget(o, a.Force);
        }

        using var input = DumpFile.Open(a.Files[0]);
        if (!input.IsIncomplete && input.IncompleteReason is { } truncated)
        {
            throw new IOException($"{input.Path}: the input dump is incomplete: {truncated}");
        }

        if (a.SplitBlockKilobytes > long.MaxValue / 1024 || a.SplitBlockKilobytes * 1024 < input.PageSize)
        {
            throw new UsageException(FormattableString.Invariant($"--splitblock-size {a.SplitBlockKilobytes}: expected at least one page ({input.PageSize / 1024} KiB)"));
        }

        var options = new SaveOptions
        {
            DumpLevel = levels[0],
            FallbackLevels = levels.Skip(1).ToList(),
            Compression = a.Compression,
            Format = SaveFormat.Kdump,
            Threads = a.Threads,
            SizeLimit = limit,
            MessageLevel = ml,
            Overwrite = a.Force,
            SplitBlockBytes = a.SplitBlockKilobytes * 1024,
        };
        var existed = outputs.Where(File.Exists).ToHashSet(StringComparer.Ordinal);
        SaveResult r;
        try
        {
            r = WithProgress(stderr, (ml & MlProgress) != 0, options, o => DumpSaver.SaveSplit(input, outputs, o, ct));
        }
        catch (Exception e) when (e is IOException or InvalidDataException or OperationCanceledException)
        {
            if ((ml & MlError) != 0)
            {
                string why = e is OperationCanceledException
                    ? Signals.Received > 0 ? $"interrupted by {Signals.Name(Signals.Received)}" : "interrupted"
                    : FadumpCommand.Describe(e);
                stderr.WriteLine($"fadump: {why}");
                foreach (var o in outputs.Where(o => File.Exists(o) && !existed.Contains(o)))
                {
                    stderr.WriteLine($"fadump: {o}: the dump is incomplete (flagged in the file)");
                }

                stderr.WriteLine("fadump save Failed.");
            }

            return FadumpCommand.ExitFailure;
        }

        foreach (var w in r.Warnings)
        {
            if ((ml & MlCommon) != 0)
            {
                stderr.WriteLine($"fadump: warning: {w}");
            }
        }

        if ((ml & MlReport) != 0)
        {
            stderr.Write(Report(r));
        }

        if (r.Incomplete)
        {
            if ((ml & MlError) != 0)
            {
                stderr.WriteLine($"fadump: {r.Error}");
                foreach (var f in r.SplitFiles ?? [])
                {
                    if (f.Incomplete)
                    {
                        stderr.WriteLine(File.Exists(f.Path)
                            ? $"fadump: {f.Path}: the dump is incomplete (flagged in the file)"
                            : $"fadump: nothing was kept: {f.Path} was not written");
                    }
                }

                stderr.WriteLine("fadump: the split set is incomplete; fadump save Failed.");
            }

            return FadumpCommand.ExitFailure;
        }

        if ((ml & MlCommon) != 0)
        {
            // makedumpfile's words: "The dumpfiles are saved to A, B, and C."
            stderr.WriteLine($"The dumpfiles are saved to {string.Join(", ", outputs[..^1])}, and {outputs[^1]}.");
            stderr.WriteLine("fadump save Completed.");
        }

        return FadumpCommand.ExitOk;
    }

    /// <summary>makedumpfile --reassemble: FILES are the set's files, then the file to write; no filtering or compression options.</summary>
    private static int RunReassemble(SaveArgs a, Action<string> common, CancellationToken ct)
    {
        if (a.Compression != PageCompression.None || a.Level != "0" || a.Elf || a.Flat || a.Rearrange || a.Dmesg || a.Limit is not null)
        {
            throw new UsageException("--reassemble cannot be used with -c, -l, -p, -z, -d, -E, -F, -R, -L or --dump-dmesg: it joins the files as they are");
        }

        if (a.DryRun)
        {
            throw new UsageException("--dry-run cannot be used with --reassemble");
        }

        if (a.Files.Length < 3)
        {
            throw new UsageException("--reassemble takes the files of a split set (at least two) and the file to write");
        }

        string output = a.Files[^1];
        var inputs = a.Files[..^1];
        string full = Path.GetFullPath(output);
        if (inputs.Any(i => Path.GetFullPath(i) == full))
        {
            throw new UsageException($"{output}: the file to write is one of the files of the set");
        }

        PrivateOutputFile.CheckTarget(output, a.Force);
        using var set = KdumpSplitSet.Open(inputs);
        using var file = new PrivateOutputFile(output, a.Force);
        var r = KdumpReassembler.Reassemble(set, new FileSink(file.Handle), ct: ct);
        if (r.Incomplete)
        {
            file.CommitIncomplete();
            common($"fadump: {output}: a file of the set is incomplete, and so is the dump (flagged in the file); fadump save Failed.");
            return FadumpCommand.ExitFailure;
        }

        file.Commit();
        common($"The dumpfile is saved to {output}.");
        common("fadump save Completed.");
        return FadumpCommand.ExitOk;
    }

    private static SaveResult SaveTo(IDump input, SaveArgs a, SaveOptions o, TextWriter stdout, Stream? rawStdout, CancellationToken ct)
    {
        if (a.DryRun)
        {
            return DumpSaver.Save(input, Stream.Null, o, ct);
        }

        if (!a.Flat)
        {
            return DumpSaver.Save(input, a.Files[1], o, ct);
        }

        // -F: flattened records on standard output, for a pipe or ssh; write(2), so that a reader that went
        // away (EPIPE) fails the save. Not disposed: after a failed write its Dispose would flush again.
        stdout.Flush();
        var buffered = new BufferedStream(rawStdout ?? new StandardOutput(), 1 << 20);
        return DumpSaver.Save(input, buffered, o, ct);
    }

    private static List<int> ParseLevels(string s)
    {
        var levels = new List<int>();
        foreach (var part in s.Split(','))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int l) || l > 31)
            {
                throw new UsageException($"-d '{s}': expected a dump level 0-31, or levels separated by commas");
            }

            levels.Add(l);
        }

        return levels;
    }

    /// <summary>Progress on stderr: a Spectre.Console bar on a terminal, plain lines every few seconds otherwise.</summary>
    private static SaveResult WithProgress(TextWriter stderr, bool show, SaveOptions o, Func<SaveOptions, SaveResult> save)
    {
        if (!show)
        {
            return save(o);
        }

        bool terminal = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        if (!terminal)
        {
            var last = TimeSpan.FromDays(-1);
            return save(o with
            {
                Progress = new SyncProgress(sp =>
                {
                    if (sp.Phase == SavePhase.Done || sp.Elapsed - last >= TimeSpan.FromSeconds(2))
                    {
                        last = sp.Elapsed;
                        stderr.WriteLine(PlainLine(sp));
                    }
                }),
            });
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        SaveResult? result = null;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var scan = ctx.AddTask("Scanning struct pages", maxValue: 1);
                var write = ctx.AddTask("Copying data", autoStart: false, maxValue: 1);
                result = save(o with
                {
                    Progress = new SyncProgress(sp =>
                    {
                        if (sp.Phase == SavePhase.Scanning)
                        {
                            scan.Value = sp.Fraction;
                        }
                        else
                        {
                            scan.Value = 1;
                            if (!write.IsStarted)
                            {
                                write.StartTask();
                            }

                            write.Value = sp.Fraction;
                            write.Description = FormattableString.Invariant($"Copying data ({sp.ReadBytesPerSecond / (1 << 20):F0} MiB/s)");
                        }
                    }),
                });
                scan.Value = 1;
                write.Value = 1;
            });
        return result!;
    }

    private static string PlainLine(SaveProgress sp)
    {
        string phase = sp.Phase switch
        {
            SavePhase.Scanning => "Scanning struct pages",
            SavePhase.Writing => "Copying data",
            _ => "Done",
        };
        string eta = sp.Eta is { } e ? FormattableString.Invariant($", ETA {e:hh\\:mm\\:ss}") : string.Empty;
        return FormattableString.Invariant($"{phase,-22}: [{sp.Fraction * 100,5:F1} %] {sp.BytesRead >> 20} MiB read, {sp.ReadBytesPerSecond / (1 << 20):F0} MiB/s, {sp.BytesWritten >> 20} MiB written, {sp.Elapsed:hh\\:mm\\:ss}{eta}");
    }

    /// <summary>makedumpfile's print_report, from the result.</summary>
    internal static string Report(SaveResult r)
    {
        ulong Get(string k) => r.ExcludedByClass.TryGetValue(k, out ulong v) ? v : 0;
        ulong excluded = r.TotalPages - r.DumpedPages;
        var sb = new System.Text.StringBuilder();
        void Line(string s) => sb.Append(s).Append('\n');
        Line(string.Empty);
        Line(FormattableString.Invariant($"Original pages  : 0x{r.TotalPages:x16}"));
        Line(FormattableString.Invariant($"  Excluded pages   : 0x{excluded:x16}"));
        Line(FormattableString.Invariant($"    Pages filled with zero  : 0x{Get(PageClassNames.Zero):x16}"));
        Line(FormattableString.Invariant($"    Non-private cache pages : 0x{Get(PageClassNames.Cache):x16}"));
        Line(FormattableString.Invariant($"    Private cache pages     : 0x{Get(PageClassNames.CachePrivate):x16}"));
        Line(FormattableString.Invariant($"    User process data pages : 0x{Get(PageClassNames.User) + Get(PageClassNames.Hugetlb):x16}"));
        Line(FormattableString.Invariant($"    Free pages              : 0x{Get(PageClassNames.Free):x16}"));
        Line(FormattableString.Invariant($"    Hwpoison pages          : 0x{Get(PageClassNames.Hwpoison):x16}"));
        Line(FormattableString.Invariant($"    Offline pages           : 0x{Get(PageClassNames.Offline):x16}"));
        Line(FormattableString.Invariant($"  Remaining pages  : 0x{r.DumpedPages:x16}"));
        Line(FormattableString.Invariant($"  (The number of pages is reduced to {(r.TotalPages == 0 ? 100 : r.DumpedPages * 100 / r.TotalPages)}%.)"));
        Line(FormattableString.Invariant($"Memory Hole     : 0x{r.MaxPfn - r.TotalPages:x16}"));
        Line("--------------------------------------------------");
        Line(FormattableString.Invariant($"Total pages     : 0x{r.MaxPfn:x16}"));
        Line(string.Empty);
        Line(FormattableString.Invariant($"Write bytes     : {r.BytesWritten}"));
        Line(string.Empty);
        Line(FormattableString.Invariant($"Elapsed         : {r.Elapsed.TotalSeconds:F3} s, {r.BytesRead / Math.Max(1e-9, r.Elapsed.TotalSeconds) / (1 << 20):F0} MiB/s read"));
        return sb.ToString();
    }

    /// <summary>IProgress that calls back on the reporting thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SyncProgress(Action<SaveProgress> report) : IProgress<SaveProgress>
    {
        public void Report(SaveProgress value) => report(value);
    }
}
