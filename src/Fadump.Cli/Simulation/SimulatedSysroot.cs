using Fadump.Formats.IO;
using Fadump.Kernel;
using Fadump.Kernel.Sysfs;
using Fadump.Tools.Sysroot;
using Fadump.Kernel.Platforms;

namespace Fadump.Cli.Simulation;

/// <summary>The running simulated kernel's virtual files, as the tools' root directory (in-process).</summary>
public sealed class SimulatedSysroot(PseriesLpar lpar) : ISysroot
{
    private LinuxKernel Kernel => lpar.Kernel ?? throw new IOException("the simulated LPAR is not running");

    public string Description => "simulated pseries LPAR";

    public bool Exists(string path) => Kernel.Files.Exists(path) || Kernel.Files.List(path).Any();

    public string ReadText(string path) => Kernel.Files.ReadText(path);

    public void WriteText(string path, string text) => Kernel.Files.WriteText(path, text);

    public IRandomAccessSource OpenRead(string path) => Kernel.Files.OpenRead(path);
}
