#!/usr/bin/env bash
# A big real vmcore for the benchmark: Debian's kernel under QEMU with FADUMP_BIG_MEM (default 4G) of RAM and
# a larger workload, made by tests/fixtures/qemu/make-dumps.sh itself with these changes (its default
# fixtures stay as they are):
#   - RAM FADUMP_BIG_MEM; tmpfs page cache 2 x FADUMP_BIG_CACHE_MB MiB of random data (default 256);
#   - anonymous memory: FADUMP_BIG_ANON_MB MiB of random data as base64 in a shell (default 96);
#   - free memory with stale contents: FADUMP_BIG_STALE_MB MiB (default 1536) of copies of busybox written
#     to tmpfs and deleted before the workload, so free pages hold old data as on a real machine;
#   - only the ELF dump (no kdump-zlib).
# Usage: bench/make-big-dump.sh [OUTDIR]   (default $HOME/.cache/fadump/bigdump; cached like make-dumps.sh)
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$HERE/../tests/fixtures/qemu/make-dumps.sh
OUT=${1:-$HOME/.cache/fadump/bigdump}
MEM=${FADUMP_BIG_MEM:-4G}
CACHE=${FADUMP_BIG_CACHE_MB:-256}
ANON=${FADUMP_BIG_ANON_MB:-96}
STALE=${FADUMP_BIG_STALE_MB:-1536}
TMPFS=$(( 2 * CACHE + STALE + 64 ))
DERIVED=$(mktemp /tmp/make-big-dump.XXXXXX.sh)
trap 'rm -f "$DERIVED"' EXIT
sed -e "s/-m 512M/-m $MEM/" \
    -e "s/size=160m/size=${TMPFS}m/" \
    -e "s/count=48/count=$CACHE/" \
    -e "s/2 x 48 MiB/2 x $CACHE MiB/" \
    -e "s/count=24/count=$ANON/" \
    -e 's/("kdump-zlib", "vmcore.kdump-zlib"),//' \
    -e "/^mount -t tmpfs -o size=.* tmpfs \/data$/a i=0; while [ \$i -lt $STALE ]; do cat /bin/busybox; i=\$((i+1)); done | head -c ${STALE}M >/data/stale; rm /data/stale; kmsg \"stale data: ${STALE} MiB written and freed\"" \
    "$SRC" >"$DERIVED"
chmod +x "$DERIVED"
grep -q "stale data" "$DERIVED" || { echo "make-big-dump: could not derive the script (make-dumps.sh changed?)" >&2; exit 1; }
FADUMP_READY_TIMEOUT=${FADUMP_READY_TIMEOUT:-1200} "$DERIVED" "$OUT"
