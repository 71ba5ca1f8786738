namespace Fadump.Tools.Service;

/// <summary>The program a kdump.conf <c>core_collector</c> line names (kdump.conf(5), EXAMPLES).</summary>
public enum CoreCollectorProgram
{
    /// <summary>makedumpfile: filtered, compressed, written by fadump's own saver with makedumpfile's options.</summary>
    Makedumpfile,

    /// <summary>
    /// cp (kdump.conf(5) ex1, <c>cp --sparse=always</c>): /proc/vmcore copied as it is, an unfiltered ELF, to a
    /// file-system or local target (kdump-utils dump_fs: <c>$CORE_COLLECTOR /proc/vmcore DIR/vmcore-incomplete</c>).
    /// </summary>
    Cp,

    /// <summary>
    /// scp (kdump.conf(5) ex7): /proc/vmcore copied as it is to an ssh target, saved as <c>vmcore</c>, not
    /// vmcore.flat (kdump-utils dump_ssh: <c>scp -q $_ssh_opts /proc/vmcore HOST:DIR/vmcore-incomplete</c>).
    /// </summary>
    Scp,
}
