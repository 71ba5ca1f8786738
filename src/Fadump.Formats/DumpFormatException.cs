namespace Fadump.Formats;

/// <summary>
/// Bad or unsupported dump data. The message always names the file, the offset and what was expected,
/// so that a user can look at the bytes with a hex dump.
/// </summary>
public sealed class DumpFormatException : IOException
{
    public DumpFormatException(string path, long offset, string message)
        : base(FormattableString.Invariant($"{path}: at offset 0x{offset:x}: {message}"))
    {
        FilePath = path;
        Offset = offset;
    }

    public DumpFormatException(string path, string message)
        : base($"{path}: {message}")
    {
        FilePath = path;
        Offset = -1;
    }

    public DumpFormatException(string path, long offset, string message, Exception inner)
        : base(FormattableString.Invariant($"{path}: at offset 0x{offset:x}: {message}"), inner)
    {
        FilePath = path;
        Offset = offset;
    }

    public string FilePath { get; }

    /// <summary>File offset of the bad data, or -1 when the error is not tied to one place.</summary>
    public long Offset { get; }
}
