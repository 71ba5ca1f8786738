#!/usr/bin/env bash
# CI smoke run of every fuzz target (see fuzz/README.md): builds and instruments once, replays each
# target's corpus and its regression inputs (fuzz/regressions/TARGET), then fuzzes it for
# FUZZ_SMOKE_SECONDS (default 10). Any finding fails the run loudly: exit 1 with the inputs and the
# exception of each.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
seconds=${FUZZ_SMOKE_SECONDS:-10}
# A loaded CI machine must not turn a slow input into a "hang": 5 s per input in the smoke run.
export FUZZ_TIMEOUT_MS=${FUZZ_TIMEOUT_MS:-5000}
export FUZZ_BIN=${FUZZ_BIN:-$here/bin}
out=${FUZZ_SMOKE_OUT:-$(mktemp -d /tmp/fadump-fuzz-smoke.XXXXXX)}
./run.sh --build
mapfile -t targets < <(dotnet "$FUZZ_BIN/Fadump.Fuzz.dll" list | awk '{print $1}')
[ ${#targets[@]} -gt 0 ] || { echo "smoke.sh: no fuzz targets listed" >&2; exit 1; }
failed=()
# fuzz/known/TARGET: findings reported but fixed elsewhere (another branch); replayed, and reported
# while they still fail, but they do not fail this run: move them to regressions/ once fixed.
for d in known/*/; do
    [ -d "$d" ] || continue
    t=$(basename "$d")
    if ! timeout 300 dotnet "$FUZZ_BIN/Fadump.Fuzz.dll" replay "$t" "$d" >/dev/null 2>&1; then
        echo "smoke.sh: WARNING: known finding in $d still reproduces (see fuzz/README.md, 'Known findings')" >&2
    else
        echo "smoke.sh: known finding in $d no longer reproduces: move it to fuzz/regressions/$t/" >&2
    fi
done
for t in "${targets[@]}"; do
    inputs=("corpus/$t")
    [ -d "regressions/$t" ] && inputs+=("regressions/$t")
    if ! timeout 300 dotnet "$FUZZ_BIN/Fadump.Fuzz.dll" replay "$t" "${inputs[@]}"; then
        failed+=("$t (replay)")
        continue
    fi
    if ! FUZZ_SKIP_BUILD=1 ./run.sh "$t" "$seconds" "$out/$t"; then
        failed+=("$t (afl-fuzz)")
        for f in $(find "$out/$t/default/crashes" "$out/$t/default/hangs" -type f -name 'id:*' 2>/dev/null | head -5); do
            echo "---- $f: the exception"
            timeout 60 dotnet "$FUZZ_BIN/Fadump.Fuzz.dll" replay "$t" "$f" 2>&1 | tail -n 40 || true
            # the input, at most its first 3000 bytes: head reads the file, so no pipe is cut short under pipefail
            echo "---- $f: $(stat -c %s "$f") bytes, the first 3000 in base64:"
            head -c 3000 "$f" | base64 -w0; echo
        done
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "==================================================================" >&2
    echo "FUZZ SMOKE FAILED: findings in ${failed[*]} (outputs in $out)" >&2
    echo "==================================================================" >&2
    exit 1
fi
echo "fuzz smoke: ${#targets[@]} targets replayed and fuzzed ${seconds}s each, no finding"
