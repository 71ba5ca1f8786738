using System.Diagnostics;
using System.Globalization;
using Fadump.Formats;
using Fadump.Formats.Kdump;
using Fadump.Tools.Collector;

namespace Fadump.Bench;

/// <summary>
/// `bench compare`: fadump save and makedumpfile side by side on the same input, same dump level and
/// compression, single- and multi-threaded; wall time, peak RSS (/usr/bin/time %M) and output size, as ratios.
/// </summary>
internal static class CompareBench
{
    private sealed record Case(string Name, string Level, string? MdFlag, string OurFlag);

    private sealed record Sample(double Seconds, long RssKiB, long Bytes, int ExitCode, int Attempts, double Wall = 0, int Runs = 0);

    public static int Run(string[] args)
    {
        if (args.Contains("--targets"))
        {
            return Targets(args);
        }

        string? input = Arg(args, "--input") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache/fadump/bigdump/vmcore.elf");
        int runs = int.Parse(Arg(args, "--runs") ?? "3", CultureInfo.InvariantCulture);
        int threads = int.Parse(Arg(args, "--threads") ?? Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        string work = Arg(args, "--work") ?? "/tmp/fadump-bench";
        string fadump = Arg(args, "--fadump") ?? FindFadump();
        if (StandardInput(input, work) is not { } std)
        {
            return 2;
        }

        long inputBytes;
        using (var d = DumpFile.Open(std))
        {
            inputBytes = d.MemoryRanges().Sum(r => (long)r.Size);
        }

        // Warm the page cache for both tools alike.
        using (var fs = File.OpenRead(std))
        {
            fs.CopyTo(Stream.Null, 1 << 20);
        }

        var cases = new List<Case>
        {
            new("-d 31 -l (lzo)", "31", "-l", "-l"),
            new("-d 31 -c (zlib)", "31", "-c", "-c"),
            new("-d 31 -z (zstd)", "31", null, "-z"),
            new("-d 0 -l (lzo)", "0", "-l", "-l"),
            new("-d 0 (none)", "0", string.Empty, string.Empty),
        };

        Console.WriteLine(FormattableString.Invariant($"input: {std}, {inputBytes / (1 << 20)} MiB of RAM; {runs} runs each, median; threads: 1 and {threads}; {Environment.ProcessorCount} CPUs"));
        Console.WriteLine(FormattableString.Invariant($"fadump: {fadump}; makedumpfile: {Version("makedumpfile", "-v")}"));
        Console.WriteLine();
        Console.WriteLine("| case | threads | fadump s | makedumpfile s | time ratio | fadump GB/s in | fadump RSS MiB | md RSS MiB | RSS ratio | fadump MiB out | md MiB out | size ratio |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var c in cases)
        {
            foreach (int t in new[] { 1, threads }.Distinct())
            {
                string ourOut = Path.Combine(work, "fadump.out"), mdOut = Path.Combine(work, "md.out");
                var ourArgs = new List<string> { "save", "-f", "-d", c.Level, "--message-level", "0", "--num-threads", t.ToString(CultureInfo.InvariantCulture) };
                if (c.OurFlag.Length > 0)
                {
                    ourArgs.Add(c.OurFlag);
                }

                ourArgs.AddRange([std, ourOut]);
                var ours = Measure(fadump, ourArgs, ourOut, runs);
                Sample? md = null;
                if (c.MdFlag is not null)
                {
                    var mdArgs = new List<string> { "-f", "-d", c.Level, "--message-level", "0" };
                    if (c.MdFlag.Length > 0)
                    {
                        mdArgs.Add(c.MdFlag);
                    }

                    if (t > 1)
                    {
                        mdArgs.AddRange(["--num-threads", t.ToString(CultureInfo.InvariantCulture)]);
                    }

                    mdArgs.AddRange([std, mdOut]);
                    md = Measure(Which("makedumpfile"), mdArgs, mdOut, runs);
                }

                string R(double a, double? b) => b is { } v && v > 0 ? (a / v).ToString("F2", CultureInfo.InvariantCulture) : "-";
                Console.WriteLine(FormattableString.Invariant(
                    $"| {c.Name} | {t} | {ours.Seconds:F2} | {(md is null ? "n/a (no zstd)" : md.ExitCode != 0 ? $"failed ({md.ExitCode})" : md.Seconds.ToString("F2", CultureInfo.InvariantCulture) + (md.Attempts > runs ? $" ({md.Attempts - runs} aborts retried)" : string.Empty))} | {R(ours.Seconds, md?.Seconds)} | {inputBytes / ours.Seconds / 1e9:F2} | {ours.RssKiB / 1024} | {(md is null ? "-" : (md.RssKiB / 1024).ToString(CultureInfo.InvariantCulture))} | {R(ours.RssKiB, md?.RssKiB)} | {ours.Bytes / (1 << 20)} | {(md is null ? "-" : (md.Bytes / (1 << 20)).ToString(CultureInfo.InvariantCulture))} | {R(ours.Bytes, md?.Bytes)} |"));
                File.Delete(ourOut);
                File.Delete(mdOut);
            }
        }

        return 0;
    }

    /// <summary>Median of runs (wall time and peak RSS from /usr/bin/time); makedumpfile aborts (SIGABRT in --num-threads) are retried.</summary>
    private static Sample Measure(string exe, IReadOnlyList<string> args, string? output, int runs, bool byWall = false)
    {
        var results = new List<Sample>();
        int attempts = 0, lastExit = 0;
        while (results.Count < runs && attempts < runs * 4)
        {
            attempts++;
            if (output is not null)
            {
                File.Delete(output);
            }

            string timeFile = Path.GetTempFileName();
            var psi = new ProcessStartInfo("/usr/bin/time") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in (string[])["-f", "%e %M", "-o", timeFile, exe, .. args])
            {
                psi.ArgumentList.Add(a);
            }

            var sw = Stopwatch.StartNew();
            using var p = Process.Start(psi)!;
            var so = p.StandardOutput.ReadToEndAsync();
            var se = p.StandardError.ReadToEndAsync();
            p.WaitForExit();
            double wall = sw.Elapsed.TotalSeconds;
            lastExit = p.ExitCode;
            var parts = File.ReadAllLines(timeFile).Last().Split(' ');
            File.Delete(timeFile);
            if (p.ExitCode != 0)
            {
                Console.Error.WriteLine($"{Path.GetFileName(exe)} {string.Join(' ', args)}: exit {p.ExitCode}: {se.Result.Trim().Split('\n').LastOrDefault()}");
                continue;
            }

            results.Add(new Sample(double.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture), output is null ? 0 : new FileInfo(output).Length, 0, attempts, wall));
        }

        if (results.Count == 0)
        {
            return new Sample(0, 0, 0, lastExit, attempts, Runs: runs);
        }

        var byTime = (byWall ? results.OrderBy(r => r.Wall) : results.OrderBy(r => r.Seconds)).ToList();
        var med = byTime[byTime.Count / 2];
        return med with { RssKiB = results.Max(r => r.RssKiB), Attempts = attempts, Runs = runs };
    }

