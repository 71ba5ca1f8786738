#!/usr/bin/env bash
# Coverage-guided fuzzing of one target with afl-fuzz and SharpFuzz (see fuzz/README.md).
#   fuzz/run.sh TARGET SECONDS [OUTDIR]     fuzz TARGET for SECONDS (default out dir: fuzz/out/TARGET)
#   fuzz/run.sh --build                     build and instrument only
# Exit status: 0 when the run found no crash and no hang, 1 when it did (the inputs are listed),
# 2 on a usage error. Environment: FUZZ_TIMEOUT_MS (per-exec limit, default 2000), FUZZ_MEMORY_MB
# (the .NET GC heap limit of the target process, default 128), FUZZ_RESUME=1 to continue an earlier run,
# FUZZ_BIN (where to build, default fuzz/bin), FUZZ_SKIP_BUILD=1 to reuse an instrumented FUZZ_BIN.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
bin=${FUZZ_BIN:-$here/bin}

build() {
    dotnet tool restore >/dev/null
    rm -rf "$bin"   # sharpfuzz instruments in place: start from freshly published assemblies
    dotnet publish Fadump.Fuzz/Fadump.Fuzz.csproj -c Release -o "$bin" --nologo -v quiet -p:UseAppHost=false >/dev/null
    # Instrument the readers: Fadump.Formats, Fadump.Tools and the simulated kernel (sysfs handlers).
    # sharpfuzz rewrites the assembly in place and refuses one it has already instrumented.
    for dll in Fadump.Formats Fadump.Tools Fadump.Kernel; do
        local said
        said=$(dotnet tool run sharpfuzz "$bin/$dll.dll" 2>&1) || { echo "$said" >&2; exit 1; }
    done
}

if [ "${1:-}" = --build ]; then
    build
    exit 0
fi

if [ $# -lt 2 ] || ! [[ $2 =~ ^[0-9]+$ ]]; then
    echo "usage: fuzz/run.sh TARGET SECONDS [OUTDIR] | fuzz/run.sh --build" >&2
    exit 2
fi
target=$1 seconds=$2 out=${3:-$here/out/$target}
[ -d "$here/corpus/$target" ] || { echo "run.sh: no corpus for target '$target' (fuzz/corpus/$target)" >&2; exit 2; }
command -v afl-fuzz >/dev/null || { echo "run.sh: afl-fuzz is not installed (Debian package afl++)" >&2; exit 1; }
[ -n "${FUZZ_SKIP_BUILD:-}" ] || build

timeout_ms=${FUZZ_TIMEOUT_MS:-2000}
memory_mb=${FUZZ_MEMORY_MB:-128}
dict=()
[ -f "$here/dict/$target.dict" ] && dict=(-x "$here/dict/$target.dict")
input=(-i "$here/corpus/$target")
if [ -n "${FUZZ_RESUME:-}" ] && [ -d "$out/default/queue" ]; then
    input=(-i -)
else
    rm -rf "$out"
fi
mkdir -p "$out"

# Sandbox: no CPU governor to set, no core_pattern to change, no UI.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
export AFL_SKIP_BIN_CHECK=1     # the target is `dotnet DLL`; SharpFuzz speaks the fork-server protocol
export AFL_FORKSRV_INIT_TMOUT=60000  # .NET start-up and JIT before the first exec
# Memory: afl-fuzz's -m (RLIMIT_AS) cannot be used with the .NET runtime, which reserves hundreds of GiB of
# address space at start-up. The GC heap hard limit bounds what one input may make the reader allocate:
# past it the allocation throws OutOfMemoryException, which escapes the target and is a crash.
export DOTNET_GCHeapHardLimit=$(printf '0x%x' $((memory_mb << 20)))

echo "run.sh: fuzzing $target for ${seconds}s (per exec: -t ${timeout_ms} ms, GC heap ${memory_mb} MiB) into $out"
run_afl() {
    set +e
    afl-fuzz "${input[@]}" -o "$out" "${dict[@]}" -t "$timeout_ms" -m none -V "$seconds" -- dotnet "$bin/Fadump.Fuzz.dll" "$target" \
        > "$out/afl.log" 2>&1
    rc=$?
    set -e
}
run_afl
# Seen once in a CI run (printk-ring, 2026-12-02) and not reproduced: the fork server came up but afl-fuzz saw no
# coverage from the first seed's dry run. That is the harness, not the reader (a reader's failure on a seed
# is a crash, reported as one): try once more, and fail as before if it happens again.
if [ ! -f "$out/default/fuzzer_stats" ] && grep -q 'No instrumentation detected' "$out/afl.log"; then
    echo "run.sh: afl-fuzz saw no instrumentation on its dry run; starting it once more" >&2
    mv "$out/afl.log" "$out/afl-first-try.log"
    rm -rf "$out/default"
    run_afl
fi
# SharpFuzz runs every input in the one process that answers the fork-server protocol, so when afl-fuzz
# kills an input that ran past -t (or the runtime dies), the fork server is gone and afl-fuzz aborts
# instead of saving a hang: keep the input it was running as the hang.
if grep -qE 'Unable to communicate with fork server|Unable to request new process from fork server|Fork server is misbehaving' "$out/afl.log"; then
    mkdir -p "$out/default/hangs"
    cp "$out/default/.cur_input" "$out/default/hangs/id:fork-server-lost,$(date +%s)" 2>/dev/null || true
    echo "run.sh: afl-fuzz lost the fork server: the input it was running timed out or killed the runtime" >&2
fi
stats="$out/default/fuzzer_stats"
if [ ! -f "$stats" ]; then
    tail -40 "$out/afl.log" >&2
    echo "run.sh: afl-fuzz did not start (exit $rc)" >&2
    exit 1
fi
grep -E '^(execs_done|execs_per_sec|corpus_count|edges_found|total_edges|bitmap_cvg|saved_crashes|saved_hangs|unique_crashes|unique_hangs|run_time) ' "$stats" | sed 's/^/  /'
findings=$(find "$out/default/crashes" "$out/default/hangs" -type f -name 'id:*' 2>/dev/null | sort)
if [ -n "$findings" ]; then
    echo "run.sh: FUZZING FOUND CRASHES OR HANGS in target $target:" >&2
    echo "$findings" | sed 's/^/  /' >&2
    exit 1
fi
echo "run.sh: $target: no crash, no hang"
