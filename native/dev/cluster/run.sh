#!/usr/bin/env bash
# One step of a GPU session script (device machine, repo root, nvcc on PATH, no network):
# builds the cluster-variant harness unless an up-to-date build-cluster/se_cluster was carried,
# then runs it under a hard time budget, one process per variant (a device fault or a trapped
# barrier in one variant cannot take the others' results with it). Files, in $OUT/cluster/:
#   cluster.log        every check and timing line of every process
#   cluster-table.md   one row per (variant, op, shape, dtype, layout): µs, graph µs, copy, err, pass
#   rows.tsv           the same rows, for `se_cluster summary`
#   gpu.txt, build.log nvidia-smi before/after; the build (with the ptxas summary) or "carried"
# Prints, last: per-variant exit codes, check counts, FAIL lines, phase probes, and the merged
# graph-µs summary.
# Usage: bash native/dev/cluster/run.sh [all|check|bench|quick|mini|sanitize] [run_budget_s=80]
#   The harness processes share the budget (each stops itself between two problems at its share,
#   BUDGET_S, and still prints its rows); `timeout` share + 15 s is the hard stop per process.
#   Build, only when no up-to-date binary was carried: <= 50 s (about 20 s expected on 16 cores).
#   sanitize: compute-sanitizer memcheck over the mini problems (small, every variant and path).
set -uo pipefail
# Glob order follows the collation locale: the stamp (build.sh) and this check must list the
# sources in one order on any machine (the device's locale once made a current build look stale).
export LC_ALL=C
cd "$(dirname "$0")/../../.."
MODE=${1:-all}
BUDGET=${2:-80}
O=${OUT:-/tmp/out}/cluster
mkdir -p "$O"
rm -f "$O/cluster-table.md" "$O/rows.tsv" "$O/cluster.log"
t0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,power.draw,utilization.gpu \
  --format=csv > "$O/gpu.txt" 2>&1
BIN=build-cluster/se_cluster
SRC="native/dev/cluster/se_cluster.cu native/dev/cluster/cbam_stub.cpp native/cuda/*.cuh native/cuda/se.cu native/cuda/eca.cu native/cuda/device.cpp native/cuda/stream_cache.cpp native/cuda/forward.cpp native/cuda/memory.cpp native/cuda/benchmark.cpp"
want=$(cat $SRC 2>/dev/null | sha256sum | cut -c1-16)
have=$(cat build-cluster/src.sha 2>/dev/null || true)
if [ -x $BIN ] && [ "$want" = "$have" ] && $BIN selftest > /dev/null 2>&1; then
  echo "using the carried $BIN ($have)" | tee "$O/build.log"
else
  echo "building (carried binary: ${have:-none}, sources: $want)" | tee "$O/build.log"
  timeout 50 bash native/dev/cluster/build.sh >> "$O/build.log" 2>&1
  rc=$?
  echo "build rc=$rc ($(( $(date +%s) - t0 )) s)"
  if [ $rc -ne 0 ]; then tail -30 "$O/build.log"; exit 1; fi
fi
if [ "$MODE" = sanitize ]; then
  timeout --kill-after=5 $(( BUDGET + 15 )) compute-sanitizer --tool memcheck --print-limit 20 \
    $BIN mini "$O" > "$O/cluster.log" 2>&1
  rc=$?
  grep -E "ERROR SUMMARY|^=========|checks:|total:" "$O/cluster.log" | head -30
  exit $rc
fi
# most informative first: v1 and its floors, v3, the shipped kernel, then the probes of pooling
# precision (v1f), cluster size (v5) and re-reading (v2, v4)
# (weights: the share of the remaining budget each process may use; v1, v3 and base also time batch 32)
GROUPS_=(v1 floor16,floorR v3 base v1f v5 v2 v4)
WEIGHT_=(3 1 3 3 1 1 1 1)
t1=$(date +%s)
worst=0
status=()
for i in "${!GROUPS_[@]}"; do
  V=${GROUPS_[$i]}
  left=$(( BUDGET - ($(date +%s) - t1) ))
  wsum=0; for j in $(seq $i $(( ${#GROUPS_[@]} - 1 ))); do wsum=$(( wsum + WEIGHT_[j] )); done
  if [ $left -lt 3 ]; then status+=("$V:not-run"); continue; fi
  share=$(( left * WEIGHT_[i] / wsum )); [ $share -lt 3 ] && share=3
  echo "=== VARIANTS=$V share ${share} s" >> "$O/cluster.log"
  VARIANTS=$V BUDGET_S=$share timeout --kill-after=5 $(( share + 15 )) $BIN "$MODE" "$O" >> "$O/cluster.log" 2>&1
  rc=$?
  status+=("$V:rc=$rc")
  [ $rc -ne 0 ] && worst=$rc
done
nvidia-smi --query-gpu=clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv,noheader >> "$O/gpu.txt" 2>&1
echo "== se_cluster $MODE: ${status[*]} (rc 124 = killed by timeout; 2 = CUDA error), step $(( $(date +%s) - t0 )) s"
grep -m1 "^device:" "$O/cluster.log"
grep -m1 "^max active clusters" "$O/cluster.log"
grep -E "^(FAIL|CUDA error)|checks:|STOPPED" "$O/cluster.log" | head -40
grep -E "^probe " "$O/cluster.log"
$BIN summary "$O" | grep -v "^FAIL"
exit $worst
