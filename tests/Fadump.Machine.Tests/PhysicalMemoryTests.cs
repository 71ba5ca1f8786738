using Fadump.Machine;

namespace Fadump.Machine.Tests;

public sealed class PhysicalMemoryTests
{
    private sealed class AddressContent : IMemoryContent
    {
        public void Fill(ulong frameAddress, Span<byte> frame)
        {
            for (int i = 0; i < frame.Length; i++)
            {
                frame[i] = (byte)((frameAddress + (ulong)i) >> 12);
            }
        }
    }

    [Fact]
    public void Holes_raise_machine_checks()
    {
        var mem = new PhysicalMemory([new MemoryRange(0, 0x10000), new MemoryRange(0x20000, 0x10000)]);
        Assert.Throws<MachineCheckException>(() => mem.Read(0x18000, new byte[4]));
        Assert.Throws<MachineCheckException>(() => mem.Read(0xfffe, new byte[4]));
        Assert.False(mem.IsRam(0x10000));
        Assert.True(mem.IsRam(0x2ffff));
    }

    [Fact]
    public void Procedural_base_overlay_and_aliases_compose()
    {
        var mem = new PhysicalMemory([new MemoryRange(0, 1 << 20)], new AddressContent());
        var b = new byte[2];
        mem.Read(0x3000, b);
        Assert.Equal(3, b[0]);
        mem.Write(0x3000, [0xaa]);
        mem.Copy(0x3000, 0x80000, 0x2000);          // firmware copy: snapshot of the source
        mem.Write(0x3000, [0xbb]);                   // the source changes afterwards
        mem.Read(0x80000, b);
        Assert.Equal(new byte[] { 0xaa, 3 }, b);
        mem.Read(0x81000, b.AsSpan(0, 1));
        Assert.Equal(4, b[0]);
        mem.Copy(0x80000, 0xc0000, 0x1000);          // a copy of a copy
        mem.Read(0xc0000, b.AsSpan(0, 1));
        Assert.Equal(0xaa, b[0]);
        Assert.Equal(2, mem.AliasCount);
    }

    [Fact]
    public void A_terabyte_costs_nothing_until_written()
    {
        var mem = new PhysicalMemory([new MemoryRange(0, 1UL << 40)], new AddressContent());
        mem.Write((1UL << 40) - 8, [1, 2, 3]);
        Assert.Equal(1, mem.WrittenFrames);
        Assert.Equal(1UL << 40, mem.TotalRam);
    }
}
