using System.Buffers.Binary;
using System.Text;

namespace Fadump.Machine.Tests;

public sealed class DmaTests
{
    [Fact]
    public void An_active_device_writes_its_ring_at_its_rate_and_stops_when_reset()
    {
        var m = new SimulatedMachine([new MemoryRange(0, 64UL << 20)], 1);
        var nic = m.Dma.Add("eth0", new MemoryRange(0x100000, 0x4000), bytesPerSecond: 0x1000 * 10);

        m.Dma.Run(TimeSpan.Zero, TimeSpan.FromMilliseconds(150)); // 0x1800 bytes
        Assert.Equal([new DmaWrite("eth0", new MemoryRange(0x100000, 0x1800), TimeSpan.Zero)], m.Dma.Writes);
        var rec = new byte[DmaEngine.RecordSize];
        m.Memory.Read(0x100000 + 0x40, rec);
        Assert.StartsWith("DMA eth0", Encoding.ASCII.GetString(rec));
        Assert.Equal(1UL, BinaryPrimitives.ReadUInt64LittleEndian(rec.AsSpan(48)));

        m.Dma.Run(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)); // wraps: 0x2800 to the end, then from the start
        Assert.Equal(new MemoryRange(0x101800, 0x2800), m.Dma.Writes[1].Range);
        Assert.Equal(new MemoryRange(0x100000, 0x1800), m.Dma.Writes[2].Range);

        nic.Reset();
        m.Dma.ClearLog();
        m.Dma.Run(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(10));
        Assert.Empty(m.Dma.Writes);
    }

    [Fact]
    public void A_ring_must_be_ram_and_whole_records()
    {
        var m = new SimulatedMachine([new MemoryRange(0, 64UL << 20)], 1);
        Assert.Throws<ArgumentException>(() => m.Dma.Add("bad", new MemoryRange(0x100010, 0x1000), 1));
        Assert.Throws<ArgumentException>(() => m.Dma.Add("hole", new MemoryRange(63UL << 20, 2UL << 20), 1));
    }
}
