using System.Globalization;
using Fadump.Formats;

namespace Fadump.Tools.Service;

/// <summary>
/// An ssh server (kdump-utils dump_ssh): <c>mkdir -p</c>, then each file streamed through
/// <c>ssh ... "umask 0077 &amp;&amp; dd of=DIR/NAME-incomplete"</c> and renamed with a remote <c>mv</c> only when
/// everything went through. The vmcore is makedumpfile's flattened stream, named <c>vmcore.flat</c> as
/// kdump-utils names it (<c>makedumpfile -R</c> turns it into a plain vmcore; fadump's readers open it as it
/// is). core_collector scp sends /proc/vmcore as it is, saved as <c>vmcore</c>: the bytes kdump-utils'
/// <c>scp -q $_ssh_opts /proc/vmcore HOST:DIR/vmcore-incomplete</c> sends, over the same ssh command as the
/// other files (so 0600, and no sftp-server needed on the server, which OpenSSH 9's scp uses). Before the rename, the remote size and SHA-256 are compared with what was sent: a dropped connection,
/// a remote dd that failed (disk full) or a short file leave vmcore-incomplete and nothing else.
/// </summary>
internal sealed class SshDumpTarget(SshClient ssh, string remotePath, IDumpWriter writer, TextWriter log) : IDumpTarget
{
    public const string VmcoreName = "vmcore.flat";

    public bool ReportsDurability => false;

    public string Describe(string dir) => $"{ssh.Destination}:{Remote(dir)}";

    public string? Prepare(string dirName)
    {
        var r = ssh.Run($"mkdir -p {SshClient.Quote(Remote(dirName))}");
        if (!r.Ok)
        {
            log.WriteLine($"cannot create {Describe(dirName)}: {r.Why}");
            return null;
        }

        return dirName;
    }

    public bool SaveDmesg(string dir, byte[] text)
    {
        string incomplete = Remote(dir, LocalDumpTarget.DmesgIncompleteName);
        var (r, _, writeError) = ssh.Upload($"umask 0077 && dd of={SshClient.Quote(incomplete)}", s =>
        {
            s.Write(text);
            return true;
        });
        if (!r.Ok || writeError is not null)
        {
            log.WriteLine($"saving {LocalDumpTarget.DmesgName} failed: {writeError?.Message ?? r.Why}");
            return false;
        }

        var mv = ssh.Run($"mv {SshClient.Quote(incomplete)} {SshClient.Quote(Remote(dir, LocalDumpTarget.DmesgName))}");
        if (!mv.Ok)
        {
            log.WriteLine($"saving {LocalDumpTarget.DmesgName} failed: mv: {mv.Why}");
            return false;
        }

        log.WriteLine($"saving {LocalDumpTarget.DmesgName} complete");
        return true;
    }

    /// <summary>kdump-utils save_opalcore_ssh: opalcore-incomplete, then a remote mv once its size and SHA-256 match.</summary>
    public bool SaveOpalCore(string dir, Formats.IO.IRandomAccessSource core, out string? error)
    {
        string incomplete = Remote(dir, OpalCoreFiles.IncompleteName);
        HashingStream? hashing = null;
        var (r, _, writeError) = ssh.Upload($"umask 0077 && dd bs=1M of={SshClient.Quote(incomplete)}", s =>
        {
            hashing = new HashingStream(s);
            OpalCoreFiles.Copy(core, (bytes, _) => hashing.Write(bytes));
            return true;
        });
        using (hashing)
        {
            if (writeError is not null || !r.Ok || hashing is null)
            {
                error = writeError?.Message ?? string.Create(CultureInfo.InvariantCulture, $"ssh exited with status {r.ExitCode}: {r.Why}");
                return false;
            }

            error = VerifyRemote(incomplete, hashing);
            if (error is not null)
            {
                return false;
            }

            var mv = ssh.Run($"mv {SshClient.Quote(incomplete)} {SshClient.Quote(Remote(dir, OpalCoreFiles.FileName))}");
            error = mv.Ok ? null : $"mv: {mv.Why}";
            return mv.Ok;
        }
    }

