using BenchmarkDotNet.Running;
using Fadump.Bench;

// Plain modes (bench/README.md): side by side with makedumpfile, and scaling on the simulator.
return args.FirstOrDefault() switch
{
    "compare" => CompareBench.Run(args[1..]),
    "scale" => ScaleBench.Run(args[1..]),
    "scale-one" => ScaleBench.One(args[1..]),
    _ => RunBenchmarkDotNet(args),
};

static int RunBenchmarkDotNet(string[] args)
{
    BenchmarkSwitcher.FromAssembly(typeof(CompareBench).Assembly).Run(args);
    return 0;
}
