namespace Fadump.Kernel.Fadump;

/// <summary>The FADump inside a kernel, for code that looks at the mechanism itself (tests, the fuzzer), not the CLI.</summary>
public static class FadumpKernelExtensions
{
    extension(LinuxKernel kernel)
    {
        /// <summary>The kernel's FADump (fw_dump and the rest of fadump.c's state).</summary>
        public FadumpCore Fadump => kernel.Mechanism as FadumpCore ?? throw new InvalidOperationException("this kernel's dump mechanism is not FADump");
    }
}
