using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Fadump.Kernel;
using Fadump.Kernel.Platforms;
using Fadump.Machine;

namespace Fadump.Cli;

/// <summary>
/// `fadump sim dma`: seed 004's question on one machine, both ways. The same x86_64 PC with the same
/// bus-master devices crashes twice, once with the capture kernel inside the reservation (the 2005 design)
/// and once with the reservation swapped to address zero (the 2004 design); the report lists every page
/// the devices wrote after the crash, what it was (a dumped page of the crashed kernel or the capture
/// kernel's own memory) and whether the capture survived.
/// </summary>
internal static class DmaCommand
{
    /// <summary>A 10 GbE NIC receiving into a 2 MiB ring in low memory, an NVMe queue above it.</summary>
    public static readonly string[] DefaultDevices = ["eth0:0xe000000:2M:1250000000", "nvme0:0x40000000:4M:3000000000"];

    public static Command Create(TextWriter stdout)
    {
        var memory = new Option<string>("--memory") { HelpName = "SIZE", Description = "RAM size (K/M/G/T suffixes)", DefaultValueFactory = _ => "4G" };
        var cpus = new Option<int>("--cpus") { HelpName = "N", Description = "number of CPUs", DefaultValueFactory = _ => 4 };
        var cmdline = new Option<string>("--cmdline") { HelpName = "PARAMS", Description = "kernel command line (needs crashkernel=)", DefaultValueFactory = _ => "root=/dev/sda2 ro crashkernel=256M" };
        var devices = new Option<string[]>("--device") { HelpName = "SPEC", Description = "a bus-master device NAME:START:SIZE:BYTES_PER_SECOND (repeatable; default: a NIC ring in low memory and an NVMe queue above it)" };
        var json = new Option<bool>("--json") { Description = "print the two reports as JSON" };
        var cmd = new Command("dma", "In-flight DMA after a crash (seed 004): the relocatable capture kernel against the 2004 swap-to-zero placement, on the same x86_64 PC") { memory, cpus, cmdline, devices, json };
        cmd.SetAction(p =>
        {
            long mem = Sizes.Parse(p.GetValue(memory)!);
            var spec = new PcSpec
            {
                MemoryBytes = mem > 0 ? (ulong)mem : 0,
                Cpus = p.GetValue(cpus),
                CommandLine = p.GetValue(cmdline)!,
                Workload = "idle",
                Dma = [.. (p.GetValue(devices) is { Length: > 0 } d ? d : DefaultDevices).Select(ParseDevice)],
            };
            if (spec.Validate() is { } error)
            {
                throw new UsageException(error);
            }

            (DmaReport Relocatable, DmaReport Swap) r;
            try
            {
                r = X86_64Pc.ComparePlacements(spec);
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException)
            {
                throw new UsageException(e.Message.TrimEnd());
            }

            stdout.Write(p.GetValue(json) ? ToJson(spec, r.Relocatable, r.Swap) : ToText(spec, r.Relocatable, r.Swap));
            return FadumpCommand.ExitOk;
        });
        return cmd;
    }

    private static DmaDeviceSpec ParseDevice(string s)
    {
        var parts = s.Split(':');
        if (parts.Length != 4)
        {
            throw new UsageException($"--device '{s}' is not NAME:START:SIZE:BYTES_PER_SECOND");
        }

        long start = Sizes.Parse(parts[1]), size = Sizes.Parse(parts[2]);
        if (start < 0 || size <= 0 || !ulong.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out ulong rate) || rate == 0)
        {
            throw new UsageException($"--device '{s}': START, SIZE and BYTES_PER_SECOND must be positive numbers");
        }

        return new DmaDeviceSpec(parts[0], new MemoryRange((ulong)start, (ulong)size), rate);
    }

    private static string ToText(PcSpec spec, DmaReport reloc, DmaReport swap)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"x86_64 PC, {Formats.BinarySize.Format(spec.MemoryBytes)}, {spec.Cpus} CPUs, {spec.CommandLine}\n");
        foreach (var d in spec.Dma)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  device {d.Name}: ring 0x{d.Ring.Start:x}-0x{d.Ring.End - 1:x} ({d.Ring.Size >> 10} KiB), {d.BytesPerSecond / 1e6:F0} MB/s, not stopped by the crash\n");
        }

        foreach (var r in new[] { reloc, swap })
        {
            sb.Append('\n').Append(r.Placement == CapturePlacement.Relocatable
                ? "relocatable (2005, merged): the capture kernel runs inside the reservation\n"
                : "swap to zero (2004): low memory swapped with the reservation, the capture kernel runs at 0\n");
            foreach (var g in r.Impacts.GroupBy(i => (i.Device, i.Target)))
            {
                var ranges = g.Select(i => i.Range).ToList();
                ulong pages = DmaReport.DistinctPages(ranges);
                string where = g.Key.Target == DmaTarget.DumpedPage ? "the crashed kernel's memory (dumped with the device's data, not the crash-time content)" : "the capture kernel's own memory";
                sb.Append(CultureInfo.InvariantCulture, $"  {g.Key.Device}: {pages} pages at 0x{ranges.Min(x => x.Start):x}-0x{ranges.Max(x => x.End) - 1:x} into {where}, from {g.Min(i => i.SinceCrash).TotalSeconds:F3} s after the crash\n");
            }

            sb.Append(CultureInfo.InvariantCulture, $"  corrupted: {r.CorruptedDumpPages} dumped pages, {r.CorruptedCapturePages} capture-kernel pages; capture {(r.CaptureSurvived ? "survived" : "lost: " + r.Failure)}\n");
        }

        return sb.ToString();
    }

    private static string ToJson(PcSpec spec, DmaReport reloc, DmaReport swap)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("platform", "x86_64");
            w.WriteNumber("memory_bytes", spec.MemoryBytes);
            w.WriteStartArray("placements");
            foreach (var r in new[] { reloc, swap })
            {
                w.WriteStartObject();
                w.WriteString("placement", r.Placement == CapturePlacement.Relocatable ? "relocatable" : "swap-to-zero");
                w.WriteBoolean("capture_survived", r.CaptureSurvived);
                if (r.Failure is not null)
                {
                    w.WriteString("failure", r.Failure);
                }

                w.WriteNumber("corrupted_dump_pages", r.CorruptedDumpPages);
                w.WriteNumber("corrupted_capture_pages", r.CorruptedCapturePages);
                w.WriteStartArray("writes");
                foreach (var i in r.Impacts)
                {
                    w.WriteStartObject();
                    w.WriteString("device", i.Device);
                    w.WriteString("start", "0x" + i.Range.Start.ToString("x", CultureInfo.InvariantCulture));
                    w.WriteNumber("bytes", i.Range.Size);
                    w.WriteString("target", i.Target == DmaTarget.DumpedPage ? "dumped_page" : "capture_kernel");
                    w.WriteNumber("seconds_after_crash", Math.Round(i.SinceCrash.TotalSeconds, 6));
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}
