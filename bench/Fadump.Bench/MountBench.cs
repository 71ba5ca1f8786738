using System.Diagnostics;
using System.Globalization;
using Fadump.Kernel;
using Fadump.Kernel.Platforms;

namespace Fadump.Bench;

/// <summary>
/// `bench mount`: /proc/vmcore of the same crashed simulated PC read four ways in one run: in-process (the anchor,
/// the simulator's own read, as the tools get it from SimulatedSysroot), `cat` through `fadump sim mount`,
/// makedumpfile -d 31 -l through the mount, and makedumpfile -d 31 -l on a copy of the vmcore in tmpfs (what
/// makedumpfile costs without the mount). The page cache is dropped before each read through the mount, so every
/// byte crosses FUSE. Figures are MB/s of vmcore bytes and ratios to the anchor.
/// </summary>
internal static class MountBench
{
    public static int Run(string[] args)
    {
        string memory = CompareBench.Arg(args, "--memory") ?? "4G";
        string cpus = CompareBench.Arg(args, "--cpus") ?? "4";
        string fadump = CompareBench.Arg(args, "--fadump") ?? "artifacts/native/fadump";
        string work = CompareBench.Arg(args, "--work") ?? "/tmp/fadump-bench-mount";
        int runs = int.Parse(CompareBench.Arg(args, "--runs") ?? "3", CultureInfo.InvariantCulture);
        // --startup-only: how soon the mount is up and how long sysrq c takes, without reading the vmcore (1 TiB, say).
        bool startupOnly = args.Contains("--startup-only");
        if (!File.Exists(fadump))
        {
            Console.Error.WriteLine($"bench mount: {fadump} is missing (scripts/publish-native, or --fadump PATH)");
            return 2;
        }

        string[] machine = ["--platform", "x86_64", "--memory", memory, "--cpus", cpus];
        Console.WriteLine(FormattableString.Invariant($"simulated x86_64 PC, {memory}, {cpus} CPUs, sysrq c; fadump: {fadump}; makedumpfile: {CompareBench.Version("makedumpfile", "-v").Trim()}; {Environment.ProcessorCount} CPUs here"));

        // The anchor: the capture kernel's /proc/vmcore read in this process, 128 KiB (FUSE's request size) and 1 MiB at a time.
        var pc = new X86_64Pc(new PcSpec { MemoryBytes = ScaleBench.ParseSize(memory), Cpus = int.Parse(cpus, CultureInfo.InvariantCulture) });
        pc.Boot();
        pc.LoadCaptureKernel();
        pc.Kernel!.Files.WriteText("/proc/sysrq-trigger", "c\n");
        long bytes;
        var rows = new List<(string Name, double Seconds)>();
        using (var vmcore = pc.Kernel!.Files.OpenRead("/proc/vmcore"))
        {
            bytes = vmcore.Length;
            foreach (int size in startupOnly ? [] : (int[])[128 << 10, 1 << 20])
            {
                var buf = new byte[size];
                rows.Add(($"in-process read, {size >> 10} KiB at a time", Median(runs, () =>
                {
                    var sw = Stopwatch.StartNew();
                    for (long off = 0; off < bytes;)
                    {
                        off += vmcore.Read(off, buf);
                    }

                    return sw.Elapsed.TotalSeconds;
                })));
            }
        }

        Directory.CreateDirectory(work);
        string dir = Path.Combine(work, "machine");
        Directory.CreateDirectory(dir);
        var psi = new ProcessStartInfo(fadump) { RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in (string[])["sim", "mount", dir, .. machine])
        {
            psi.ArgumentList.Add(a);
        }

        var startup = Stopwatch.StartNew();
        using var server = Process.Start(psi)!;
        string? line;
        while ((line = server.StandardError.ReadLine()) is not null && !line.StartsWith("fadump: mounted", StringComparison.Ordinal))
        {
        }

        if (line is null)
        {
            Console.Error.WriteLine("bench mount: the mount did not come up");
            return 1;
        }

        double mountSeconds = startup.Elapsed.TotalSeconds;
        var drain = Task.Run(() => server.StandardError.ReadToEnd());
        double crashSeconds;
        try
        {
            var crash = Stopwatch.StartNew();
            File.WriteAllText(Path.Combine(dir, "proc/sysrq-trigger"), "c\n");
            crashSeconds = crash.Elapsed.TotalSeconds;
            if (startupOnly)
            {
                Console.WriteLine(FormattableString.Invariant($"vmcore: {bytes / (1 << 20)} MiB; mount ready {mountSeconds * 1000:F0} ms after `fadump sim mount` started; `echo c > proc/sysrq-trigger` returned in {crashSeconds * 1000:F0} ms (capture kernel up)"));
                return 0;
            }

            string mounted = Path.Combine(dir, "proc/vmcore");
            string shm = Path.Combine("/dev/shm", "fadump-bench-vmcore");
            rows.Add(("cat through the mount", Median(runs, () => Timed($"cat {mounted} > /dev/null"))));
            rows.Add(("makedumpfile -d 31 -l through the mount", Median(runs, () => Timed($"makedumpfile -f -l -d 31 {mounted} {work}/md.kdump > /dev/null 2>&1"))));
            Timed($"cp {mounted} {shm}");
            rows.Add(("makedumpfile -d 31 -l on a tmpfs copy", Median(runs, () => Timed($"makedumpfile -f -l -d 31 {shm} {work}/md.kdump > /dev/null 2>&1", dropCaches: false))));
            File.Delete(shm);
        }
        finally
        {
            Process.Start("fusermount3", ["-u", dir])!.WaitForExit();
            server.WaitForExit();
            drain.Wait();
        }

        double anchor = rows[0].Seconds;
        Console.WriteLine(FormattableString.Invariant($"vmcore: {bytes / (1 << 20)} MiB; each figure the median of {runs} runs"));
        Console.WriteLine(FormattableString.Invariant($"mount ready {mountSeconds * 1000:F0} ms after `fadump sim mount` started; `echo c > proc/sysrq-trigger` returned in {crashSeconds * 1000:F0} ms (capture kernel up)"));
        Console.WriteLine();
        Console.WriteLine("| read | s | MB/s | time ÷ in-process 128 KiB |");
        Console.WriteLine("|---|---|---|---|");
        foreach (var (name, s) in rows)
        {
            Console.WriteLine(FormattableString.Invariant($"| {name} | {s:F2} | {bytes / s / 1e6:F0} | {s / anchor:F2} |"));
        }

        return 0;
    }

    private static double Median(int runs, Func<double> run)
    {
        var s = Enumerable.Range(0, runs).Select(_ => run()).Order().ToList();
        return s[s.Count / 2];
    }

    /// <summary>Wall seconds of a shell command, the page cache dropped first so that the mount serves every byte.</summary>
    private static double Timed(string command, bool dropCaches = true)
    {
        if (dropCaches)
        {
            File.WriteAllText("/proc/sys/vm/drop_caches", "3\n");
        }

        var sw = Stopwatch.StartNew();
        using var p = Process.Start("bash", ["-c", command])!;
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{command} exited {p.ExitCode}");
        }

        return sw.Elapsed.TotalSeconds;
    }
}
