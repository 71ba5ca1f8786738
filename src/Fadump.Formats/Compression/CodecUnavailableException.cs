namespace Fadump.Formats.Compression;

/// <summary>
/// Thrown when a compression method needs a native library that cannot be loaded. The message names
/// the library and the Debian package that provides it, e.g.
/// <c>lzo compression needs liblzo2.so.2: install the Debian package liblzo2-2</c>.
/// </summary>
public sealed class CodecUnavailableException : NotSupportedException
{
    public CodecUnavailableException()
    {
    }

    public CodecUnavailableException(string message)
        : base(message)
    {
    }

    public CodecUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
