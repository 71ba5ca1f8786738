namespace Fadump.Tools.Service;

/// <summary>
/// The vmcore writer the dump service uses unless <see cref="CollectOptions.Writer"/> says otherwise.
/// <para>
/// Merge note: when Fadump.Tools.Collector.DumpSaver lands, this file alone changes: it gains an adapter,
/// <c>sealed class DumpSaverWriter : IDumpWriter</c>, whose two Save overloads call
/// <c>DumpSaver.Save(input, outputPath | stream, options, ct)</c> with a SaveOptions built field by field from
/// <see cref="CoreCollectorOptions"/> (DumpLevel, FallbackLevels, Compression, Format Kdump|Elf, Flattened,
/// Threads, SizeLimit, MessageLevel; Progress mapped to <c>durableThrough</c> when SaveProgress reports how far
/// the output is fsynced, else left null so that a phyp dump is released after the save), and map SaveResult
/// back (TotalPages, DumpedPages, BytesWritten, Elapsed, Incomplete, DumpLevelUsed); an input without
/// VMCOREINFO (a phyp dump) goes to <see cref="ElfCopyDumpWriter"/>, which needs none. <see cref="Create"/>
/// then returns the adapter.
/// </para>
/// </summary>
public static class DefaultDumpWriter
{
    public static IDumpWriter Create() => new ElfCopyDumpWriter();
}