    /// <summary>The remote file's size and SHA-256 against what was sent: null when they match, else why not.</summary>
    private string? VerifyRemote(string file, HashingStream sent)
    {
        var check = ssh.Run($"wc -c < {SshClient.Quote(file)} && (sha256sum < {SshClient.Quote(file)} || shasum -a 256 < {SshClient.Quote(file)})");
        var lines = check.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string digest = sent.HexDigest();
        if (lines.Length < 2 || !long.TryParse(lines[0], NumberStyles.None, CultureInfo.InvariantCulture, out long size))
        {
            return $"cannot read back the remote file's size and checksum: {check.Why}";
        }

        string got = lines[1].Split(' ', 2)[0];
        if (size != sent.BytesWritten || !string.Equals(got, digest, StringComparison.OrdinalIgnoreCase))
        {
            return string.Create(CultureInfo.InvariantCulture, $"the remote file has {size} bytes, SHA-256 {got}; {sent.BytesWritten} bytes were sent, SHA-256 {digest}");
        }

        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"verified {ssh.Destination}:{file}: {size} bytes, SHA-256 {digest}"));
        return null;
    }

    public VmcoreOutcome SaveVmcore(IDump dump, string dir, CoreCollectorOptions options, DumpSample sample, Action<ulong>? durableThrough, CancellationToken ct)
    {
        // core_collector scp: /proc/vmcore as it is, named vmcore (kdump-utils dump_ssh); makedumpfile: vmcore.flat.
        bool copy = options.Program != CoreCollectorProgram.Makedumpfile;
        string incomplete = Remote(dir, LocalDumpTarget.VmcoreIncompleteName);
        string final = Remote(dir, copy ? LocalDumpTarget.VmcoreName : VmcoreName);
        HashingStream? hashing = null;
        RemoteResult r;
        DumpWriteResult? result;
        IOException? writeError;
        try
        {
            (r, result, writeError) = ssh.Upload($"umask 0077 && dd bs=1M of={SshClient.Quote(incomplete)}", s =>
            {
                hashing = new HashingStream(s);
                return copy ? VmcoreCopier.Save(dump, hashing, ct) : writer.Save(dump, hashing, options with { Flattened = true }, ct);
            });
        }
        catch (OperationCanceledException)
        {
            return Failed(null, incomplete, LocalDumpTarget.Interrupted);
        }

        using (hashing)
        {
            if (writeError is not null || result is null || result.Incomplete || !r.Ok || hashing is null)
            {
                string why = string.Join("; ", new[]
                {
                    writeError?.Message ?? result?.Error ?? (r.Ok ? "the saver stopped early" : null),
                    r.Ok ? null : string.Create(CultureInfo.InvariantCulture, $"ssh exited with status {r.ExitCode}: {r.Why}"),
                }.OfType<string>());
                return Failed(result, incomplete, why);
            }

            // Read back what arrived: the size and SHA-256 of the remote file against what was sent.
            if (VerifyRemote(incomplete, hashing) is { } mismatch)
            {
                return Failed(result, incomplete, mismatch);
            }

            var mv = ssh.Run($"mv {SshClient.Quote(incomplete)} {SshClient.Quote(final)}");
            if (!mv.Ok)
            {
                return Failed(result, incomplete, $"moving vmcore failed: {mv.Why}");
            }

            log.WriteLine("saving vmcore complete");
            return new VmcoreOutcome(true, result, $"{ssh.Destination}:{final}", null);
        }
    }

    private string Remote(string dir, string? file = null)
    {
        string d = remotePath.TrimEnd('/') + "/" + dir;
        return file is null ? d : d + "/" + file;
    }

    private VmcoreOutcome Failed(DumpWriteResult? result, string incomplete, string why)
    {
        log.WriteLine($"saving vmcore failed: {why}");
        return new VmcoreOutcome(false, result, $"{ssh.Destination}:{incomplete}", why);
    }
}
