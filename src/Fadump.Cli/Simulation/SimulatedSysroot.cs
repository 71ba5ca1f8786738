using Fadump.Formats.IO;
using Fadump.Kernel;
using Fadump.Kernel.Sysfs;
using Fadump.Tools.Sysroot;
using Fadump.Kernel.Platforms;

namespace Fadump.Cli.Simulation;

/// <summary>The running simulated kernel's virtual files, as the tools' root directory (in-process).</summary>
public sealed class SimulatedSysroot(Func<LinuxKernel?> running, string description) : ISysroot
{
    public SimulatedSysroot(PseriesLpar lpar)
        : this(() => lpar.Kernel, "simulated pseries LPAR")
    {
    }

    public SimulatedSysroot(X86_64Pc pc)
        : this(() => pc.Kernel, "simulated x86_64 PC")
    {
    }

    private LinuxKernel Kernel => running() ?? throw new IOException($"the {description} is not running");

    public string Description => description;

    public bool Exists(string path) => Kernel.Files.Exists(path) || Kernel.Files.List(path).Any();

    public string ReadText(string path) => Kernel.Files.ReadText(path);

    public void WriteText(string path, string text) => Kernel.Files.WriteText(path, text);

    public IRandomAccessSource OpenRead(string path) => Kernel.Files.OpenRead(path);
}
