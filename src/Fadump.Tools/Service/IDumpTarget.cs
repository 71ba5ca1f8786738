using Fadump.Formats;

namespace Fadump.Tools.Service;

/// <summary>How a vmcore save ended on a target.</summary>
internal sealed record VmcoreOutcome(bool Ok, DumpWriteResult? Write, string? File, string? Error);

/// <summary>
/// Where the dump service writes: a local directory or an ssh server. Both follow kdump-utils' protocol: the
/// file is written under an "-incomplete" name and renamed only once it is complete (and, here, verified), so
/// that a crash, a full disk or a dropped connection never leaves a complete-looking file.
/// </summary>
internal interface IDumpTarget
{
    /// <summary>The dump directory as messages show it.</summary>
    string Describe(string dir);

    /// <summary>True when the target can report durable progress, so that memory may be released during the save.</summary>
    bool ReportsDurability { get; }

    /// <summary>Creates the dump directory (mkdir -p); returns its name, made unique if needed, or null on failure.</summary>
    string? Prepare(string dirName);

    /// <summary>vmcore-dmesg-incomplete.txt, then renamed vmcore-dmesg.txt; a failure is logged and the dump goes on.</summary>
    bool SaveDmesg(string dir, byte[] text);

    /// <summary>
    /// The OPAL core as <c>opalcore</c> (kdump-utils save_opalcore_fs / save_opalcore_ssh): copied whole under a
    /// temporary name, checked against what was read, renamed. False with the reason on failure.
    /// </summary>
    bool SaveOpalCore(string dir, Formats.IO.IRandomAccessSource core, out string? error);

    /// <summary>Writes the vmcore, verifies it and renames it; cancellation stops the save and leaves the "-incomplete" name.</summary>
    VmcoreOutcome SaveVmcore(IDump dump, string dir, CoreCollectorOptions options, DumpSample sample, Action<ulong>? durableThrough, CancellationToken ct);
}
