using System.Collections.Concurrent;

namespace Fadump.Machine;

/// <summary>
/// The machine's RAM: one physical address space composed of layers (shared/DESIGN.md §3):
/// <list type="number">
/// <item>a sparse overlay of frames actually written (kernel structures, capture-kernel use);</item>
/// <item>range aliases: a firmware copy of boot memory is a remap that snapshots the source, not a byte copy;</item>
/// <item>a procedural base, a pure function of the address.</item>
/// </list>
/// RAM survives a reset: only writes change it. Addresses outside the RAM ranges are holes.
/// </summary>
public sealed class PhysicalMemory
{
    /// <summary>Granularity of the overlay and of aliases: 4 KiB, the smallest page size of any platform.</summary>
    public const int FrameSize = 4096;
    private const int FrameShift = 12;

    private readonly ConcurrentDictionary<ulong, byte[]> _overlay = new();
    private readonly List<Alias> _aliases = [];
    private readonly Lock _aliasLock = new();
    private MemoryRange[] _ram;
    private Alias[] _aliasSnapshot = [];

    public PhysicalMemory(IReadOnlyList<MemoryRange> ram, IMemoryContent? content = null)
    {
        _ram = [.. ram.OrderBy(r => r.Start)];
        for (int i = 0; i < _ram.Length; i++)
        {
            if (_ram[i].Start % FrameSize != 0 || _ram[i].Size % FrameSize != 0 || _ram[i].Size == 0)
            {
                throw new ArgumentException($"RAM range {_ram[i]} is not frame-aligned", nameof(ram));
            }

            if (i > 0 && _ram[i - 1].End > _ram[i].Start)
            {
                throw new ArgumentException($"RAM ranges {_ram[i - 1]} and {_ram[i]} overlap", nameof(ram));
            }
        }

        Content = content ?? ZeroContent.Instance;
    }

    /// <summary>Memory hot-add: a new RAM range, frame-aligned, overlapping no RAM. Its content is the procedural base's.</summary>
    public void AddRam(MemoryRange range)
    {
        if (range.Start % FrameSize != 0 || range.Size % FrameSize != 0 || range.Size == 0 || range.Size > ulong.MaxValue - range.Start)
        {
            throw new ArgumentException($"RAM range {range} is not frame-aligned", nameof(range));
        }

        if (_ram.Any(r => r.Overlaps(range)))
        {
            throw new ArgumentException($"RAM range {range} overlaps RAM", nameof(range));
        }

        _ram = [.. _ram.Append(range).OrderBy(r => r.Start)];
    }

    /// <summary>RAM ranges in ascending order; everything else is a hole.</summary>
    public IReadOnlyList<MemoryRange> Ram => _ram;

    public ulong TotalRam => _ram.Aggregate(0UL, (s, r) => s + r.Size);

    /// <summary>End of the highest RAM range.</summary>
    public ulong Top => _ram.Length == 0 ? 0 : _ram[^1].End;

    /// <summary>The procedural base; the workload model installs its own.</summary>
    public IMemoryContent Content { get; set; }

    /// <summary>Frames held by the overlay: the simulator's real memory cost.</summary>
    public int WrittenFrames => _overlay.Count;

    public int AliasCount => _aliasSnapshot.Length;

