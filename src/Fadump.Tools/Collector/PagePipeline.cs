using System.Collections.Concurrent;
using Fadump.Formats.Compression;

namespace Fadump.Tools.Collector;

/// <summary>A run of consecutive PFNs in a batch.</summary>
internal readonly record struct PfnRun(ulong Pfn, int Count);

/// <summary>
/// Up to <see cref="PagePipeline.BatchPages"/> pages to read and process together, with the buffers the
/// worker fills. Reused through a bounded pool.
/// </summary>
internal sealed class PageBatch
{
    public PageBatch(int pages, int pageSize, bool compress)
    {
        Input = new byte[pages * pageSize];
        Output = compress ? new byte[pages * pageSize] : [];
        Lengths = new int[pages];
    }

    public long Index { get; set; }

    public List<PfnRun> Runs { get; } = [];

    public int PageCount { get; set; }

    /// <summary>One past the last PFN the batch covers (progress).</summary>
    public ulong EndPfn { get; set; }

    /// <summary>Page data, PageCount pages in run order.</summary>
    public byte[] Input { get; }

    /// <summary>Compressed pages back to back (kdump).</summary>
    public byte[] Output { get; }

    /// <summary>Per page: compressed length in <see cref="Output"/>, 0 = raw page, -1 = zero page (shares pd_zero).</summary>
    public int[] Lengths { get; }

    public Exception? Error { get; set; }

    public ManualResetEventSlim Done { get; } = new(false);

    public void Reset(long index)
    {
        Index = index;
        Runs.Clear();
        PageCount = 0;
        Error = null;
        Done.Reset();
    }
}

/// <summary>
/// The parallel part of a save: a dispatcher cuts the work into batches in PFN order, N workers read and
/// compress them, and the calling thread consumes them strictly in order (one writer, deterministic output
/// whatever N). Memory is bounded by the batch pool: 2N + 2 batches of at most 1 MiB of input (and as much
/// compressed output) each, smaller with many threads so that the pool stays within <see cref="PoolBudgetBytes"/>.
/// </summary>
internal sealed class PagePipeline
{
    /// <summary>Bytes all batch buffers may take together, whatever the thread count (RSS stays bounded).</summary>
    public const int PoolBudgetBytes = 48 << 20;

    /// <summary>
    /// Batches of one thread (a capture kernel with nr_cpus=1): 256 KiB, so that the pool (4 batches, each with its
    /// compressed copy) takes 2 MiB instead of 8. With no worker to keep busy, larger batches buy nothing.
    /// </summary>
    public const int SingleThreadBatchBytes = 256 << 10;

    public PagePipeline(int pageSize, int threads, PageCompression compression, bool shareZeroPages)
    {
        PageSize = pageSize;
        Threads = Math.Clamp(threads, 1, 256);
        int buffersPerBatch = compression == PageCompression.None ? 1 : 2;
        int perBatch = Math.Min(Threads == 1 ? SingleThreadBatchBytes : PageReader.MaxReadBytes, PoolBudgetBytes / (PoolSize * buffersPerBatch));
        BatchPages = Math.Max(1, perBatch / pageSize);
        Compression = compression;
        ShareZeroPages = shareZeroPages;
    }

    public int PageSize { get; }

    /// <summary>Batches in flight: enough for every worker to have one queued behind the one it works on.</summary>
    public int PoolSize => (2 * Threads) + 2;

    public int Threads { get; }

    public int BatchPages { get; }

    public PageCompression Compression { get; }

    public bool ShareZeroPages { get; }

    /// <summary>
    /// Runs the pipeline. <paramref name="dispatch"/> runs on its own thread and fills batches through the
    /// callback it is given (which blocks while all batches are in use); <paramref name="work"/> runs on the
    /// workers; <paramref name="consume"/> on the calling thread, in batch order.
    /// </summary>
    public void Run(Action<Func<PageBatch>, Action<PageBatch>> dispatch, Action<PageBatch> work, Action<PageBatch> consume, CancellationToken ct)
    {
        int poolSize = PoolSize;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var token = cts.Token;
        using var slots = new SemaphoreSlim(poolSize, poolSize);
        var free = new ConcurrentBag<PageBatch>();
        using var workQueue = new BlockingCollection<PageBatch>(poolSize);
        using var ordered = new BlockingCollection<PageBatch>(poolSize);
        Exception? dispatchError = null;
        long next = 0;
        var all = new List<PageBatch>();

        PageBatch Take()
        {
            slots.Wait(token);
            if (!free.TryTake(out var b))
            {
                b = new PageBatch(BatchPages, PageSize, Compression != PageCompression.None);
                lock (all)
                {
                    all.Add(b);
                }
            }

            b.Reset(next++);
            return b;
        }

        void Submit(PageBatch b)
        {
            workQueue.Add(b, token);
            ordered.Add(b, token);
        }

        var dispatcher = new Thread(() =>
        {
            try
            {
                dispatch(Take, Submit);
            }
            catch (Exception e)
            {
                dispatchError = e;
            }
            finally
            {
                workQueue.CompleteAdding();
                ordered.CompleteAdding();
            }
        })
        { IsBackground = true, Name = "fadump-save-dispatch" };

        var workers = new Thread[Threads];
        for (int i = 0; i < workers.Length; i++)
        {
            workers[i] = new Thread(() =>
            {
                try
                {
                    foreach (var b in workQueue.GetConsumingEnumerable(token))
                    {
                        try
                        {
                            work(b);
                        }
                        catch (Exception e)
                        {
                            b.Error = e;
                        }

                        b.Done.Set();
                    }
                }
                catch (OperationCanceledException)
                {
                }
            })
            { IsBackground = true, Name = "fadump-save-worker" };
        }

        dispatcher.Start();
        foreach (var w in workers)
        {
            w.Start();
        }

        try
        {
            foreach (var b in ordered.GetConsumingEnumerable(token))
            {
                b.Done.Wait(token);
                if (b.Error is { } e)
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
                }

                consume(b);
                free.Add(b);
                slots.Release();
            }

            if (dispatchError is { } de)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(de).Throw();
            }
        }
        finally
        {
            cts.Cancel();
            dispatcher.Join();
            foreach (var w in workers)
            {
                w.Join();
            }

            foreach (var b in all)
            {
                b.Done.Dispose();
            }
        }
    }

    /// <summary>Kdump worker step: reads the runs, marks zero pages, compresses the rest (kept only if smaller than a page).</summary>
    public void ReadAndCompress(Fadump.Formats.IDump dump, PageBatch b)
    {
        int ps = PageSize;
        int at = 0;
        foreach (var r in b.Runs)
        {
            PageReader.Read(dump, r.Pfn, r.Count, b.Input.AsSpan(at * ps, r.Count * ps));
            at += r.Count;
        }

        int outAt = 0;
        for (int i = 0; i < b.PageCount; i++)
        {
            var page = b.Input.AsSpan(i * ps, ps);
            if (ShareZeroPages && !page.ContainsAnyExcept((byte)0))
            {
                b.Lengths[i] = -1;
                continue;
            }

            if (Compression != PageCompression.None)
            {
                int n = PageCodec.Compress(Compression, page, b.Output.AsSpan(outAt, ps - 1));
                if (n > 0)
                {
                    b.Lengths[i] = n;
                    outAt += n;
                    continue;
                }
            }

            b.Lengths[i] = 0;
        }
    }
}
