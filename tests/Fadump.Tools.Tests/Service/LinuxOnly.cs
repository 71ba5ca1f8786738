// The dump service's tests run real processes (sh, sshd), mount tmpfs and check Unix file modes: Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
