using BenchmarkDotNet.Running;
using Fadump.Bench;

// `reads`: the dump read benchmark (a table of pages/s and MiB/s, see bench/README.md); anything else goes to
// BenchmarkDotNet's switcher (the micro-benchmarks).
if (args.Length > 0 && args[0] == "reads")
{
    return DumpReadBenchmarks.Run(args[1..], Console.Out);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
