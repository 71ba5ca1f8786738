using System.Buffers;

namespace Fadump.Formats;

/// <summary>ReadPhysical on top of ReadPage, for page-based dumps (kdump-compressed, split sets).</summary>
internal static class PhysicalReader
{
    public static int Read(IDump dump, ulong address, Span<byte> buffer)
    {
        int ps = dump.PageSize;
        byte[]? tmp = null;
        int done = 0;
        try
        {
            while (done < buffer.Length)
            {
                ulong a = address + (ulong)done;
                ulong pfn = a / (ulong)ps;
                int inPage = (int)(a % (ulong)ps);
                int n = Math.Min(ps - inPage, buffer.Length - done);
                if (inPage == 0 && n == ps)
                {
                    if (dump.ReadPage(pfn, buffer.Slice(done, ps)) != PageState.Dumped)
                    {
                        break;
                    }
                }
                else
                {
                    tmp ??= ArrayPool<byte>.Shared.Rent(ps);
                    if (dump.ReadPage(pfn, tmp.AsSpan(0, ps)) != PageState.Dumped)
                    {
                        break;
                    }

                    tmp.AsSpan(inPage, n).CopyTo(buffer[done..]);
                }

                done += n;
            }
        }
        finally
        {
            if (tmp is not null)
            {
                ArrayPool<byte>.Shared.Return(tmp);
            }
        }

        return done;
    }
}