    /// <summary>
    /// `compare --targets` (issue 9): start-up, info, `save -l -d 31` on one thread each and `save -l -d 1` on two
    /// threads against the faster of makedumpfile single-threaded and --num-threads 2, for the fadump of --fadump
    /// (the native binary) and, with --jit PATH, a JIT build beside it, in one run. Times are wall clock
    /// (Stopwatch around /usr/bin/time, the same overhead for every tool), medians of --runs (start-up and
    /// info: 10 × as many). Speed ratio = makedumpfile's time ÷ ours (above 1: we are faster). Each save's page
    /// set is compared with makedumpfile's (the same dumped PFN ranges) and its size.
    /// </summary>
    private static int Targets(string[] args)
    {
        string input = Arg(args, "--input") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache/fadump/bigdump/vmcore.elf");
        int runs = int.Parse(Arg(args, "--runs") ?? "5", CultureInfo.InvariantCulture);
        string work = Arg(args, "--work") ?? "/tmp/fadump-bench";
        string native = Arg(args, "--fadump") ?? FindFadump();
        string? jit = Arg(args, "--jit");
        string md = Which("makedumpfile");
        if (StandardInput(input, work) is not { } std)
        {
            return 2;
        }

        using (var fs = File.OpenRead(std))
        {
            fs.CopyTo(Stream.Null, 1 << 20);
        }

        var tools = new List<(string Name, string Exe)> { ("native", native) };
        if (jit is not null)
        {
            tools.Add(("jit", jit));
        }

        Console.WriteLine(FormattableString.Invariant($"input: {std}; {runs} runs each (start-up and info {runs * 10}), median wall time; {Environment.ProcessorCount} CPUs, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}"));
        foreach (var (name, exe) in tools)
        {
            Console.WriteLine(FormattableString.Invariant($"fadump {name}: {exe} ({new FileInfo(exe).Length / 1024} KiB)"));
        }

        Console.WriteLine(FormattableString.Invariant($"makedumpfile: {md}, {Version(md, "-v")}"));
        Console.WriteLine();
        Console.WriteLine("| measurement | " + string.Join(" | ", tools.Select(t => $"fadump {t.Name} s")) + " | makedumpfile s | " +
            string.Join(" | ", tools.Select(t => $"speed {t.Name} (md s ÷ ours)")) + " | target |");
        Console.WriteLine("|---|" + string.Concat(Enumerable.Repeat("---|", (tools.Count * 2) + 2)));

        string F(double v) => v.ToString("F3", CultureInfo.InvariantCulture);
        string ourOut = Path.Combine(work, "fadump.out"), mdOut = Path.Combine(work, "md.out");

        void Row(string what, Func<string, Sample> ours, Func<Sample>? theirs, string target, double? goal)
        {
            var samples = tools.Select(t => ours(t.Exe)).ToList();
            Sample? m = theirs?.Invoke();
            string mdCell = m is null ? "-" : m.ExitCode != 0 ? $"failed ({m.ExitCode})" : F(m.Wall) + (m.Attempts > m.Runs ? FormattableString.Invariant($" ({m.Attempts - m.Runs} aborts retried)") : string.Empty);
            var speeds = samples.Select(sm => m is null || m.ExitCode != 0 ? "-" : (m.Wall / sm.Wall).ToString("F2", CultureInfo.InvariantCulture) + (goal is { } g ? (m.Wall / sm.Wall >= g ? " (met)" : " (not met)") : string.Empty));
            Console.WriteLine($"| {what} | {string.Join(" | ", samples.Select(sm => F(sm.Wall)))} | {mdCell} | {string.Join(" | ", speeds)} | {target} |");
        }

        // The native binary's file is kept for the page comparison with makedumpfile's.
        Sample Save(string exe, string level, int threads)
        {
            var s = Measure(exe, ["save", "-f", "-l", "-d", level, "--message-level", "0", "--num-threads", threads.ToString(CultureInfo.InvariantCulture), std, ourOut], ourOut, runs, byWall: true);
            if (exe == native)
            {
                File.Copy(ourOut, ourOut + ".keep", overwrite: true);
            }

            return s;
        }

        Sample MdSave(string level, int threads) =>
            Measure(md, ["-f", "-l", "-d", level, "--message-level", "0", .. threads > 1 ? (string[])["--num-threads", threads.ToString(CultureInfo.InvariantCulture)] : [], std, mdOut], mdOut, runs, byWall: true);

        Row("start-up (`--version`; md `-v`)", exe => Measure(exe, ["--version"], null, runs * 10, byWall: true), () => Measure(md, ["-v"], null, runs * 10, byWall: true), "-", null);
        Row("`info` (md: none)", exe => Measure(exe, ["info", std], null, runs * 10, byWall: true), null, "-", null);

        Row("`save -l -d 31`, 1 thread each", exe => Save(exe, "31", 1), () => MdSave("31", 1), "≥ 1.0×", 1.0);
        Console.WriteLine(PagesLine("-d 31", ourOut + ".keep", mdOut));

        string bestName = string.Empty;
        Row("`save -l -d 1`, fadump 2 threads vs md's faster of 1 and --num-threads 2", exe => Save(exe, "1", 2), () =>
        {
            var one = MdSave("1", 1);
            File.Copy(mdOut, mdOut + ".1", overwrite: true);
            var two = MdSave("1", 2);
            bool twoWins = two.ExitCode == 0 && two.Wall < one.Wall;
            bestName = twoWins ? "--num-threads 2" : "1 thread";
            Console.Error.WriteLine(FormattableString.Invariant($"makedumpfile -d 1: 1 thread {one.Wall:F3} s, --num-threads 2 {(two.ExitCode == 0 ? two.Wall.ToString("F3", CultureInfo.InvariantCulture) : $"failed ({two.ExitCode})")} s ({two.Attempts - two.Runs} aborts retried)"));
            if (!twoWins)
            {
                File.Copy(mdOut + ".1", mdOut, overwrite: true);
            }

            return twoWins ? two : one;
        }, "≥ 1.5×", 1.5);
        Console.WriteLine($"(makedumpfile's faster -d 1 run: {bestName})");
        Console.WriteLine(PagesLine("-d 1", ourOut + ".keep", mdOut));
        foreach (string f in (string[])[ourOut, ourOut + ".keep", mdOut, mdOut + ".1"])
        {
            File.Delete(f);
        }

        return 0;
    }

