using System.Buffers.Binary;
using System.Text;

namespace Fadump.Machine;

/// <summary>
/// A bus-master device (a NIC or an HBA): it owns a receive ring in RAM and keeps writing into it,
/// at its own pace, until it is reset. A crash does not stop it: Linux's machine_crash_shutdown leaves
/// devices and the IOMMU running, so DMA lands in memory until the capture kernel's drivers reset
/// the hardware at probe (reset_devices). Seed 004's hazard.
/// </summary>
public sealed class DmaDevice(string name, MemoryRange ring, ulong bytesPerSecond)
{
    public string Name { get; } = name;

    /// <summary>The buffers the device was given, as physical addresses.</summary>
    public MemoryRange Ring { get; } = ring;

    public ulong BytesPerSecond { get; } = bytesPerSecond;

    /// <summary>Bus mastering on: the device writes whenever time passes.</summary>
    public bool Active { get; private set; } = true;

    /// <summary>The next byte of the ring the device writes.</summary>
    public ulong Cursor { get; internal set; }

    /// <summary>Packets (64-byte records) written so far.</summary>
    public ulong Sequence { get; internal set; }

    /// <summary>The driver's reset: bus mastering off, ring forgotten.</summary>
    public void Reset() => Active = false;

    /// <summary>A new driver programs the device again (the first kernel's boot).</summary>
    public void Start()
    {
        Active = true;
        Cursor = 0;
    }
}

/// <summary>One device write: which device, where, and when (virtual time).</summary>
public readonly record struct DmaWrite(string Device, MemoryRange Range, TimeSpan At);

/// <summary>The machine's DMA: every active device writes its share when <see cref="Run"/> lets time pass.</summary>
public sealed class DmaEngine(PhysicalMemory memory)
{
    /// <summary>Bytes per DMA record: each is "DMA " + device name + sequence number, so a corrupted page says who wrote it.</summary>
    public const int RecordSize = 64;

    private readonly List<DmaDevice> _devices = [];
    private readonly List<DmaWrite> _writes = [];

    public IReadOnlyList<DmaDevice> Devices => _devices;

    /// <summary>Writes recorded since the last <see cref="ClearLog"/>: one per device and <see cref="Run"/>, two when the ring wrapped.</summary>
    public IReadOnlyList<DmaWrite> Writes => _writes;

    public DmaDevice Add(string name, MemoryRange ring, ulong bytesPerSecond)
    {
        if (ring.Size < RecordSize || ring.Start % RecordSize != 0 || ring.Size % RecordSize != 0)
        {
            throw new ArgumentException(FormattableString.Invariant($"DMA ring {ring} of {name} must be whole {RecordSize}-byte records"), nameof(ring));
        }

        if (!memory.IsRam(ring.Start, ring.Size))
        {
            throw new ArgumentException(FormattableString.Invariant($"DMA ring {ring} of {name} is not RAM"), nameof(ring));
        }

        var d = new DmaDevice(name, ring, bytesPerSecond);
        _devices.Add(d);
        return d;
    }

    public void ClearLog() => _writes.Clear();

    /// <summary>Lets <paramref name="duration"/> pass for every active device, starting at virtual time <paramref name="now"/>.</summary>
    public void Run(TimeSpan now, TimeSpan duration)
    {
        var record = new byte[RecordSize];
        foreach (var d in _devices.Where(d => d.Active))
        {
            ulong bytes = (ulong)(d.BytesPerSecond * duration.TotalSeconds) / RecordSize * RecordSize;
            // A ring is rewritten at most once per call: more would only repeat the same pages.
            bytes = Math.Min(bytes, d.Ring.Size);
            ulong start = d.Cursor;
            for (ulong done = 0; done < bytes; done += RecordSize)
            {
                Array.Clear(record);
                Encoding.ASCII.GetBytes("DMA " + d.Name).AsSpan(0, Math.Min(40, 4 + d.Name.Length)).CopyTo(record);
                BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(48), d.Sequence++);
                memory.Write(d.Ring.Start + d.Cursor, record);
                d.Cursor = (d.Cursor + RecordSize) % d.Ring.Size;
            }

            if (bytes > 0)
            {
                Record(d.Name, start, bytes, d.Ring, now);
            }
        }
    }

    private void Record(string device, ulong start, ulong bytes, MemoryRange ring, TimeSpan now)
    {
        ulong first = Math.Min(bytes, ring.Size - start);
        _writes.Add(new DmaWrite(device, new MemoryRange(ring.Start + start, first), now));
        if (bytes > first)
        {
            _writes.Add(new DmaWrite(device, new MemoryRange(ring.Start, bytes - first), now));
        }
    }
}
