#!/usr/bin/env bash
# Runs on the GPU host (via the device tool): harness check + bench with the prebuilt binary
# (built here by native/dev/cuda_build.sh, carried as build-cuda/), optional torch peers.
# Usage: native/dev/cuda_device_run.sh [check|bench|all|quick] [peers-args...]
set -uo pipefail
cd "$(dirname "$0")/../.."
MODE=${1:-all}; shift || true
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv | tee $OUT/gpu.txt
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr ' ' '-')
DATE=$(date -u +%Y-%m-%d)
if [ "$MODE" = all ] || [ "$MODE" = check ] || [ "$MODE" = check_se ]; then
  timeout 150 build-cuda/cuda_check_bench check > $OUT/check.log 2>&1; echo "check rc=$?"
  grep -E "^FAIL|checks:|CUDA error" $OUT/check.log | head -60; tail -2 $OUT/check.log
fi
BMODE=bench; [ "$MODE" = quick ] && BMODE=quick; [ "$MODE" = check_se ] && BMODE=bench_se
if [ "$MODE" != check ]; then
  timeout 300 build-cuda/cuda_check_bench $BMODE $OUT/${GPU}-${DATE}-harness.md > $OUT/harness.log 2>&1
  echo "bench rc=$?"
fi
grep -E "ERROR" $OUT/harness.log | head -20
sed -n '/^op /,$p' $OUT/harness.log
if [ "$#" -gt 0 ]; then
  timeout 300 python3 bench/torch_peers.py "$@" > $OUT/peers.jsonl 2> $OUT/peers.err
  echo "peers rc=$?"; tail -3 $OUT/peers.err; wc -l $OUT/peers.jsonl
fi