    private static string PagesLine(string what, string ours, string theirs)
    {
        var (pages, size) = SamePages(ours, theirs);
        return $"({what}: the native fadump's file and makedumpfile's: dumped PFN ranges {pages}; size ratio {size})";
    }

    private static (string Pages, string Size) SamePages(string ours, string theirs)
    {
        using var a = KdumpCompressedDump.Open(ours);
        using var b = KdumpCompressedDump.Open(theirs);
        bool same = a.DumpedRanges().SequenceEqual(b.DumpedRanges());
        string pages = same
            ? FormattableString.Invariant($"identical ({a.DumpedPageCount} pages)")
            : FormattableString.Invariant($"DIFFER ({a.DumpedPageCount} vs {b.DumpedPageCount} pages)");
        return (pages, (new FileInfo(ours).Length / (double)new FileInfo(theirs).Length).ToString("F4", CultureInfo.InvariantCulture));
    }

    private static string Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Concat(["/usr/sbin", "/sbin"])
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists) ?? name;

    private static string FindFadump()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Fadump.slnx")))
            {
                return Path.Combine(dir.FullName, "src/Fadump.Cli/bin/Release/net10.0/fadump");
            }
        }

        return "fadump";
    }

    internal static string Version(string exe, string arg)
    {
        try
        {
            var p = Process.Start(new ProcessStartInfo(exe, arg) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            string s = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return s.Split('\n')[0].Trim();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "not installed";
        }
    }

    internal static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>
    /// makedumpfile 1.7.2 cannot read QEMU's ELF layout: both tools read the same standard ELF, written once
    /// into WORK (again when the input is newer). Null, with the reason printed, when the input is missing.
    /// </summary>
    private static string? StandardInput(string input, string work)
    {
        if (!File.Exists(input))
        {
            Console.Error.WriteLine($"bench compare: {input} does not exist: run bench/make-big-dump.sh (or pass --input FILE)");
            return null;
        }

        Directory.CreateDirectory(work);
        string std = Path.Combine(work, "input.elf");
        if (!File.Exists(std) || File.GetLastWriteTimeUtc(std) < File.GetLastWriteTimeUtc(input))
        {
            Console.Error.WriteLine($"writing {std} (fadump convert --format elf -d 0) ...");
            using var d = DumpFile.Open(input);
            DumpSaver.Save(d, std, new SaveOptions { DumpLevel = 0, Format = SaveFormat.Elf });
        }

        return std;
    }
}
