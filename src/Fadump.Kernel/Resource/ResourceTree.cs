using System.Globalization;
using System.Text;
using Fadump.Machine;

namespace Fadump.Kernel.Resource;

/// <summary>A struct resource: a named range with its children (kernel/resource.c).</summary>
public sealed class IoResource(string name, MemoryRange range)
{
    private readonly List<IoResource> _children = [];

    public string Name { get; } = name;

    public MemoryRange Range { get; private set; } = range;

    public IReadOnlyList<IoResource> Children => _children;

    /// <summary>insert_resource: goes under the deepest resource that wholly contains it, in address order.</summary>
    public IoResource Insert(string name, MemoryRange range)
    {
        if (range.Size == 0 || range.Start < Range.Start || range.End > Range.End)
        {
            throw new ArgumentException(FormattableString.Invariant($"resource {name} {range} is not inside {Name} {Range}"), nameof(range));
        }

        foreach (var c in _children)
        {
            if (c.Range.Start <= range.Start && range.End <= c.Range.End)
            {
                return c.Insert(name, range);
            }

            if (c.Range.Overlaps(range))
            {
                throw new ArgumentException(FormattableString.Invariant($"resource {name} {range} conflicts with {c.Name} {c.Range}"), nameof(range));
            }
        }

        var r = new IoResource(name, range);
        int at = _children.FindIndex(c => c.Range.Start > range.Start);
        _children.Insert(at < 0 ? _children.Count : at, r);
        return r;
    }

    /// <summary>Removes a direct child (release_resource).</summary>
    public bool Remove(IoResource child) => _children.Remove(child);

    /// <summary>Shrinks this resource to a new end (adjust_resource), keeping its start.</summary>
    public void Resize(ulong newSize)
    {
        if (newSize == 0 || _children.Any(c => c.Range.End > Range.Start + newSize))
        {
            throw new ArgumentException("a resource cannot shrink below its children", nameof(newSize));
        }

        Range = new MemoryRange(Range.Start, newSize);
    }

    /// <summary>Every resource with this name, depth first.</summary>
    public IEnumerable<IoResource> FindAll(string name)
    {
        foreach (var c in _children)
        {
            if (c.Name == name)
            {
                yield return c;
            }

            foreach (var d in c.FindAll(name))
            {
                yield return d;
            }
        }
    }
}

/// <summary>
/// iomem_resource and its /proc/iomem text (kernel/resource.c r_show):
/// "%*s%0*llx-%0*llx : %s\n" with two spaces per level and at least 8 hex digits.
/// </summary>
public sealed class ResourceTree
{
    public IoResource Root { get; } = new("PCI mem", MemoryRange.FromBounds(0, ulong.MaxValue));

    public IoResource Insert(string name, MemoryRange range) => Root.Insert(name, range);

    public string Render()
    {
        var sb = new StringBuilder();
        void Walk(IoResource r, int depth)
        {
            foreach (var c in r.Children)
            {
                sb.Append(' ', depth * 2)
                  .Append(c.Range.Start.ToString("x8", CultureInfo.InvariantCulture)).Append('-')
                  .Append((c.Range.End - 1).ToString("x8", CultureInfo.InvariantCulture)).Append(" : ")
                  .Append(c.Name).Append('\n');
                Walk(c, depth + 1);
            }
        }

        Walk(Root, 0);
        return sb.ToString();
    }
}
