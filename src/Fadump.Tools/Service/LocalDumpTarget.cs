using System.Globalization;
using Fadump.Formats;

namespace Fadump.Tools.Service;

/// <summary>
/// A directory on a mounted file system (kdump-utils dump_fs): <c>&lt;path&gt;/&lt;host&gt;-&lt;date&gt;/</c> with
/// vmcore-dmesg.txt and vmcore, each written under its "-incomplete" name first. The vmcore is renamed only
/// after it was fsynced (kdump-utils: <c>sync -f</c>, then <c>mv</c>) and read back and compared with the source
/// (ours); otherwise it stays vmcore-incomplete, flagged incomplete in its format when the writer got that far.
/// core_collector cp (or scp, which between two local paths is a cp) copies /proc/vmcore as it is instead.
/// </summary>
internal sealed class LocalDumpTarget(string basePath, IDumpWriter writer, TextWriter log) : IDumpTarget
{
    public const string VmcoreName = "vmcore";
    public const string VmcoreIncompleteName = "vmcore-incomplete";
    public const string DmesgName = "vmcore-dmesg.txt";
    public const string DmesgIncompleteName = "vmcore-dmesg-incomplete.txt";

    /// <summary>Why a cancelled save failed.</summary>
    public const string Interrupted = "interrupted by a signal; the partial dump keeps its -incomplete name";

    public string BasePath { get; } = Path.GetFullPath(basePath);

    public bool ReportsDurability => true;

    public string Describe(string dir) => Path.Combine(BasePath, dir);

    public string? Prepare(string dirName)
    {
        try
        {
            string name = dirName;
            for (int i = 2; Directory.Exists(Path.Combine(BasePath, name)) && Directory.EnumerateFileSystemEntries(Path.Combine(BasePath, name)).Any(); i++)
            {
                // Two captures within a second: never mix their files.
                name = string.Create(CultureInfo.InvariantCulture, $"{dirName}-{i}");
            }

            Directory.CreateDirectory(Path.Combine(BasePath, name));
            return name;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.WriteLine($"cannot create {Describe(dirName)}: {e.Message}");
            return null;
        }
    }

    public bool SaveDmesg(string dir, byte[] text)
    {
        try
        {
            // 0600, a temporary name created O_EXCL (never through a link), fsynced, renamed, the directory fsynced.
            using (var f = new Output.PrivateOutputFile(Path.Combine(BasePath, dir, DmesgName)))
            {
                RandomAccess.Write(f.Handle, text, 0);
                f.Commit();
            }

            log.WriteLine($"saving {DmesgName} complete");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.WriteLine($"saving {DmesgName} failed: {e.Message}");
            return false;
        }
    }

    public bool SaveOpalCore(string dir, Formats.IO.IRandomAccessSource core, out string? error)
    {
        string final = Path.Combine(BasePath, dir, OpalCoreFiles.FileName);
        try
        {
            byte[] sent;

            // As every dump file: 0600, O_EXCL temporary name (never through a link), fsync, rename, directory fsync.
            using (var f = new Output.PrivateOutputFile(final))
            {
                sent = OpalCoreFiles.Copy(core, (bytes, offset) => RandomAccess.Write(f.Handle, bytes, offset));
                f.Commit();
            }

            // Read back: the file must hold what the kernel served.
            using var saved = new Formats.IO.FileSource(final);
            byte[] got = OpalCoreFiles.Copy(saved, (_, _) => { });
            if (saved.Length != core.Length || !got.AsSpan().SequenceEqual(sent))
            {
                error = string.Create(CultureInfo.InvariantCulture, $"{final} does not hold what {core.Name} served ({saved.Length} of {core.Length} bytes, or other bytes)");
                return false;
            }

            error = null;
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = e.Message;
            return false;
        }
    }

    public VmcoreOutcome SaveVmcore(IDump dump, string dir, CoreCollectorOptions options, DumpSample sample, Action<ulong>? durableThrough, CancellationToken ct)
    {
        string incomplete = Path.Combine(BasePath, dir, VmcoreIncompleteName);
        string final = Path.Combine(BasePath, dir, VmcoreName);
        DumpWriteResult result;
        try
        {
            result = options.Program == CoreCollectorProgram.Makedumpfile
                ? writer.Save(dump, incomplete, options with { WatchPfns = sample.Pfns }, durableThrough, ct)
                : VmcoreCopier.Save(dump, incomplete, options.Sparse, ct);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Failed(null, incomplete, e.Message);
        }
        catch (OperationCanceledException)
        {
            return Failed(null, incomplete, Interrupted);
        }

        if (result.Incomplete)
        {
            return Failed(result, incomplete, result.Error ?? "the saver stopped early");
        }

        IReadOnlyList<string> problems;
        try
        {
            using var saved = DumpFile.Open(incomplete);
            problems = sample.Verify(saved, result);
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            problems = [$"{incomplete} cannot be read back: {e.Message}"];
        }

        if (problems.Count > 0)
        {
            foreach (var p in problems)
            {
                log.WriteLine("verification: " + p);
            }

            return Failed(result, incomplete, "the saved dump does not match the source");
        }

        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"verified {incomplete}: {sample.ComparedPages} sampled pages match the source, {sample.FilteredPages} were filtered out"));
        try
        {
            File.Move(incomplete, final);
        }
        catch (IOException e)
        {
            return Failed(result, incomplete, $"renaming to {VmcoreName}: {e.Message}");
        }

        log.WriteLine("saving vmcore complete");
        return new VmcoreOutcome(true, result, final, null);
    }

    private VmcoreOutcome Failed(DumpWriteResult? result, string incomplete, string why)
    {
        log.WriteLine($"saving vmcore failed: {why}");
        return new VmcoreOutcome(false, result, File.Exists(incomplete) ? incomplete : null, why);
    }
}
