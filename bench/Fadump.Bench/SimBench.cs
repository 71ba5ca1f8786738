using System.Diagnostics;
using System.Globalization;
using Fadump.Formats;
using Fadump.Kernel;
using Fadump.Kernel.Platforms;

namespace Fadump.Bench;

/// <summary>
/// `bench sim`: the simulated lifecycle without the save, per platform and memory size, each run in its own
/// process so its wall time and peak RSS (VmHWM) are its own: pseries (boot, register, crash, firmware copy,
/// capture kernel, /proc/vmcore opened) and x86_64 (boot, kexec -p, crash, purgatory, capture kernel,
/// /proc/vmcore opened, second reboot). Linear cost means seconds ÷ TiB stays flat as memory grows.
/// </summary>
internal static class SimBench
{
    public static int Run(string[] args)
    {
        var sizes = (CompareBench.Arg(args, "--memory") ?? "1T,4T,16T,64T").Split(',');
        var platforms = (CompareBench.Arg(args, "--platform") ?? "pseries,x86_64").Split(',');
        string cpus = CompareBench.Arg(args, "--cpus") ?? "256";
        Console.WriteLine(FormattableString.Invariant($"simulated lifecycle without the save, {cpus} CPUs, each run in its own process; {Environment.ProcessorCount} CPUs here"));
        Console.WriteLine();
        Console.WriteLine("| platform | memory | wall s | s per TiB | peak RSS MiB | vmcore GiB |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (string platform in platforms)
        {
            foreach (string size in sizes)
            {
                Console.WriteLine(ScaleBench.RunSelf("sim-one", platform, size, cpus));
            }
        }

        return 0;
    }

    public static int One(string[] args)
    {
        string platform = args[0];
        ulong memory = ScaleBench.ParseSize(args[1]);
        int cpus = int.Parse(args[2], CultureInfo.InvariantCulture);
        var sw = Stopwatch.StartNew();
        long vmcore;
        if (platform == "x86_64")
        {
            var pc = new X86_64Pc(new PcSpec { MemoryBytes = memory, Cpus = cpus, CommandLine = "root=/dev/sda2 ro crashkernel=1G" });
            pc.Boot();
            if (!pc.LoadCaptureKernel() || !pc.Crash(CrashKind.Panic))
            {
                Console.Error.WriteLine(pc.LoadError ?? pc.CaptureFailure);
                return 1;
            }

            using (var dump = DumpFile.Open(pc.Kernel!.Files.OpenRead("/proc/vmcore")))
            {
                vmcore = (long)(dump.MaxPfn * (ulong)dump.PageSize);
            }

            pc.Reboot();
        }
        else
        {
            var lpar = new PseriesLpar(new LparSpec { MemoryBytes = memory, Cpus = cpus });
            lpar.Boot();
            if (!lpar.Crash(CrashKind.Panic))
            {
                return 1;
            }

            using var dump = DumpFile.Open(lpar.Kernel!.Files.OpenRead("/proc/vmcore"));
            vmcore = (long)(dump.MaxPfn * (ulong)dump.PageSize);
        }

        double s = sw.Elapsed.TotalSeconds;
        long peak = ScaleBench.Status("VmHWM");
        Console.WriteLine(FormattableString.Invariant(
            $"| {platform} | {args[1]} | {s:F2} | {s / (memory / (double)(1UL << 40)):F3} | {peak / 1024} | {vmcore >> 30} |"));
        return 0;
    }
}
