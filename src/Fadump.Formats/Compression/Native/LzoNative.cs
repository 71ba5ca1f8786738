using System.Runtime.InteropServices;

namespace Fadump.Formats.Compression.Native;

/// <summary>
/// liblzo2 (Debian liblzo2-2): lzo1x_1_compress / lzo1x_decompress_safe, as makedumpfile uses them.
/// </summary>
internal static unsafe partial class LzoNative
{
    public const int LZO_E_OK = 0;

    private static readonly Lazy<string?> InitError = new(Init, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// LZO1X_1_MEM_COMPRESS = 16384 * lzo_sizeof_dict_t, and lzo_sizeof_dict_t = sizeof(lzo_bytep)
    /// (lzoconf.h, lzo1x.h): 131072 bytes on 64-bit, 65536 on 32-bit.
    /// </summary>
    public static int WorkMemorySize => 16384 * sizeof(nint);

    /// <summary>Worst-case lzo1x_1 output for n input bytes (n + n/16 + 64 + 3, LZO's documented bound).</summary>
    public static int MaxCompressedLength(int n) => checked(n + (n / 16) + 64 + 3);

    /// <summary>
    /// Loads liblzo2 and runs lzo_init() once (the __lzo_init_v2 ABI check the header macro expands to).
    /// Returns null when usable, else the reason.
    /// </summary>
    public static bool IsAvailable(out string? reason)
    {
        reason = InitError.Value;
        return reason is null;
    }

    /// <summary>
    /// lzo1x_1_compress. dst must hold <see cref="MaxCompressedLength"/>(src.Length) bytes: LZO does not
    /// take the output capacity and writes past a smaller buffer.
    /// </summary>
    public static int Compress(ReadOnlySpan<byte> src, Span<byte> dst, Span<byte> workMemory, out int written)
    {
        if (dst.Length < MaxCompressedLength(src.Length) || workMemory.Length < WorkMemorySize)
        {
            throw new ArgumentException("lzo1x_1_compress needs a worst-case sized output and LZO1X_1_MEM_COMPRESS work memory");
        }

        nuint outLen = (nuint)dst.Length;
        int r;
        fixed (byte* s = &NativeSpan.Ref(src))
        fixed (byte* d = &NativeSpan.Ref(dst))
        fixed (byte* w = &NativeSpan.Ref(workMemory))
        {
            r = lzo1x_1_compress(s, (nuint)src.Length, d, &outLen, w);
        }

        written = (int)outLen;
        return r;
    }

    /// <summary>lzo1x_decompress_safe: never writes past dst; returns an LZO_E_* code.</summary>
    public static int DecompressSafe(ReadOnlySpan<byte> src, Span<byte> dst, out int written)
    {
        nuint outLen = (nuint)dst.Length;
        int r;
        fixed (byte* s = &NativeSpan.Ref(src))
        fixed (byte* d = &NativeSpan.Ref(dst))
        {
            r = lzo1x_decompress_safe(s, (nuint)src.Length, d, &outLen, null);
        }

        written = (int)Math.Min(outLen, (nuint)dst.Length);
        return r;
    }

    public static string ErrorName(int code) => code switch
    {
        -1 => "LZO_E_ERROR",
        -2 => "LZO_E_OUT_OF_MEMORY",
        -3 => "LZO_E_NOT_COMPRESSIBLE",
        -4 => "LZO_E_INPUT_OVERRUN: truncated input",
        -5 => "LZO_E_OUTPUT_OVERRUN: output longer than expected",
        -6 => "LZO_E_LOOKBEHIND_OVERRUN: match distance before the start of the output",
        -7 => "LZO_E_EOF_NOT_FOUND",
        -8 => "LZO_E_INPUT_NOT_CONSUMED: trailing data after the end marker",
        -10 => "LZO_E_INVALID_ARGUMENT",
        -11 => "LZO_E_INVALID_ALIGNMENT",
        -12 => "LZO_E_OUTPUT_NOT_CONSUMED",
        _ => "unknown LZO error",
    };

    public static string Version => InitError.Value is null ? $"{lzo_version() >> 12}.{(lzo_version() >> 4) & 0xff}" : "unavailable";

    private static string? Init()
    {
        NativeLibraryInfo info = NativeLibraries.Lzo;
        if (!info.IsAvailable)
        {
            return info.UnavailableReason;
        }

        // lzo_init(): __lzo_init_v2(LZO_VERSION, sizeof(short), sizeof(int), sizeof(long), sizeof(lzo_uint32_t),
        // sizeof(lzo_uint), lzo_sizeof_dict_t, sizeof(char *), sizeof(lzo_voidp), sizeof(lzo_callback_t)).
        // lzo_uint is pointer sized, lzo_callback_t holds 3 function pointers, a lzo_voidp and 2 lzo_xint.
        int r = __lzo_init_v2(lzo_version(), sizeof(short), sizeof(int), sizeof(CLong), sizeof(uint), sizeof(nuint),
            sizeof(nint), sizeof(nint), sizeof(nint), 6 * sizeof(nint));
        return r == LZO_E_OK
            ? null
            : $"lzo compression needs a working {info.LoadedName}: lzo_init() (__lzo_init_v2) returned {r}; reinstall the Debian package {info.Package}";
    }

    [LibraryImport(NativeLibraries.LzoImport)]
    private static partial int __lzo_init_v2(uint v, int s1, int s2, int s3, int s4, int s5, int s6, int s7, int s8, int s9);

    [LibraryImport(NativeLibraries.LzoImport)]
    private static partial uint lzo_version();

    [LibraryImport(NativeLibraries.LzoImport)]
    private static partial int lzo1x_1_compress(byte* src, nuint srcLen, byte* dst, nuint* dstLen, void* wrkmem);

    [LibraryImport(NativeLibraries.LzoImport)]
    private static partial int lzo1x_decompress_safe(byte* src, nuint srcLen, byte* dst, nuint* dstLen, void* wrkmem);
}
