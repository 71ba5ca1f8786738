using System.Globalization;
using System.Text;
using System.Text.Json;
using Fadump.Formats;
using Fadump.Formats.Elf;

namespace Fadump.Tools.Inspect;

/// <summary>`fadump regs`: every CPU's registers from the NT_PRSTATUS notes; an OPAL core's threads by PIR.</summary>
public static class RegisterReport
{
    public static string ToText(IDump dump)
    {
        var cpus = dump.CpuStates();
        var names = PrStatus.RegisterNames(dump.Machine.Arch);
        var opal = OpalCore.TryRead(dump);
        var crashing = opal is null ? CrashingCpuFinder.Find(dump) : null;
        var sb = new StringBuilder();
        if (cpus.Count == 0)
        {
            sb.Append("no NT_PRSTATUS notes in this dump\n");
            return sb.ToString();
        }

        for (int c = 0; c < cpus.Count; c++)
        {
            var st = cpus[c];
            if (opal is not null)
            {
                // opal-core.c fill_prstatus: pr_pid is 100 + PIR; the first note is the crashing thread's.
                var t = opal.Threads[c];
                sb.Append(CultureInfo.InvariantCulture, $"PIR 0x{t.Pir:x}: pid {st.Pid}, signal {st.CurSig}{(t.Crashing ? " (crashing thread)" : string.Empty)}\n");
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $"CPU {c}{(crashing?.Index == c ? " (crashing CPU)" : string.Empty)}: pid {st.Pid}, signal {st.CurSig}\n");
            }

            for (int i = 0; i < names.Length; i++)
            {
                sb.Append(CultureInfo.InvariantCulture, $"  {names[i],-9} 0x{st.Registers[i]:x16}");
                if (i % 3 == 2 || i == names.Length - 1)
                {
                    sb.Append('\n');
                }
            }
        }

        return sb.ToString();
    }

    public static string ToJson(IDump dump)
    {
        var cpus = dump.CpuStates();
        var names = PrStatus.RegisterNames(dump.Machine.Arch);
        var opal = OpalCore.TryRead(dump);
        var crashing = opal is null ? CrashingCpuFinder.Find(dump) : null;
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("arch", dump.Machine.UtsMachine);
            if (opal is null)
            {
                // The note index of the crashing CPU and how it was found (CrashingCpuFinder), or null.
                if (crashing is { } cc)
                {
                    w.WriteNumber("crashing_cpu", cc.Index);
                    w.WriteString("crashing_cpu_evidence", cc.Evidence);
                }
                else
                {
                    w.WriteNull("crashing_cpu");
                }
            }

            w.WriteStartArray("cpus");
            for (int c = 0; c < cpus.Count; c++)
            {
                w.WriteStartObject();
                w.WriteNumber("cpu", c);
                if (opal is not null)
                {
                    w.WriteNumber("pir", opal.Threads[c].Pir);
                    w.WriteBoolean("crashing", opal.Threads[c].Crashing);
                }
                else
                {
                    w.WriteBoolean("crashing", crashing?.Index == c);
                }

                w.WriteNumber("pid", cpus[c].Pid);
                w.WriteNumber("signal", cpus[c].CurSig);
                w.WriteStartObject("registers");
                for (int i = 0; i < names.Length; i++)
                {
                    w.WriteString(names[i], "0x" + cpus[c].Registers[i].ToString("x16", CultureInfo.InvariantCulture));
                }

                w.WriteEndObject();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}
