using System.Globalization;

namespace Fadump.Kernel;

/// <summary>The kernel's vsprintf formats used in FADump messages (lib/vsprintf.c number(): "#" prints 0x even for zero).</summary>
public static class CFormat
{
    /// <summary>%#016llx: zero-padded to 16 characters including the 0x prefix.</summary>
    public static string Hex016(ulong v) => "0x" + v.ToString("x", CultureInfo.InvariantCulture).PadLeft(14, '0');

    /// <summary>%#llx.</summary>
    public static string Hex(ulong v) => "0x" + v.ToString("x", CultureInfo.InvariantCulture);
}
