#!/usr/bin/env bash
# The whole FADump lifecycle on simulated LPARs (64 GiB and 1 TiB by default): boot, register,
# crash, firmware copy, capture kernel, save, release_mem, re-register. Prints wall seconds, peak
# RSS and disk used per size. Usage: bench/lifecycle.sh [SIZE[:WORKLOAD[:PLATFORM]]...]
# PLATFORM is pseries (default) or x86_64 (kdump: kexec -p, crash, capture kernel, save, second reboot).
# Default: 64G:database 1T:idle (a 1 TiB database LPAR keeps ~80 GiB of kernel pages at -d 31).
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build -c Release src/Fadump.Cli -v quiet -nologo >/dev/null
FADUMP="dotnet src/Fadump.Cli/bin/Release/net10.0/fadump.dll"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(64G:database 1T:idle)
printf '%-8s %-8s %-6s %-9s %10s %12s %12s %14s\n' platform memory cpus workload wall_s peak_rss_MiB disk_MiB back_in_prod_s
for spec in "${sizes[@]}"; do
    IFS=: read -r size workload platform <<<"$spec"
    workload=${workload:-database}; platform=${platform:-pseries}
    cpus=16; [ "$size" = 1T ] && cpus=256
    out=$(mktemp -d /tmp/fadump-lifecycle.XXXXXX)
    log=$(mktemp)
    /usr/bin/time -v $FADUMP demo --platform "$platform" --memory "$size" --cpus "$cpus" --workload "$workload" --out "$out" --json >"$out/run.json" 2>"$log"
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {split($2,t,":"); s=0; for(i=1;i<=length(t);i++) s=s*60+t[i]; print s}' "$log")
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$log")
    disk=$(du -sm "$out" | cut -f1)
    back=$(python3 -c "import json,sys; print(round(json.load(open('$out/run.json'))['back_in_production_seconds'],1))")
    printf '%-8s %-8s %-6s %-9s %10s %12s %12s %14s\n' "$platform" "$size" "$cpus" "$workload" "$wall" "$rss" "$disk" "$back"
    rm -rf "$out" "$log"
done
