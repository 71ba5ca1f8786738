using System.Diagnostics;
using System.Globalization;
using Fadump.Formats;
using Fadump.Formats.Compression;
using Fadump.Kernel;
using Fadump.Tools.Collector;
using Fadump.Kernel.Platforms;

namespace Fadump.Bench;

/// <summary>
/// `bench scale`: DumpSaver on the simulated pSeries LPAR's /proc/vmcore, in-process (a 1 TiB vmcore is too big
/// to write first), output to a null flattened stream, each size in its own process so that its peak RSS is
/// its own. Reports input GB/s and the save's peak RSS (VmHWM reset after boot and crash, via clear_refs).
/// </summary>
internal static class ScaleBench
{
    public static int Run(string[] args)
    {
        var sizes = (CompareBench.Arg(args, "--memory") ?? "16G,64G").Split(',');
        string level = CompareBench.Arg(args, "--level") ?? "31";
        string comp = CompareBench.Arg(args, "--compression") ?? "zstd";
        var threads = (CompareBench.Arg(args, "--threads") ?? $"1,{Environment.ProcessorCount}").Split(',');
        Console.WriteLine(FormattableString.Invariant($"simulated pseries LPAR, workload database, -d {level}, {comp}, output: null flattened stream; {Environment.ProcessorCount} CPUs"));
        Console.WriteLine();
        Console.WriteLine("| memory | threads | seconds | input GB/s | dumped pages | output MiB | save peak RSS MiB | RSS before save MiB |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (string size in sizes)
        {
            foreach (string t in threads)
            {
                Console.WriteLine(RunSelf("scale-one", size, level, comp, t));
            }
        }

        return 0;
    }

    /// <summary>One size, in this process: boot, crash, save /proc/vmcore.</summary>
    public static int One(string[] args)
    {
        ulong memory = ParseSize(args[0]);
        int level = int.Parse(args[1], CultureInfo.InvariantCulture);
        var comp = args[2] switch
        {
            "zstd" => PageCompression.Zstd,
            "lzo" => PageCompression.Lzo,
            "zlib" => PageCompression.Zlib,
            "snappy" => PageCompression.Snappy,
            _ => PageCompression.None,
        };
        int threads = int.Parse(args[3], CultureInfo.InvariantCulture);
        var lpar = new PseriesLpar(new LparSpec { MemoryBytes = memory, Cpus = 16 });
        lpar.Boot();
        lpar.Crash(CrashKind.Panic);
        using var dump = DumpFile.Open(lpar.Kernel!.Files.OpenRead("/proc/vmcore"));
        GC.Collect();
        long before = Status("VmRSS");
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");   // resets VmHWM to the current RSS
        }
        catch (IOException)
        {
        }

        var sw = Stopwatch.StartNew();
        var r = DumpSaver.Save(dump, Stream.Null, new SaveOptions { DumpLevel = level, Compression = comp, Threads = threads });
        double s = sw.Elapsed.TotalSeconds;
        long peak = Status("VmHWM");
        double inBytes = r.TotalPages * (double)dump.PageSize;
        Console.WriteLine(FormattableString.Invariant(
            $"| {args[0]} | {threads} | {s:F1} | {inBytes / s / 1e9:F2} | {r.DumpedPages} | {r.BytesWritten >> 20} | {peak / 1024} | {before / 1024} |"));
        return 0;
    }

    /// <summary>Runs this benchmark program again with <paramref name="args"/> (one size per process, so its peak RSS is its own); returns its output.</summary>
    internal static string RunSelf(params string[] args)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        if (!Environment.ProcessPath!.EndsWith("Fadump.Bench", StringComparison.Ordinal))
        {
            psi.ArgumentList.Add(typeof(ScaleBench).Assembly.Location);
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd().TrimEnd();
        p.WaitForExit();
        return output;
    }

    internal static long Status(string key)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(key + ":", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    internal static ulong ParseSize(string s)
    {
        int shift = char.ToUpperInvariant(s[^1]) switch { 'G' => 30, 'T' => 40, 'M' => 20, _ => 0 };
        return ulong.Parse(shift == 0 ? s : s[..^1], CultureInfo.InvariantCulture) << shift;
    }
}