    public bool IsRam(ulong address)
    {
        foreach (var r in _ram)
        {
            if (r.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when [address, address + size) is all RAM.</summary>
    public bool IsRam(ulong address, ulong size)
    {
        foreach (var r in _ram)
        {
            if (r.Contains(address))
            {
                return size <= r.End - address;
            }
        }

        return false;
    }

    /// <summary>Reads RAM. A hole raises <see cref="MachineCheckException"/>, as a real bus error would.</summary>
    public void Read(ulong address, Span<byte> buffer)
    {
        CheckRam(address, (ulong)buffer.Length);
        ReadUnchecked(address, buffer, _aliasSnapshot);
    }

    public void Write(ulong address, ReadOnlySpan<byte> data)
    {
        CheckRam(address, (ulong)data.Length);
        while (!data.IsEmpty)
        {
            ulong fa = address & ~(ulong)(FrameSize - 1);
            int off = (int)(address - fa);
            int n = Math.Min(FrameSize - off, data.Length);
            if (!_overlay.TryGetValue(fa >> FrameShift, out var page))
            {
                page = new byte[FrameSize];
                if (n < FrameSize)
                {
                    ReadFrame(fa, page, _aliasSnapshot);
                }

                _overlay[fa >> FrameShift] = page;
            }

            data[..n].CopyTo(page.AsSpan(off));
            data = data[n..];
            address += (ulong)n;
        }
    }

    /// <summary>Fills a range with zeros (a kernel clearing memory it allocates).</summary>
    public void Clear(ulong address, ulong size)
    {
        CheckRam(address, size);
        var zero = new byte[FrameSize];
        while (size > 0)
        {
            int n = (int)Math.Min((ulong)FrameSize - (address % FrameSize), size);
            Write(address, zero.AsSpan(0, n));
            address += (ulong)n;
            size -= (ulong)n;
        }
    }

    /// <summary>
    /// Copies [source, source + size) to destination as the firmware does at a crash: a remap that
    /// snapshots the source as it is now, so later writes to the source do not show through.
    /// Frame-aligned only (firmware copies whole pages).
    /// </summary>
    public void Copy(ulong source, ulong destination, ulong size)
    {
        if ((source | destination | size) % FrameSize != 0)
        {
            throw new ArgumentException("firmware copies are frame-aligned");
        }

        CheckRam(source, size);
        CheckRam(destination, size);
        ulong firstSrc = source >> FrameShift, frames = size >> FrameShift;
        var snapshot = new Dictionary<ulong, byte[]>();
        foreach (var (frame, data) in _overlay)
        {
            if (frame - firstSrc < frames)
            {
                snapshot[frame] = (byte[])data.Clone();
            }
        }

        // The destination's own written frames are overwritten by the copy.
        foreach (var frame in _overlay.Keys)
        {
            if (frame - (destination >> FrameShift) < frames)
            {
                _overlay.TryRemove(frame, out _);
            }
        }

        lock (_aliasLock)
        {
            _aliases.Add(new Alias(destination, source, size, snapshot, _aliasSnapshot));
            _aliasSnapshot = [.. _aliases];
        }
    }

    private void CheckRam(ulong address, ulong size)
    {
        if (size == 0)
        {
            return;
        }

        if (size > ulong.MaxValue - address || !IsRamSpan(address, size))
        {
            throw new MachineCheckException(address, size);
        }
    }

    private bool IsRamSpan(ulong address, ulong size)
    {
        // A span may cross adjacent RAM ranges; it must not touch a hole.
        ulong end = address + size;
        ulong a = address;
        foreach (var r in _ram)
        {
            if (r.End <= a)
            {
                continue;
            }

            if (r.Start > a)
            {
                return false;
            }

            a = r.End;
            if (a >= end)
            {
                return true;
            }
        }

        return false;
    }

    [ThreadStatic]
    private static byte[]? t_frame;

    private void ReadUnchecked(ulong address, Span<byte> buffer, Alias[] aliases)
    {
        Span<byte> frame = t_frame ??= new byte[FrameSize];
        while (!buffer.IsEmpty)
        {
            ulong fa = address & ~(ulong)(FrameSize - 1);
            int off = (int)(address - fa);
            int n = Math.Min(FrameSize - off, buffer.Length);
            if (off == 0 && n == FrameSize)
            {
                ReadFrame(fa, buffer[..FrameSize], aliases);
            }
            else
            {
                ReadFrame(fa, frame, aliases);
                frame.Slice(off, n).CopyTo(buffer);
            }

            buffer = buffer[n..];
            address += (ulong)n;
        }
    }

    private void ReadFrame(ulong frameAddress, Span<byte> dest, Alias[] aliases)
    {
        if (_overlay.TryGetValue(frameAddress >> FrameShift, out var page))
        {
            page.CopyTo(dest);
            return;
        }

        ReadBelowOverlay(frameAddress, dest, aliases);
    }

    private void ReadBelowOverlay(ulong frameAddress, Span<byte> dest, Alias[] aliases)
    {
        // Newest alias wins.
        for (int i = aliases.Length - 1; i >= 0; i--)
        {
            var a = aliases[i];
            if (frameAddress - a.Destination < a.Size)
            {
                ulong src = a.Source + (frameAddress - a.Destination);
                if (a.Snapshot.TryGetValue(src >> FrameShift, out var snap))
                {
                    snap.CopyTo(dest);
                }
                else
                {
                    ReadBelowOverlay(src, dest, a.Earlier);
                }

                return;
            }
        }

        Content.Fill(frameAddress, dest);
    }

    /// <summary>A remap of [Source, +Size) at Destination, with the source's written frames as they were.</summary>
    private sealed record Alias(ulong Destination, ulong Source, ulong Size, Dictionary<ulong, byte[]> Snapshot, Alias[] Earlier);
}

/// <summary>An access to a physical address that is not RAM.</summary>
public sealed class MachineCheckException(ulong address, ulong size)
    : Exception(FormattableString.Invariant($"machine check: access to [0x{address:x}, +0x{size:x}) touches a memory hole"))
{
    public ulong Address { get; } = address;
}
