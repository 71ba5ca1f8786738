#!/bin/sh
# kdump-tools-harness.sh: runs Debian 12's kdump-tools scripts, UNMODIFIED (/usr/sbin/kdump-config as the
# package installs it), against a simulated machine's /proc and /sys.
#
#   kdump-tools-harness.sh ROOT WORK COMMAND [ARG...]      e.g. ... /tmp/m /tmp/w /usr/sbin/kdump-config status
#
# ROOT is the machine's tree (ROOT/proc/..., ROOT/sys/...): a `fadump sim mount ROOT` or a plain directory.
# WORK is the caller's scratch directory. COMMAND runs as root in a private mount namespace
# (unshare -m --propagation private), where, and only there:
#   /proc             a tmpfs holding a symlink to the host's procfs entry (self, mounts, filesystems, ...) for
#                     each name, except that every entry of ROOT/proc (cmdline, iomem, meminfo, vmcore,
#                     sysrq-trigger, device-tree, ...) is ROOT's, bind-mounted; there is no PID directory but
#                     self and thread-self. The host's /proc/sysrq-trigger is never linked (a machine without one
#                     has none), and the host's /proc/sys is never visible: /proc/sys is ROOT/proc/sys if
#                     the machine has one, else WORK/proc-sys (a scratch kernel/panic_on_oops, "0" at first),
#                     so kdump-config's `sysctl -w kernel.panic_on_oops=1` cannot change the host
#   /sys              ROOT/sys, bind-mounted (kdump-config reads /sys/kernel/{fadump_enabled,fadump_registered,
#                     kexec_crash_loaded}, /sys/kernel/security/securelevel and /sys/firmware/efi/efivars)
#   /var/crash        WORK/crash (KDUMP_COREDIR's default; the dumps, kexec_cmd, kdump_lock)
#   /var/lib/kdump    WORK/lib-kdump (KDUMP_DIR: the vmlinuz and initrd.img links)
#   /etc/default/kdump-tools   WORK/kdump-tools if the caller wrote one, else a copy of the package's
#                     /usr/share/kdump-tools/kdump-tools.conf
#   /sbin/kexec       HARNESS STAND-IN (WORK/standin/kexec): kdump-config calls KEXEC=/sbin/kexec, and the real one
#                     would load into the host's kernel. It logs its arguments to WORK/kexec.log; `kexec -p ...`
#                     succeeds only when the simulated kernel says a crash kernel is loaded
#                     (/sys/kernel/kexec_crash_loaded is 1, as the x86_64 first kernel's is from boot), and
#                     `-u` fails: a process cannot load or unload the simulator's capture kernel
#   /usr/bin/logger   HARNESS STAND-IN (WORK/standin/logger): there is no syslog socket here; it appends its
#                     arguments to WORK/syslog
#   reboot            HARNESS STAND-IN (WORK/standin/reboot), bound over the file `reboot` resolves to (Debian 12:
#                     /usr/sbin/reboot -> /bin/systemctl): /etc/init.d/kdump-tools ends a capture kernel's start with
#                     `reboot -f`. It logs its arguments to WORK/reboot.log and restarts the simulated machine
#                     (`echo b > ROOT/proc/sysrq-trigger`); under any other name it refuses. COMMAND does not run
#                     if `reboot` resolves to anything else. SYSTEMCTL_SKIP_REDIRECT=1 keeps init scripts from
#                     handing over to systemctl (lsb's 40-systemd hook) on a systemd host.
# kdump-config sets PATH=/bin:/usr/bin:/sbin:/usr/sbin itself (its line 29), so stand-ins must sit at the real
# paths: a PATH shim would not be seen. `uname` is the host's: kdump-config only compares `uname -m` with "ia64"
# and uses `uname -r` for /boot and /var/lib/kdump names in kdump (not fadump) mode.
# Nothing outside the namespace changes, except that /var/crash is created (empty) if missing, as kdump-config
# itself does (its line 61), to have a mount point. The exit status is COMMAND's.
set -eu

