using BenchmarkDotNet.Running;
using Fadump.Bench;

// Plain modes (bench/README.md): dump reads, side by side with makedumpfile, scaling on the simulator;
// anything else goes to BenchmarkDotNet's switcher (the micro-benchmarks).
return args.FirstOrDefault() switch
{
    "reads" => DumpReadBenchmarks.Run(args[1..], Console.Out),
    "compare" => CompareBench.Run(args[1..]),
    "scale" => ScaleBench.Run(args[1..]),
    "scale-one" => ScaleBench.One(args[1..]),
    "sim" => SimBench.Run(args[1..]),
    "sim-one" => SimBench.One(args[1..]),
    "mount" => MountBench.Run(args[1..]),
    _ => RunBenchmarkDotNet(args),
};

static int RunBenchmarkDotNet(string[] args)
{
    BenchmarkSwitcher.FromAssembly(typeof(CompareBench).Assembly).Run(args);
    return 0;
}
