using System.Globalization;
using Fadump.Formats;
using Fadump.Formats.IO;
using Fadump.Tools.Inspect;
using Fadump.Tools.Sysroot;

namespace Fadump.Tools.Service;

/// <summary>
/// The dump service (<c>fadump collect</c>): finds the dump under a root, runs kdump_pre, saves
/// vmcore-dmesg.txt then the vmcore to the configured target, verifies it, runs kdump_post, gives the memory
/// back and re-arms the dump mechanism, then runs the final action — or, when the dump could not be saved,
/// the failure action. It follows kdump-utils' capture script (dracut/99kdumpbase/kdump.sh) step by step,
/// except where FADump and phyp dump make a reboot needless.
/// <para>
/// Reboot policy. After a dump is saved and verified:
/// FADump: write 1 to release_mem, then 1 to registered; the memory is back in production and the next crash
/// will be dumped, so final_action <c>reboot</c> is not executed (a reboot would only add downtime: the
/// point of FADump). phyp dump: every range was released through release_region (the kernel re-registers
/// by itself once all are free), so <c>reboot</c> is not executed either. kdump: the capture kernel cannot
/// give the crashed kernel's memory back, so the final action runs as configured (default reboot), as in
/// kdump-utils. <c>halt</c> and <c>poweroff</c> are explicit requests to stop the machine and always run. When
/// release_mem is refused the memory stays held, and the final action runs as configured (the reboot is
/// needed then). When only the re-registration fails, the memory is already in production: no reboot, but
/// the exit status is 1 so that monitoring sees an unprotected machine.
/// </para>
/// <para>
/// Failure (kdump-utils' error handler: failure_action, then final_action): reboot, halt and poweroff end
/// the system; shell returns when the shell exits, and the final action follows; dump_to_rootfs saves again
/// under <c>path</c> on the root file system, and when that works the success path above follows. The dump is
/// never released after a failed save: the memory holds the only complete copy. kdump_pre failing skips the
/// dump and runs the final action (kdump.conf(5)); kdump_post gets the dump's status (0 or 1) as its argument
/// and its own status is only logged.
/// </para>
/// </summary>
public sealed class CollectService
{
    private readonly KdumpConfig _config;
    private readonly CollectOptions _o;
    private readonly TextWriter _log;
    private readonly List<string> _errors = [];
    private bool _actionRequested;
    private ResumeFound? _resume;
    private PhypJournalWriter? _journal;
    private int? _phypDumpLevel;

