using System.Text;
using Fadump.Formats;

namespace Fadump.Tools.Inspect;

/// <summary>
/// The crashed kernel's log (dmesg), read from a dump through VMCOREINFO the way
/// makedumpfile --dump-dmesg reads it, and rendered in that tool's output format.
/// Damaged buffers give a partial log and <see cref="Warnings"/>, never a hang: every walk is
/// bounded by the size of the buffer it walks.
/// </summary>
public sealed class KernelLog
{
    private KernelLog(DumpMachine machine, KernelLogLayout layout, IReadOnlyList<KernelLogRecord> records, ReadOnlyMemory<byte> plainText, IReadOnlyList<string> warnings)
    {
        Machine = machine;
        Layout = layout;
        Records = records;
        PlainText = plainText;
        Warnings = warnings;
    }

    public DumpMachine Machine { get; }

    public KernelLogLayout Layout { get; }

    /// <summary>Records oldest first (empty for <see cref="KernelLogLayout.PlainText"/>).</summary>
    public IReadOnlyList<KernelLogRecord> Records { get; }

    /// <summary>The whole text of a pre-3.5 log, oldest first (empty for the record layouts).</summary>
    public ReadOnlyMemory<byte> PlainText { get; }

    /// <summary>Records skipped or truncated because the buffer is damaged or not in the dump.</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>Reads the log of the dump's kernel.</summary>
    /// <exception cref="DumpFormatException">No VMCOREINFO, or the log cannot be located or read at all.</exception>
    public static KernelLog Read(IDump dump) => Read(KernelAddressSpace.Create(dump));

    public static KernelLog Read(KernelAddressSpace kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        var warnings = new List<string>();
        var info = kernel.VmcoreInfo;

        // makedumpfile dump_dmesg: SYMBOL(prb) selects the lockless ring buffer.
        if (info.Symbol("prb") is not null)
        {
            var records = new PrintkRingBufferReader(kernel, warnings).ReadAll();
            return new KernelLog(kernel.Machine, KernelLogLayout.LocklessRingBuffer, records, default, warnings);
        }

        if (info.Symbol("log_buf") is null || info.Symbol("log_buf_len") is null)
        {
            throw new DumpFormatException(kernel.Dump.Path,
                "VMCOREINFO has neither SYMBOL(prb) nor SYMBOL(log_buf) and SYMBOL(log_buf_len): the kernel log cannot be found");
        }

        var reader = new PrintkLogBufferReader(kernel, warnings);
        if (PrintkLogBufferReader.IsPlainText(kernel))
        {
            return new KernelLog(kernel.Machine, KernelLogLayout.PlainText, [], reader.ReadPlainText(), warnings);
        }

        return new KernelLog(kernel.Machine, KernelLogLayout.VariableLengthRecords, reader.ReadRecords(), default, warnings);
    }

    /// <summary>Writes exactly what makedumpfile --dump-dmesg writes to its output file.</summary>
    public void WriteMakedumpfile(Stream output, DmesgFormatOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        options ??= DmesgFormatOptions.Makedumpfile172;
        if (Layout == KernelLogLayout.PlainText)
        {
            // makedumpfile copies the pre-3.5 buffer as it is.
            output.Write(PlainText.Span);
            return;
        }

        bool signedChar = options.SignedChar ?? Machine.Arch == DumpArch.X86_64;
        MakedumpfileDmesgFormatter.Write(output, Records, options.CallerId, signedChar);
    }

    /// <summary>The bytes of makedumpfile --dump-dmesg's output file.</summary>
    public byte[] ToMakedumpfileBytes(DmesgFormatOptions? options = null)
    {
        using var ms = new MemoryStream();
        WriteMakedumpfile(ms, options);
        return ms.ToArray();
    }

    /// <summary>
    /// makedumpfile's output split into lines (without their '\n'). Record output is ASCII; a
    /// pre-3.5 plain-text log is decoded as Latin-1 so that every byte maps to one char.
    /// </summary>
    public IReadOnlyList<string> ToMakedumpfileLines(DmesgFormatOptions? options = null)
    {
        string text = Encoding.Latin1.GetString(ToMakedumpfileBytes(options));
        var lines = text.Split('\n');
        return text.EndsWith('\n') ? lines[..^1] : lines;
    }
}
