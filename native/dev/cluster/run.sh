#!/usr/bin/env bash
# One step of a GPU session script (device machine, repo root, nvcc on PATH, no network):
# builds the cluster-variant harness unless an up-to-date build-cluster/se_cluster was carried,
# then runs it under a hard time budget. Everything lands in $OUT/cluster/ (4-5 files):
#   cluster.log (every check and timing line), cluster-table.md (one row per variant, shape,
#   dtype, layout), gpu.txt (nvidia-smi before/after), build.log (+ ptxas summary).
# Prints the check count, any FAIL line and the compact graph-µs summary last.
# Usage: bash native/dev/cluster/run.sh [all|check|bench|quick|mini|sanitize] [run_budget_s=75]
# The harness stops itself at the budget (BUDGET_S) and still prints its summary; `timeout` at
# budget + 15 s is the hard stop. Build (only when no up-to-date binary was carried): <= 60 s.
#   sanitize: compute-sanitizer memcheck over the mini problems (every variant and path, small)
set -uo pipefail
cd "$(dirname "$0")/../../.."
MODE=${1:-all}
BUDGET=${2:-75}
O=${OUT:-/tmp/out}/cluster
mkdir -p "$O"
t0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,power.draw,utilization.gpu \
  --format=csv > "$O/gpu.txt" 2>&1
SRC="native/dev/cluster/se_cluster.cu native/dev/cluster/cbam_stub.cpp native/cuda/*.cuh native/cuda/se.cu native/cuda/eca.cu native/cuda/runtime.cpp"
want=$(cat $SRC 2>/dev/null | sha256sum | cut -c1-16)
have=$(cat build-cluster/src.sha 2>/dev/null || true)
if [ -x build-cluster/se_cluster ] && [ "$want" = "$have" ] && build-cluster/se_cluster selftest > /dev/null 2>&1; then
  echo "using the carried build-cluster/se_cluster ($have)" | tee "$O/build.log"
else
  echo "building (carried binary: ${have:-none}, sources: $want)" | tee "$O/build.log"
  timeout 60 bash native/dev/cluster/build.sh >> "$O/build.log" 2>&1
  rc=$?
  echo "build rc=$rc ($(( $(date +%s) - t0 )) s)"
  if [ $rc -ne 0 ]; then tail -30 "$O/build.log"; exit 1; fi
fi
if [ "$MODE" = sanitize ]; then
  timeout --kill-after=5 $(( BUDGET + 15 )) compute-sanitizer --tool memcheck --print-limit 20 \
    build-cluster/se_cluster mini "$O" > "$O/cluster.log" 2>&1
  rc=$?
  grep -E "ERROR SUMMARY|^=========" "$O/cluster.log" | head -20
else
  BUDGET_S=$BUDGET timeout --kill-after=5 $(( BUDGET + 15 )) build-cluster/se_cluster "$MODE" "$O" > "$O/cluster.log" 2>&1
  rc=$?
fi
nvidia-smi --query-gpu=clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv,noheader >> "$O/gpu.txt" 2>&1
echo "== se_cluster $MODE: rc=$rc$( [ $rc -eq 124 ] && echo " (killed by timeout: partial results in cluster-table.md)" )," \
     "step $(( $(date +%s) - t0 )) s"
head -3 "$O/cluster.log"
grep -E "^(FAIL|CUDA error)|checks:|total:" "$O/cluster.log" | head -40
sed -n '/^== \(phase probes\|graph-replay\)/,$p' "$O/cluster.log"
exit $rc