    public CollectService(KdumpConfig config, CollectOptions options)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        _config = config;
        _o = options;
        _log = options.Log;
    }

    /// <summary>
    /// Runs the service. It does not throw: an error no step expected (a bug, a dump damaged in a way no
    /// check foresaw) is reported, and unless an action already ran, the failure action runs.
    /// </summary>
    public CollectResult Run(ISysroot root) => Guard(root, errorHandler: false);

    /// <summary>
    /// kdump-utils' kdump-error-handler.sh, which systemd starts when kdump-capture.service failed or was killed
    /// (OnFailure=emergency.target, SIGKILL by the OOM killer included): kdump_post with status 1, the failure
    /// action, then the final action. Nothing is saved to the target and nothing is released; failure_action
    /// dump_to_rootfs saves to the root file system as after a failed save. It does not throw either.
    /// </summary>
    public CollectResult RunErrorHandler(ISysroot root) => Guard(root, errorHandler: true);

    private CollectResult Guard(ISysroot root, bool errorHandler)
    {
        ArgumentNullException.ThrowIfNull(root);
        try
        {
            return RunSteps(root, errorHandler);
        }
        catch (Exception e)
        {
            Error($"the dump service failed: {Describe(e)}");
            if (!_actionRequested)
            {
                RunFailureAction();
            }

            return new CollectResult { ExitCode = CollectResult.ExitFailure, Mechanism = DumpMechanism.None, Errors = _errors };
        }
    }

    private CollectResult RunSteps(ISysroot root, bool errorHandler)
    {
        var detected = DumpDetector.Detect(root);
        Info(detected.Reason);
        if (detected.Mechanism == DumpMechanism.None && !errorHandler)
        {
            return new CollectResult { ExitCode = CollectResult.ExitOk, Mechanism = DumpMechanism.None };
        }

        foreach (var line in _config.Ignored)
        {
            Info($"{line}: read when the capture environment is built; ignored here");
        }

        if (errorHandler)
        {
            Error("the dump service did not finish (kdump error handler): kdump_post 1, failure_action, final_action");
            ExposePartialDumps();
        }
        else if (_config.KdumpPre is { } pre)
        {
            int rc = HookScripts.Run(pre, [], _log);
            if (rc != 0)
            {
                Error(string.Create(CultureInfo.InvariantCulture, $"kdump_pre {pre} exited with status {rc}: the dump is not saved"));
                RunAction(ToSystemAction(_config.FinalAction), "final_action after kdump_pre failed");
                return new CollectResult { ExitCode = CollectResult.ExitFailure, Mechanism = detected.Mechanism, Errors = _errors };
            }
        }

        var run = new RunState();
        PhypReleaser? releaser = null;
        IDump? dump = null;
        if (detected.Mechanism != DumpMechanism.None && (!errorHandler || _config.FailureAction == FailureAction.DumpToRootfs))
        {
            try
            {
                dump = Open(root, detected, out releaser);
            }
            catch (Exception e)
            {
                Error($"cannot open the dump: {Describe(e)}");
            }
        }

        using (dump)
        {
            if (dump is not null && !errorHandler)
            {
                Guarded(
                    () =>
                    {
                        string dirName = DumpDirectoryName.For(dump, root, _o.Now());
                        if (PrimaryTarget() is { } target)
                        {
                            SaveAll(target, root, dump, dirName, releaser, run);
                        }
                    },
                    "saving the dump");
            }

            if (_config.KdumpPost is { } post)
            {
                int rc = HookScripts.Run(post, [run.Saved ? "0" : "1"], _log);
                if (rc != 0)
                {
                    Info(string.Create(CultureInfo.InvariantCulture, $"kdump_post {post} exited with status {rc}"));
                }
            }

            if (!run.Saved && dump is not null && _config.FailureAction == FailureAction.DumpToRootfs)
            {
                if (_o.CancellationToken.IsCancellationRequested)
                {
                    Info("failure action dump_to_rootfs not tried: the dump service was interrupted");
                }
                else
                {
                    Info("executing failure action dump_to_rootfs");
                    Guarded(() => DumpToRootfs(dump, root, releaser, run), "dump_to_rootfs");
                }
            }
        }

        bool primaryOk = run.Saved && !run.SavedToRootfs;
        if (run.Saved)
        {
            bool memoryBack = GiveMemoryBack(root, detected, releaser, run);
            FinalActionAfterSave(detected.Mechanism, memoryBack, run);
        }
        else
        {
            RunFailureAction();
        }

        return new CollectResult
        {
            ExitCode = primaryOk && _errors.Count == 0 ? CollectResult.ExitOk : CollectResult.ExitFailure,
            Mechanism = detected.Mechanism,
            Directory = run.Directory,
            Vmcore = run.Vmcore,
            DmesgSaved = run.DmesgSaved,
            OpalCore = run.OpalCore,
            OpalCoreReleased = run.OpalCoreReleased,
            VmcoreSaved = run.Saved,
            SavedToRootfs = run.SavedToRootfs,
            Write = run.Write,
            MemoryReleased = run.MemoryReleased,
            ReleasedBytes = releaser?.ReleasedBytes ?? 0,
            Reregistered = run.Reregistered,
            RebootSkipped = run.RebootSkipped,
            Errors = _errors,
        };
    }

    private IDump Open(ISysroot root, DetectedDump detected, out PhypReleaser? releaser)
    {
        releaser = null;
        if (detected.Mechanism != DumpMechanism.PhypDump)
        {
            return DumpFile.Open(root.OpenRead(detected.VmcorePath!));
        }

        var listing = PhypKernelDumpHeader.Resolve(root, ReleaseRegionListing.Parse(root.ReadText(detected.ReleaseRegionPath!), detected.ReleaseRegionPath!), _log);
        Info($"{detected.ReleaseRegionPath}: CPU {listing.Cpu}, HPTE {listing.Hpte}, DUMP {listing.Dump}, reserved {listing.Reserved}");
        var vmcoreInfo = VmcoreInfoAddress(root);
        _resume = FindResume(listing);
        var memory = root.OpenRead(_o.PhysicalMemoryPath);
        try
        {
            PhypResume? resume = _resume is { } f ? new PhypResume(f.Partial, f.Journal.DurableThrough, [.. f.Journal.Released.Select(r => r.Range)]) : null;
            var image = new PhypDumpImage(memory, listing, _o.PhypMachine, vmcoreInfo: vmcoreInfo, resume: resume);
            _phypDumpLevel = PhypDumpLevel(image);
            foreach (var w in image.Warnings)
            {
                Info(w);
            }

            if (image.VmcoreInfo is not null)
            {
                Info($"{VmcoreInfoLocation.SysfsPath}: the crashed kernel's VMCOREINFO ({image.VmcoreInfo.OsRelease}); {image.Notes.Count(n => n.Type == Formats.Elf.ElfNote.NT_PRSTATUS && n.Name == "CORE")} CPUs saved");
            }

            releaser = new PhypReleaser(root, listing, _log, _o.ReleaseChunkBytes, detected.ReleaseRegionPath!, image.ImageEnd, _resume?.Journal.Released, (ulong)image.PageSize);
            return image;
        }
        catch
        {
            memory.Dispose();
            _resume?.Partial?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The dump level a phyp dump can be saved at: the configured one, or, when the crashed kernel's VMCOREINFO
    /// does not lead to its struct pages (levels above 1 need them), level 1 with a message. The memory is held
    /// until the dump is saved, so saving it less filtered beats not saving it (the unfiltered copy was the
    /// only way before VMCOREINFO was found). Null: as configured.
    /// </summary>
    private int? PhypDumpLevel(PhypDumpImage image)
    {
        var o = _config.CoreCollector;
        int[] levels = [o.DumpLevel, .. o.FallbackLevels];
        if (image.VmcoreInfo is null || levels.All(l => (l & ~1) == 0))
        {
            return null;
        }

        if (Collector.PageClassifier.TryCreate(image, (Collector.DumpLevel)o.DumpLevel, out string? problem) is not null)
        {
            return null;
        }

        int lower = o.DumpLevel & 1;
        Info(string.Create(CultureInfo.InvariantCulture, $"dump level {o.DumpLevel} needs the crashed kernel's struct pages, which its VMCOREINFO does not lead to ({problem}): saving at dump level {lower}"));
        return lower;
    }

    /// <summary>A journal of this dump found under the target, and the file that holds what it says was saved.</summary>
    private sealed record ResumeFound(string Directory, PhypJournal Journal, PhypPartialDump? Partial);

    /// <summary>
    /// Looks for the write-ahead journal of an interrupted collect of this same dump (its listing) in the dump
    /// directories under the local target, and for the file that holds what it says is durable: its part file,
    /// or the names that file may have since (the resume source, another stale part, vmcore-incomplete, vmcore),
    /// each checked to be this dump's (the notes' digest) and long enough. A corrupt journal, or one of another
    /// dump, is ignored with a message; so is a file that is not the dump's. The source file is renamed
    /// <see cref="PhypJournalWriter.ResumeSourceName"/> so that no writer removes it as stale.
    /// </summary>
    private ResumeFound? FindResume(ReleaseRegionListing listing)
    {
        string? basePath = LocalBasePath();
        if (basePath is null || PosixFile.Kind(basePath, followSymlinks: false) != FileKind.Directory)
        {
            return null;
        }

        string wanted = PhypJournal.ListingText(listing);
        IEnumerable<string> dirs;
        try
        {
            dirs = [.. Directory.EnumerateDirectories(basePath).Take(10_000).Where(d => File.Exists(Path.Combine(d, PhypJournal.FileName))).OrderByDescending(d => File.GetLastWriteTimeUtc(Path.Combine(d, PhypJournal.FileName)))];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Info($"looking for release journals under {basePath}: {e.Message}");
            return null;
        }

        foreach (string dir in dirs)
        {
            PhypJournal? journal;
            try
            {
                journal = PhypJournal.Read(dir);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                Info($"release journal ignored: {e.Message} (if it was this dump's, memory it recorded as released is read from {_o.PhysicalMemoryPath} as if it were not)");
                continue;
            }

            if (journal is null)
            {
                continue;
            }

            string jpath = Path.Combine(dir, PhypJournal.FileName);
            if (PhypJournal.ListingText(journal.Listing) != wanted)
            {
                Info($"release journal {jpath} belongs to another dump ({PhypJournal.ListingText(journal.Listing)}): ignored");
                continue;
            }

            Info(string.Create(CultureInfo.InvariantCulture, $"{jpath}: an interrupted collect of this dump saved through 0x{journal.DurableThrough:x} and released {journal.Released.Count} ranges ({journal.Released.Aggregate(0UL, (a, r) => a + r.Range.Length)} bytes); resuming in {dir}"));
            foreach (var r in journal.Released.Where(r => !r.Confirmed))
            {
                Info($"{r.Range}: its release was not confirmed; treated as released (not read, not released again)");
            }

            var candidates = new List<string> { journal.Part, PhypJournalWriter.ResumeSourceName };
            candidates.AddRange(Output.PrivateOutputFile.StaleParts(dir, LocalDumpTarget.VmcoreIncompleteName).Select(Path.GetFileName).OfType<string>());
            candidates.AddRange([LocalDumpTarget.VmcoreIncompleteName, LocalDumpTarget.VmcoreName]);
            foreach (string name in candidates.Distinct())
            {
                string path = Path.Combine(dir, name);
                if (PosixFile.Kind(path, followSymlinks: false) != FileKind.Regular)
                {
                    continue;
                }

                PhypPartialDump? partial = null;
                try
                {
                    partial = PhypPartialDump.Open(path);
                    string? problem = null;
                    if (partial.Machine != _o.PhypMachine)
                    {
                        problem = $"a {partial.Machine} dump, not {_o.PhypMachine}";
                    }
                    else if (PhypJournal.NotesDigest(partial.Notes, partial.Machine.BigEndian) != journal.Notes)
                    {
                        problem = "its notes are not those the journal names (another dump's file)";
                    }
                    else if (!partial.HoldsThrough(journal.DurableThrough, out problem))
                    {
                        problem ??= "short";
                    }

                    if (problem is not null)
                    {
                        Info($"{path}: not used to resume: {problem}");
                        partial.Dispose();
                        continue;
                    }

                    if (name != PhypJournalWriter.ResumeSourceName)
                    {
                        File.Move(path, Path.Combine(dir, PhypJournalWriter.ResumeSourceName), overwrite: true);
                        PosixFile.FsyncDirectory(dir);
                        journal = journal with { Part = PhypJournalWriter.ResumeSourceName };
                        journal.Write(dir);
                    }

                    Info(string.Create(CultureInfo.InvariantCulture, $"{path}: holds the pages saved through 0x{journal.DurableThrough:x}; they are read from it, the rest from {_o.PhysicalMemoryPath} except what was released"));
                    return new ResumeFound(Path.GetFullPath(dir), journal, partial);
                }
                catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
                {
                    Info($"{path}: not used to resume: {e.Message}");
                    partial?.Dispose();
                }
            }

            Error($"{jpath}: no file holds what the interrupted collect saved; the memory it released is lost from this dump (never read again from {_o.PhysicalMemoryPath})");
            return new ResumeFound(Path.GetFullPath(dir), journal, null);
        }

        return null;
    }

    /// <summary>The local directory dumps go to (a path, or a file-system target already mounted); null for ssh.</summary>
    private string? LocalBasePath() =>
        _config.Ssh is not null ? null
            : _config.FileSystem is null ? _config.Path
            : _o.Mounter.IsMounted(_o.MountRoot) ? Path.Combine(_o.MountRoot, _config.Path.TrimStart('/'))
            : null;

    /// <summary>/sys/kernel/vmcoreinfo of the capture kernel (the crashed kernel's note is at the same address), or null saying why.</summary>
    private VmcoreInfoLocation? VmcoreInfoAddress(ISysroot root)
    {
        if (!root.Exists(VmcoreInfoLocation.SysfsPath))
        {
            Info($"no VMCOREINFO: {VmcoreInfoLocation.SysfsPath} is missing (kernel without CONFIG_KEXEC); the dump is saved unfiltered");
            return null;
        }

        try
        {
            return VmcoreInfoLocation.Parse(root.ReadText(VmcoreInfoLocation.SysfsPath));
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            Info($"no VMCOREINFO: {e.Message}; the dump is saved unfiltered");
            return null;
        }
    }

    private IDumpTarget? PrimaryTarget()
    {
        if (_config.FileSystem is { } fs)
        {
            if (_o.Mounter.IsMounted(_o.MountRoot))
            {
                // kdump-utils dump_fs: a target already mounted is used as it is (a second run of the service).
                Info($"{_o.MountRoot} is already mounted: saving there");
            }
            else
            {
                try
                {
                    Directory.CreateDirectory(_o.MountRoot);
                    _o.Mounter.Mount(fs.Type, fs.Device, _o.MountRoot, _o.CancellationToken);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Error($"cannot mount the dump target {fs} on {_o.MountRoot}: {e.Message}");
                    return null;
                }
                catch (OperationCanceledException)
                {
                    Error($"mounting the dump target {fs} on {_o.MountRoot} was interrupted by a signal");
                    return null;
                }

                Info($"mounted the dump target {fs} on {_o.MountRoot}");
            }

            return new LocalDumpTarget(Path.Combine(_o.MountRoot, _config.Path.TrimStart('/')), _o.Writer, _log);
        }

        if (_config.Ssh is not { } dest)
        {
            return new LocalDumpTarget(_config.Path, _o.Writer, _log);
        }

        string? key = _config.SshKey;
        if (!File.Exists(key))
        {
            if (_config.SshKeyConfigured)
            {
                Error($"sshkey {key} does not exist");
                return null;
            }

            key = null; // kdump-utils keeps the default only when it exists; ssh then uses its own identities.
        }

        return new SshDumpTarget(new SshClient(dest, key, _o.SshOptions, _o.SshProgram), _config.Path, _o.Writer, _log);
    }

    /// <summary>
    /// kdump-utils dump_fs / dump_ssh: the directory, vmcore-dmesg.txt first, the OPAL core (PowerNV MPIPL) when
    /// there is one, then the vmcore.
    /// </summary>
    private void SaveAll(IDumpTarget target, ISysroot root, IDump dump, string dirName, PhypReleaser? releaser, RunState run)
    {
        string? dir = _resume is { } rs && target is LocalDumpTarget lt && Path.GetDirectoryName(rs.Directory) == Path.TrimEndingDirectorySeparator(lt.BasePath)
            ? Path.GetFileName(rs.Directory)
            : target.Prepare(dirName);
        if (dir is null)
        {
            Error($"cannot create the dump directory {target.Describe(dirName)}");
            return;
        }

        run.Directory = target.Describe(dir);
        Info($"saving to {run.Directory}");
        Info($"saving {LocalDumpTarget.DmesgName}");
        byte[]? text = null;
        try
        {
            var kernelLog = KernelLog.Read(dump);
            foreach (var w in kernelLog.Warnings)
            {
                Info("kernel log: " + w);
            }

            text = kernelLog.ToMakedumpfileBytes();
        }
        catch (Exception e)
        {
            // kdump-utils goes on without it: the vmcore matters more.
            Info($"saving {LocalDumpTarget.DmesgName} failed: {Describe(e)}");
        }

        run.DmesgSaved = text is not null && target.SaveDmesg(dir, text);
        bool opalCoreOk = SaveOpalCore(target, root, dir, run);
        Info("saving vmcore");
        var options = CollectorOptions(target);
        DumpSample sample;
        try
        {
            sample = DumpSample.Take(dump, _o.VerifySamplePages);
        }
        catch (Exception e)
        {
            Error($"saving vmcore failed: cannot read the dump: {Describe(e)}");
            return;
        }

        if (releaser is not null && target is LocalDumpTarget local && dump is PhypDumpImage image)
        {
            // The write-ahead record of the releases, beside the partial output.
            string full = Path.Combine(local.BasePath, dir);
            string part = string.Create(CultureInfo.InvariantCulture, $".{LocalDumpTarget.VmcoreIncompleteName}.part-{Environment.ProcessId}");
            var start = _resume is { } r && r.Directory == full
                ? r.Journal
                : new PhypJournal
                {
                    Listing = image.Listing,
                    Part = part,
                    Notes = PhypJournal.NotesDigest(dump.Notes, dump.Machine.BigEndian),
                    DurableThrough = 0,
                    Released = _resume?.Journal.Released ?? [],
                };
            _journal = new PhypJournalWriter(full, part, LocalDumpTarget.VmcoreIncompleteName, start);
            releaser.Journal = _journal;
        }

        Action<ulong>? durable = releaser is not null && target.ReportsDurability ? releaser.OnDurable : null;
        var outcome = target.SaveVmcore(dump, dir, options, sample, durable, _o.CancellationToken);
        run.Write = outcome.Write;
        run.Vmcore = outcome.File;
        if (outcome.Ok && !opalCoreOk)
        {
            // kdump-utils goes on to the vmcore after a failed opalcore, and so do we; but nothing is released then:
            // release_core would free the only copy of the OPAL core.
            Error("the vmcore is saved but the OPAL core is not: the dump counts as failed, nothing is released");
        }
        else if (outcome.Ok)
        {
            run.Saved = true;
        }
        else
        {
            Error($"saving vmcore to {run.Directory} failed: {outcome.Error}");
        }
    }

    /// <summary>
    /// kdump-utils save_opalcore_fs: /sys/firmware/opal/mpipl/core, or the old /sys/firmware/opal/core, saved as
    /// opalcore. True when there is none or it was saved; a failure is an error (see SaveAll).
    /// </summary>
    private bool SaveOpalCore(IDumpTarget target, ISysroot root, string dir, RunState run)
    {
        if (OpalCoreFiles.Find(root) is not { } source)
        {
            return true;
        }

        string dest = target is SshDumpTarget ? $"{target.Describe(dir)}/{OpalCoreFiles.FileName}" : Path.Combine(target.Describe(dir), OpalCoreFiles.FileName);
        Info($"saving opalcore:{source} to {dest}");
        string? error;
        try
        {
            using var core = root.OpenRead(source);
            if (target.SaveOpalCore(dir, core, out error))
            {
                run.OpalCore = dest;
                Info("saving opalcore complete");
                return true;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = e.Message;
        }

        Error($"saving opalcore failed: {error}");
        return false;
    }

    /// <summary>kdump-utils' adjustments to core_collector: -F only for ssh, --num-threads=$(nproc) when none is given; none for cp and scp.</summary>
    private CoreCollectorOptions CollectorOptions(IDumpTarget target)
    {
        var o = _config.CoreCollector;
        if (o.Program != CoreCollectorProgram.Makedumpfile)
        {
            if (o.Program == CoreCollectorProgram.Scp && target is LocalDumpTarget)
            {
                Info("core_collector scp with a local target: /proc/vmcore is copied as it is (as kdump-utils' scp between two local paths does)");
            }

            foreach (string ignored in o.IgnoredOptions)
            {
                Info($"core_collector scp: {ignored} ignored (kdump-utils runs scp -q with its own ssh options only)");
            }

            return o;
        }

        foreach (string ignored in o.IgnoredOptions)
        {
            Info($"core_collector: {ignored} ignored");
        }

        bool flattened = target is SshDumpTarget;
        if (o.FlattenedRequested && !flattened)
        {
            Info("core_collector -F dropped for a local target (as kdump-utils does)");
        }

        if (_phypDumpLevel is { } level)
        {
            o = o with { DumpLevel = level, FallbackLevels = [] };
        }

        return o with { Flattened = flattened, Threads = o.Threads > 0 ? o.Threads : Math.Max(1, _o.DefaultThreads) };
    }

    private void DumpToRootfs(IDump dump, ISysroot root, PhypReleaser? releaser, RunState run)
    {
        string basePath = Path.Combine(_o.RootFs, _config.Path.TrimStart('/'));
        if (_config.Ssh is null && _config.FileSystem is null && Path.GetFullPath(basePath) == Path.GetFullPath(_config.Path))
        {
            Info($"dump_to_rootfs: {basePath} is the target that just failed; not tried again");
            return;
        }

        if (releaser is { ReleasedCount: > 0 })
        {
            Info("dump_to_rootfs: part of the memory was already released while saving; the partial dump is kept instead");
            return;
        }

        var rootKind = PosixFile.Kind(_o.RootFs, followSymlinks: true);
        if (rootKind != FileKind.Directory)
        {
            Error(rootKind == FileKind.Missing
                ? $"dump_to_rootfs: {_o.RootFs}: No such directory (the root file system is not mounted)"
                : $"dump_to_rootfs: {_o.RootFs}: Not a directory ({PosixFile.Describe(rootKind)})");
            return;
        }

        var target = new LocalDumpTarget(basePath, _o.Writer, _log);
        string dirName = DumpDirectoryName.For(dump, root, _o.Now());
        var again = new RunState();
        SaveAll(target, root, dump, dirName, releaser, again);
        if (again.Saved)
        {
            run.Saved = true;
            run.SavedToRootfs = true;
            run.Directory = again.Directory;
            run.Vmcore = again.Vmcore;
            run.DmesgSaved = again.DmesgSaved;
            run.OpalCore = again.OpalCore;
            run.Write = again.Write;
        }
    }

    /// <summary>
    /// After SIGKILL the save's temporary file (<c>.vmcore-incomplete.part-PID</c>, flagged incomplete inside) is
    /// left under its hidden name. The error handler gives it kdump-utils' visible name vmcore-incomplete (never
    /// over an existing file), so that whoever looks at the target finds the partial dump and no one mistakes
    /// the directory for an empty one. Local and file-system targets (when still mounted); not ssh.
    /// </summary>
    private void ExposePartialDumps()
    {
        string? basePath = LocalBasePath();
        if (basePath is null || PosixFile.Kind(basePath, followSymlinks: false) != FileKind.Directory)
        {
            return;
        }

        try
        {
            foreach (string dir in Directory.EnumerateDirectories(basePath).Take(10_000))
            {
                var parts = Output.PrivateOutputFile.StaleParts(dir, LocalDumpTarget.VmcoreIncompleteName);
                if (parts.Count == 0)
                {
                    continue;
                }

                string visible = Path.Combine(dir, LocalDumpTarget.VmcoreIncompleteName);
                if (PosixFile.Kind(visible, followSymlinks: false) != FileKind.Missing)
                {
                    Info($"{parts[0]}: a partial dump of an interrupted save ({visible} exists, left as it is)");
                    continue;
                }

                File.Move(parts[0], visible);
                PosixFile.FsyncDirectory(dir);
                Info(string.Create(CultureInfo.InvariantCulture, $"the interrupted save left {visible} ({new FileInfo(visible).Length} bytes, flagged incomplete)"));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Info($"looking for partial dumps under {basePath}: {e.Message}");
        }
    }

    /// <summary>FADump: release_mem, then registered. phyp dump: whatever the save did not release yet. kdump: nothing to give back.</summary>
    private bool GiveMemoryBack(ISysroot root, DetectedDump detected, PhypReleaser? releaser, RunState run)
    {
        switch (detected.Mechanism)
        {
            case DumpMechanism.Fadump:
                var names = detected.Fadump!;
                ReleaseOpalCore(root, run);
                try
                {
                    root.WriteText(names.ReleaseMem, "1\n");
                    run.MemoryReleased = true;
                    Info($"released the dump's memory ({names.ReleaseMem})");
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Error($"writing 1 to {names.ReleaseMem} failed: {e.Message}; the memory stays reserved");
                    return false;
                }

                try
                {
                    root.WriteText(names.Registered, "1\n");
                    run.Reregistered = root.ReadText(names.Registered).Trim() == "1";
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Error($"writing 1 to {names.Registered} failed: {e.Message}");
                }

                if (run.Reregistered)
                {
                    Info($"firmware-assisted dump registered again ({names.Registered})");
                }
                else
                {
                    Error($"firmware-assisted dump is not armed: write 1 to {names.Registered}, or reboot");
                }

                return true;

            case DumpMechanism.PhypDump:
                releaser!.ReleaseRemaining();
                run.MemoryReleased = releaser.AllReleased;
                if (releaser.Error is not null)
                {
                    Error(releaser.Error);
                }

                if (_journal is not null && releaser.AllReleased)
                {
                    try
                    {
                        _journal.Remove();
                        Info($"everything saved and released: removed {Path.Combine(_journal.Directory, PhypJournal.FileName)}");
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        Info($"removing the release journal in {_journal.Directory}: {e.Message}");
                    }
                }
                else if (_journal is not null)
                {
                    Info($"kept {Path.Combine(_journal.Directory, PhypJournal.FileName)}: it records what was released, so that no later run reads that memory again");
                }

                return releaser.AllReleased;

            default:
                return false;
        }
    }

    /// <summary>
    /// PowerNV: once the OPAL core is saved, "1" to release_core frees it (opal-core.c fadump_release_opalcore_store),
    /// before release_mem. A refusal (EPERM: already released) is logged, not an error: the core is saved.
    /// </summary>
    private void ReleaseOpalCore(ISysroot root, RunState run)
    {
        if (run.OpalCore is null || !root.Exists(OpalCoreFiles.ReleaseCore))
        {
            return;
        }

        try
        {
            root.WriteText(OpalCoreFiles.ReleaseCore, "1\n");
            run.OpalCoreReleased = true;
            Info($"released the OPAL core ({OpalCoreFiles.ReleaseCore})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Info($"writing 1 to {OpalCoreFiles.ReleaseCore} failed: {e.Message}; the OPAL core is saved, its memory stays held until reboot");
        }
    }

    private void FinalActionAfterSave(DumpMechanism mechanism, bool memoryBack, RunState run)
    {
        if (_config.FinalAction == FinalAction.Reboot && memoryBack)
        {
            run.RebootSkipped = true;
            Info(mechanism == DumpMechanism.Fadump
                ? "final_action reboot not executed: the memory is back in production (release_mem) and no reboot is needed"
                : "final_action reboot not executed: every range was released back to the running kernel");
            return;
        }

        RunAction(ToSystemAction(_config.FinalAction), "final_action");
    }

    private void RunFailureAction()
    {
        switch (_config.FailureAction)
        {
            case FailureAction.Reboot:
                RunAction(SystemAction.Reboot, "failure_action");
                break;
            case FailureAction.Halt:
                RunAction(SystemAction.Halt, "failure_action");
                break;
            case FailureAction.PowerOff:
                RunAction(SystemAction.PowerOff, "failure_action");
                break;
            case FailureAction.Shell:
                RunAction(SystemAction.Shell, "failure_action");
                RunAction(ToSystemAction(_config.FinalAction), "final_action after the failure shell");
                break;
            case FailureAction.DumpToRootfs:
                RunAction(ToSystemAction(_config.FinalAction), _o.CancellationToken.IsCancellationRequested
                    ? "final_action (dump_to_rootfs not tried: interrupted)"
                    : "final_action after dump_to_rootfs failed");
                break;
        }
    }

    private void RunAction(SystemAction action, string reason)
    {
        _actionRequested = true;
        Info($"executing {reason}: {action.ToString().ToLowerInvariant()}");
        try
        {
            _o.Actions.Run(action, reason);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
        {
            Error($"{reason} {action.ToString().ToLowerInvariant()} failed: {e.Message}");
        }
    }

    /// <summary>
    /// Runs a step whose unexpected failure must still end in the failure action: a bug or a damaged dump in
    /// one step may not leave the machine without the configured way out. Every exception is caught here
    /// (the service runs once, at the worst moment: the failure action matters more than the stack).
    /// </summary>
    private void Guarded(Action step, string what)
    {
        try
        {
            step();
        }
        catch (Exception e)
        {
            Error($"{what} failed: {Describe(e)}");
        }
    }

    /// <summary>The message of an expected error; the type too for one that is a bug, so it can be reported.</summary>
    private static string Describe(Exception e) =>
        IsDataError(e) || e is UnauthorizedAccessException or NotSupportedException ? e.Message : $"{e.GetType().Name}: {e.Message}";

    /// <summary>Errors a damaged dump or a failing device can raise while it is read.</summary>
    private static bool IsDataError(Exception e) =>
        e is IOException or InvalidDataException or ArgumentException or InvalidOperationException or IndexOutOfRangeException or OverflowException;

    private static SystemAction ToSystemAction(FinalAction a) => a switch
    {
        FinalAction.Halt => SystemAction.Halt,
        FinalAction.PowerOff => SystemAction.PowerOff,
        _ => SystemAction.Reboot,
    };

    private void Info(string message) => _log.WriteLine(message);

    private void Error(string message)
    {
        _errors.Add(message);
        _log.WriteLine("error: " + message);
    }

    private sealed class RunState
    {
        public string? Directory { get; set; }

        public string? Vmcore { get; set; }

        public bool DmesgSaved { get; set; }

        /// <summary>Where the OPAL core was saved, or null.</summary>
        public string? OpalCore { get; set; }

        public bool OpalCoreReleased { get; set; }

        public bool Saved { get; set; }

        public bool SavedToRootfs { get; set; }

        public DumpWriteResult? Write { get; set; }

        public bool MemoryReleased { get; set; }

        public bool Reregistered { get; set; }

        public bool RebootSkipped { get; set; }
    }
}
