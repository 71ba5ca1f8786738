namespace Fadump.Tools.Service;

/// <summary>What the service may ask of the system when it is done or has failed.</summary>
public enum SystemAction
{
    Reboot,
    Halt,
    PowerOff,

    /// <summary>An interactive shell on the console (kdump-utils' kdump_emergency_shell); returns when it exits.</summary>
    Shell,
}