if [ "${1-}" = "--inside" ]; then
    shift
    ROOT=$1 WORK=$2
    shift 2
    # The host's procfs, for the entries the machine does not have.
    mkdir -p "$WORK/.hostproc"
    mount --rbind /proc "$WORK/.hostproc"
    mount -t tmpfs -o mode=0555 fadump-kdt-proc /proc
    for p in "$WORK/.hostproc"/*; do
        n=${p##*/}
        case $n in
            *[!0-9]*) ;;
            *) continue ;;    # PID directories: a snapshot would be stale
        esac
        case $n in sys|sysrq-trigger) continue ;; esac
        [ -e "$ROOT/proc/$n" ] || [ -L "$ROOT/proc/$n" ] || ln -s "$p" "/proc/$n"
    done
    for p in "$ROOT/proc"/*; do
        [ -e "$p" ] || continue
        n=${p##*/}
        if [ -d "$p" ]; then mkdir "/proc/$n"; else : > "/proc/$n"; fi
        mount --bind "$p" "/proc/$n"
    done
    if [ ! -d /proc/sys ]; then
        if [ ! -d "$WORK/proc-sys" ]; then
            mkdir -p "$WORK/proc-sys/kernel"
            echo 0 > "$WORK/proc-sys/kernel/panic_on_oops"
        fi
        mkdir /proc/sys
        mount --bind "$WORK/proc-sys" /proc/sys
    fi
    mount --bind "$ROOT/sys" /sys
    mkdir -p "$WORK/crash" "$WORK/lib-kdump"
    mount --bind "$WORK/crash" /var/crash
    mount --bind "$WORK/lib-kdump" /var/lib/kdump
    [ -f "$WORK/kdump-tools" ] || cp /usr/share/kdump-tools/kdump-tools.conf "$WORK/kdump-tools"
    mount --bind "$WORK/kdump-tools" /etc/default/kdump-tools
    mount --bind "$WORK/standin/kexec" /usr/sbin/kexec
    mount --bind "$WORK/standin/logger" /usr/bin/logger
    if reboot=$(PATH=/bin:/usr/bin:/sbin:/usr/sbin command -v reboot); then
        mount --bind "$WORK/standin/reboot" "$(readlink -f "$reboot")"
        cmp -s "$(readlink -f "$(PATH=/bin:/usr/bin:/sbin:/usr/sbin command -v reboot)")" "$WORK/standin/reboot" || {
            echo "$0: reboot is not the harness stand-in here; not running $*" >&2
            exit 3
        }
    fi
    export SYSTEMCTL_SKIP_REDIRECT=1
    exec "$@"
fi

if [ $# -lt 3 ]; then
    echo "usage: $0 ROOT WORK COMMAND [ARG...]" >&2
    exit 2
fi
ROOT=$(readlink -f "$1") WORK=$(readlink -f "$2")
shift 2
for need in /usr/sbin/kdump-config /usr/share/kdump-tools/kdump-tools.conf /etc/default/kdump-tools /var/lib/kdump; do
    [ -e "$need" ] || { echo "$0: $need is missing: install Debian's kdump-tools (scripts/install-test-deps does)" >&2; exit 3; }
done
command -v unshare >/dev/null || { echo "$0: unshare (util-linux) is missing" >&2; exit 3; }
[ "$(id -u)" = 0 ] || { echo "$0: must run as root (mount namespaces and bind mounts)" >&2; exit 3; }
[ -d "$ROOT/proc" ] && [ -d "$ROOT/sys" ] || { echo "$0: $ROOT has no proc/ and sys/" >&2; exit 3; }
[ -d /var/crash ] || mkdir -p /var/crash

mkdir -p "$WORK/standin"
cat > "$WORK/standin/kexec" <<'EOF'
#!/bin/sh
# HARNESS STAND-IN for /sbin/kexec (kdump-tools-harness.sh), not kexec-tools: the real one would load into the
# host's kernel. Logs its arguments; `-p` succeeds only if the simulated kernel has a crash kernel loaded.
echo "$*" >> "@WORK@/kexec.log"
for a in "$@"; do
    case $a in
        -u|--unload) echo "kexec (harness stand-in): cannot unload the simulated machine's capture kernel" >&2; exit 1 ;;
    esac
done
if [ "$(cat /sys/kernel/kexec_crash_loaded 2>/dev/null)" = 1 ]; then
    exit 0
fi
echo "kexec (harness stand-in): the simulated kernel has no crash kernel loaded (/sys/kernel/kexec_crash_loaded is not 1)" >&2
exit 1
EOF
cat > "$WORK/standin/logger" <<'EOF'
#!/bin/sh
# HARNESS STAND-IN for /usr/bin/logger (kdump-tools-harness.sh): no syslog socket here; appends the message.
echo "$*" >> "@WORK@/syslog"
EOF
cat > "$WORK/standin/reboot" <<'EOF'
#!/bin/sh
# HARNESS STAND-IN for reboot (kdump-tools-harness.sh), not the host's: restarts the SIMULATED machine only.
case ${0##*/} in
    reboot) ;;
    *) echo "${0##*/} (harness stand-in for reboot only): refused" >&2; exit 1 ;;
esac
echo "reboot $*" >> "@WORK@/reboot.log"
if [ -e "@ROOT@/proc/sysrq-trigger" ]; then echo b > "@ROOT@/proc/sysrq-trigger"; fi
EOF
sed -i "s|@WORK@|$WORK|g; s|@ROOT@|$ROOT|g" "$WORK/standin/kexec" "$WORK/standin/logger" "$WORK/standin/reboot"
chmod 0755 "$WORK/standin/kexec" "$WORK/standin/logger" "$WORK/standin/reboot"

exec unshare -m --propagation private /bin/sh "$(readlink -f "$0")" --inside "$ROOT" "$WORK" "$@"
