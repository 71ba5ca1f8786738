using System.Buffers.Binary;
using System.Text;

namespace Fadump.Machine;

/// <summary>
/// An Open Firmware device tree: nodes with named byte-string properties (cells are big-endian
/// u32, as in a flattened device tree). The kernel reads it through /proc/device-tree.
/// </summary>
public sealed class DeviceTreeNode
{
    private readonly SortedDictionary<string, DeviceTreeNode> _children = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, byte[]> _properties = new(StringComparer.Ordinal);

    public DeviceTreeNode(string name) => Name = name;

    public string Name { get; }

    public IEnumerable<DeviceTreeNode> Children => _children.Values;

    public IReadOnlyDictionary<string, byte[]> Properties => _properties;

    public DeviceTreeNode GetOrAdd(string name)
    {
        if (!_children.TryGetValue(name, out var n))
        {
            n = new DeviceTreeNode(name);
            _children[name] = n;
        }

        return n;
    }

    /// <summary>Finds a node by absolute path ("/rtas").</summary>
    public DeviceTreeNode? Find(string path)
    {
        var node = this;
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!node._children.TryGetValue(part, out node))
            {
                return null;
            }
        }

        return node;
    }

    public DeviceTreeNode Ensure(string path)
    {
        var node = this;
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            node = node.GetOrAdd(part);
        }

        return node;
    }

    public byte[]? Get(string property) => _properties.TryGetValue(property, out var v) ? v : null;

    public void Set(string property, byte[] value) => _properties[property] = value;

    public void SetString(string property, string value) => _properties[property] = Encoding.ASCII.GetBytes(value + "\0");

    public void SetCells(string property, params uint[] cells)
    {
        var b = new byte[cells.Length * 4];
        for (int i = 0; i < cells.Length; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(i * 4), cells[i]);
        }

        _properties[property] = b;
    }

    public bool Remove(string property) => _properties.Remove(property);

    public static uint[] Cells(byte[] value)
    {
        var cells = new uint[value.Length / 4];
        for (int i = 0; i < cells.Length; i++)
        {
            cells[i] = BinaryPrimitives.ReadUInt32BigEndian(value.AsSpan(i * 4));
        }

        return cells;
    }
}
