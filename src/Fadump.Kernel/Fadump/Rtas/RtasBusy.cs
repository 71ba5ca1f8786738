using Fadump.Firmware.Rtas;
using Fadump.Machine;

namespace Fadump.Kernel.Fadump.Rtas;

/// <summary>rtas_busy_delay around an RTAS call: −2 retries after 1 ms, 9900..9905 after 10^(rc−9900) ms.</summary>
public static class RtasBusy
{
    public static int Call(SimulatedMachine machine, Func<int> call)
    {
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            int rc = call();
            if (rc == RtasFirmware.RcBusy)
            {
                machine.Clock.Advance(TimeSpan.FromMilliseconds(1));
                continue;
            }

            if (rc is >= 9900 and <= 9905)
            {
                machine.Clock.Advance(TimeSpan.FromMilliseconds(Math.Pow(10, rc - 9900)));
                continue;
            }

            return rc;
        }

        return RtasFirmware.RcHardwareError;
    }
}
