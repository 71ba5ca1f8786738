using System.Diagnostics;
using System.Globalization;
using Fadump.Tools.Service;
using Fadump.Tools.Tests.Service;

namespace Fadump.Tools.Tests.Cli;

/// <summary>
/// `fadump collect` of a Power6 phyp dump killed with SIGKILL after a few releases, then run again: the root's
/// sys/kernel/release_region is a FIFO served by the test, which hands out the listing to each reader and records
/// each write as a release, scribbling over the released range of dev/mem (a regular file) as the running kernel
/// reusing it would. The second run must complete the dump from the first run's partial file and journal, page for
/// page equal to the crashed kernel's memory, and between them the two runs must release every listed byte once.
/// </summary>
public sealed class PhypKillRestartTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fadump-cli-phyp-kill-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static MatrixTheoryData<string, string> BuildsAndFormats => new([FadumpProcess.Jit, FadumpProcess.Native], ["-l -d 1", "-E -d 1"]);

    [Theory]
    [MemberData(nameof(BuildsAndFormats))]
    public void A_collect_killed_after_three_releases_is_completed_by_the_next_run(string build, string collector)
    {
        var fake = new FakePhypSysroot(withKernel: true);
        string root = Path.Combine(_dir, "root");
        Directory.CreateDirectory(Path.Combine(root, "sys", "kernel"));
        Directory.CreateDirectory(Path.Combine(root, "dev"));
        string devMem = Path.Combine(root, "dev", "mem");
        File.WriteAllBytes(devMem, fake.Memory);
        File.WriteAllText(Path.Combine(root, "sys", "kernel", "vmcoreinfo"), fake.VmcoreInfoText);
        string fifo = Path.Combine(root, "sys", "kernel", "release_region");
        Run("mkfifo", fifo);
        string target = Path.Combine(_dir, "crash");
        string conf = Path.Combine(_dir, "kdump.conf");
        File.WriteAllText(conf, $"path {target}\ncore_collector makedumpfile {collector} --num-threads 2\n");
        string[] args = ["collect", "--root", root, "--config", conf, "--print-actions", "--release-chunk", "4M", "--sync-every", "1M"];

        using var server = new ReleaseRegionServer(fifo, fake.ListingText, devMem);

        // Run 1: SIGKILL right after its third write to release_region reached the "kernel".
        var first = server.Serve(FadumpProcess.StartInfo(build, args), killAfter: 3);
        Assert.True(first.Process.ExitCode == 137 || first.Process.ExitCode == -1 || first.Process.ExitCode == 128 + 9, $"run 1 exit {first.Process.ExitCode}: {first.Output}");
        // At least three: a write the child made after the third can share the FIFO read that held it and reach
        // the "kernel" before the kill does (a real release_region write returns only when it is done). What
        // matters is below: over both runs every range is released exactly once.
        Assert.True(first.Releases.Count >= 3, $"run 1 released {first.Releases.Count} ranges before it was killed");
        string dumpDir = Directory.GetDirectories(target).Single();
        Assert.True(File.Exists(Path.Combine(dumpDir, PhypJournal.FileName)), first.Output);
        Assert.False(File.Exists(Path.Combine(dumpDir, "vmcore")));
        var mode = File.GetUnixFileMode(Path.Combine(dumpDir, PhypJournal.FileName));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, mode);

        // Run 2: completes the dump, never releasing a range twice.
        var second = server.Serve(FadumpProcess.StartInfo(build, args), killAfter: int.MaxValue);
        Assert.True(second.Process.ExitCode == 0, $"run 2 exit {second.Process.ExitCode}: {second.Output}");
        Assert.Contains("an interrupted collect of this dump saved through", second.Output, StringComparison.Ordinal);
        Assert.Equal(dumpDir, Directory.GetDirectories(target).Single());
        Assert.True(File.Exists(Path.Combine(dumpDir, "vmcore")));
        Assert.False(File.Exists(Path.Combine(dumpDir, PhypJournal.FileName)));
        Assert.Empty(Directory.GetFiles(dumpDir, ".vmcore*"));

        PhypResumeTests.AssertReleasedOnceEach(fake, [.. first.Releases, .. second.Releases]);
        PhypResumeTests.AssertSavedEqualsCrashed(fake, dumpDir);

        // And the memory of every released range was reused while the runs went on: what the dump holds is not it.
        var mem = File.ReadAllBytes(devMem);
        Assert.True(mem.AsSpan((int)fake.Listing.Dump.Address, (int)fake.Listing.Dump.Length).IndexOfAnyExcept(FakePhypSysroot.ReusedByte) < 0);
    }

    private static void Run(string file, params string[] args)
    {
        using var p = Process.Start(file, args)!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    /// <summary>
    /// Plays /sys/kernel/release_region over a FIFO for one child at a time: the listing to its reader, then each
    /// write (open, text, close) recorded as a release, whose range of dev/mem is then overwritten. The child
    /// reads the file once, before it writes; the test ends a run's release phase by opening and closing the
    /// FIFO itself once the child is gone (an empty write).
    /// </summary>
    private sealed class ReleaseRegionServer(string fifo, string listing, string devMem) : IDisposable
    {
        public sealed record RunResult(Process Process, List<AddressLength> Releases, string Output);

        public RunResult Serve(ProcessStartInfo psi, int killAfter)
        {
            var releases = new List<AddressLength>();
            var p = Process.Start(psi)!;
            p.StandardInput.Close();
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            Exception? error = null;
            bool listed = false;
            var thread = new Thread(() =>
            {
                try
                {
                    // Blocks until the child opens the file to read it.
                    using (var w = new FileStream(fifo, FileMode.Open, FileAccess.Write))
                    {
                        w.Write(System.Text.Encoding.ASCII.GetBytes(listing));
                    }

                    Volatile.Write(ref listed, true);

                    while (true)
                    {
                        byte[] text = File.ReadAllBytes(fifo); // one writer: open, write, close
                        if (text.Length == 0)
                        {
                            return; // the test's end-of-run marker
                        }

                        // "ADDR LEN" per write; a FIFO read can hold two writes when the child writes the
                        // next before this side has read the first to its end (seen once under load in CI).
                        var parts = System.Text.Encoding.ASCII.GetString(text).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                        for (int i = 0; i + 1 < parts.Length; i += 2)
                        {
                            var range = new AddressLength(Hex(parts[i]), Hex(parts[i + 1]));
                            lock (releases)
                            {
                                releases.Add(range);
                            }

                            if (releases.Count == killAfter)
                            {
                                p.Kill();
                            }

                            using var mem = File.OpenHandle(devMem, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
                            var fill = new byte[range.Length];
                            Array.Fill(fill, FakePhypSysroot.ReusedByte);
                            RandomAccess.Write(mem, fill, (long)range.Address);
                        }
                    }
                }
                catch (Exception e)
                {
                    error = e;
                }
            })
            { IsBackground = true, Name = "release_region" };
            thread.Start();
            if (!p.WaitForExit(180_000))
            {
                p.Kill();
                Assert.Fail("fadump collect did not finish");
            }

            p.WaitForExit();

            // A child that died before it read the listing: take it ourselves, so the server moves on.
            if (!Volatile.Read(ref listed))
            {
                File.ReadAllBytes(fifo);
            }

            // End the release phase: an empty write (pairs with the server's open for reading).
            if (thread.IsAlive)
            {
                using (new FileStream(fifo, FileMode.Open, FileAccess.Write))
                {
                }
            }

            Assert.True(thread.Join(30_000), "the release_region server did not stop");
            Assert.Null(error);
            return new RunResult(p, releases, stdout.Result + stderr.Result);
        }

        public void Dispose()
        {
        }

        private static ulong Hex(string s) => ulong.Parse(s.StartsWith("0x", StringComparison.Ordinal) ? s[2..] : s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
    }
}
