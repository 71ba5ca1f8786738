namespace Fadump.Tools.Inspect;

/// <summary>
/// Variants of makedumpfile's --dump-dmesg output (makedumpfile.c dump_log_entry, printk.c
/// dump_record). The defaults reproduce makedumpfile 1.7.2 (Debian 12) byte for byte.
/// </summary>
public sealed record DmesgFormatOptions
{
    /// <summary>
    /// Print the caller id after the timestamp, right-aligned in 8 columns ("[      T1] ",
    /// "[     C3] "), as makedumpfile ≥ 1.7.5 does whenever VMCOREINFO has the caller_id offset
    /// (always for Linux ≥ 5.10). makedumpfile 1.7.2 never prints it.
    /// </summary>
    public bool CallerId { get; init; }

    /// <summary>
    /// Whether bytes ≥ 0x80 are escaped as a signed char: makedumpfile passes a plain char to
    /// "\\x%02x", so where char is signed (x86_64) byte 0xc3 prints as \xffffffc3, where it is
    /// unsigned (ppc64) as \xc3. Null: follow the dump's architecture, since makedumpfile only
    /// runs on the architecture it dumps.
    /// </summary>
    public bool? SignedChar { get; init; }

    /// <summary>makedumpfile 1.7.2, the version of Debian 12.</summary>
    public static DmesgFormatOptions Makedumpfile172 { get; } = new();

    /// <summary>makedumpfile ≥ 1.7.5 (prints caller ids).</summary>
    public static DmesgFormatOptions Makedumpfile175 { get; } = new() { CallerId = true };
}
