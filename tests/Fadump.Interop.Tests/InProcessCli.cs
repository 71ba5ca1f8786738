using Fadump.Cli;

namespace Fadump.Interop.Tests;

/// <summary>Runs `fadump ARGS` in this process (FadumpCommand.Run) with captured output: the CLI tests' common entry.</summary>
internal static class InProcessCli
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var o = new StringWriter();
        using var e = new StringWriter();
        int code = FadumpCommand.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }
}
