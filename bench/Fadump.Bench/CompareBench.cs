using System.Diagnostics;
using System.Globalization;
using Fadump.Formats;
using Fadump.Tools.Collector;

namespace Fadump.Bench;

/// <summary>
/// `bench compare`: fadump save and makedumpfile side by side on the same input, same dump level and
/// compression, single- and multi-threaded; wall time, peak RSS (/usr/bin/time %M) and output size, as ratios.
/// </summary>
internal static class CompareBench
{
    private sealed record Case(string Name, string Level, string? MdFlag, string OurFlag);

    private sealed record Sample(double Seconds, long RssKiB, long Bytes, int ExitCode, int Attempts);

    public static int Run(string[] args)
    {
        string? input = Arg(args, "--input") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache/fadump/bigdump/vmcore.elf");
        int runs = int.Parse(Arg(args, "--runs") ?? "3", CultureInfo.InvariantCulture);
        int threads = int.Parse(Arg(args, "--threads") ?? Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        string work = Arg(args, "--work") ?? "/tmp/fadump-bench";
        string fadump = Arg(args, "--fadump") ?? FindFadump();
        if (!File.Exists(input))
        {
            Console.Error.WriteLine($"bench compare: {input} does not exist: run bench/make-big-dump.sh (or pass --input FILE)");
            return 2;
        }

        Directory.CreateDirectory(work);

        // makedumpfile 1.7.2 cannot read QEMU's ELF layout: both tools read the same standard ELF, written once.
        string std = Path.Combine(work, "input.elf");
        if (!File.Exists(std) || File.GetLastWriteTimeUtc(std) < File.GetLastWriteTimeUtc(input))
        {
            Console.Error.WriteLine($"writing {std} (fadump convert --format elf -d 0) ...");
            using var d = DumpFile.Open(input);
            DumpSaver.Save(d, std, new SaveOptions { DumpLevel = 0, Format = SaveFormat.Elf });
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
    private static Sample Measure(string exe, IReadOnlyList<string> args, string output, int runs)
    {
        var results = new List<Sample>();
        int attempts = 0, lastExit = 0;
        while (results.Count < runs && attempts < runs * 4)
        {
            attempts++;
            File.Delete(output);
            string timeFile = Path.GetTempFileName();
            var psi = new ProcessStartInfo("/usr/bin/time") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in (string[])["-f", "%e %M", "-o", timeFile, exe, .. args])
            {
                psi.ArgumentList.Add(a);
            }

            using var p = Process.Start(psi)!;
            var so = p.StandardOutput.ReadToEndAsync();
            var se = p.StandardError.ReadToEndAsync();
            p.WaitForExit();
            lastExit = p.ExitCode;
            var parts = File.ReadAllLines(timeFile).Last().Split(' ');
            File.Delete(timeFile);
            if (p.ExitCode != 0)
            {
                Console.Error.WriteLine($"{Path.GetFileName(exe)} {string.Join(' ', args)}: exit {p.ExitCode}: {se.Result.Trim().Split('\n').LastOrDefault()}");
                continue;
            }

            results.Add(new Sample(double.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture), new FileInfo(output).Length, 0, attempts));
        }

        if (results.Count == 0)
        {
            return new Sample(0, 0, 0, lastExit, attempts);
        }

        var byTime = results.OrderBy(r => r.Seconds).ToList();
        var med = byTime[byTime.Count / 2];
        return med with { RssKiB = results.Max(r => r.RssKiB), Attempts = attempts };
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

    private static string Version(string exe, string arg)
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
}
