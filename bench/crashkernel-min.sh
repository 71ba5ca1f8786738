#!/usr/bin/env bash
# The smallest crashkernel= with which a real capture kernel still saves the dump, for fadump collect and
# for makedumpfile, in the same guest (issue 9 part 4).
#
# Usage: bench/crashkernel-min.sh [LOW_MiB [HIGH_MiB [STEP_MiB]]]     defaults 64 256 8
#
# Each try is one tests/fixtures/qemu/make-crash.sh run (1 GiB TCG guest, Debian's kernel, `kexec -p`,
# sysrq c) with FADUMP_CRASHKERNEL=<size>M and FADUMP_CRASH_ONLY=fadump|makedumpfile: the capture initramfs
# is the same for both (busybox, the native fadump, makedumpfile and their libraries); only the collector
# that runs differs (fadump collect with core_collector makedumpfile -l --message-level 7 -d 31, or that
# makedumpfile command), saving to a virtio ext4 disk. A try works when the collector exits 0; it fails when
# kexec -p refuses the reservation, the capture kernel does not come up, or the collector fails (OOM).
# HIGH must work; the search halves [LOW, HIGH] down to STEP. Tries are cached under
# ~/.cache/fadump/crashkernel-min (a repeated size is not run again).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
LOW=${1:-64}; HIGH=${2:-256}; STEP=${3:-8}
BASE=${FADUMP_CRASHKERNEL_MIN_CACHE:-$HOME/.cache/fadump/crashkernel-min}
mkdir -p "$BASE"
log() { printf '[crashkernel-min] %s\n' "$*" >&2; }

# try TOOL MiB: 0 when the collector finished.
try() {
    local tool=$1 mib=$2 out=$BASE/$1-$2M
    if FADUMP_CRASH_ONLY=$tool FADUMP_CRASHKERNEL=${mib}M FADUMP_CRASH_TIMEOUT=${FADUMP_CRASH_TIMEOUT:-900} \
        tests/fixtures/qemu/make-crash.sh "$out" >"$BASE/$tool-${mib}M.log" 2>&1; then
        log "$tool crashkernel=${mib}M: works ($(cat "$out/only.txt"))"
        return 0
    fi
    log "$tool crashkernel=${mib}M: fails ($(grep -h -m1 -o 'ERROR: .*' "$BASE/$tool-${mib}M.log" | cut -c1-120))"
    return 1
}

declare -A RESULT
for tool in fadump makedumpfile; do
    try "$tool" "$HIGH" || { log "$tool does not work even with crashkernel=${HIGH}M"; RESULT[$tool]="none up to ${HIGH}M"; continue; }
    lo=$LOW hi=$HIGH
    if try "$tool" "$lo"; then hi=$lo; fi
    while [ $((hi - lo)) -gt "$STEP" ]; do
        mid=$(( (lo + hi) / 2 / STEP * STEP ))
        [ "$mid" -le "$lo" ] && mid=$((lo + STEP))
        if try "$tool" "$mid"; then hi=$mid; else lo=$mid; fi
    done
    RESULT[$tool]="${hi}M ($(cat "$BASE/$tool-${hi}M/only.txt"); MemTotal $(awk '/^MemTotal/{print $2}' "$BASE/$tool-${hi}M/meminfo.txt") kB)"
done
echo "# smallest crashkernel= that lets the collector finish (1 GiB guest, steps of ${STEP} MiB)"
for tool in fadump makedumpfile; do
    printf '%-13s %s\n' "$tool" "${RESULT[$tool]}"
done
