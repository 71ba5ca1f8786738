using Fadump.Formats;

namespace Fadump.Tools.Inspect;

/// <summary>Finds the panic message in a dump's kernel log.</summary>
public static class PanicFinder
{
    public static string? Find(IDump dump)
    {
        _ = dump;
        return null;
    }
}
