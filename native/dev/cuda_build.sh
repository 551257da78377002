#!/usr/bin/env bash
# Builds the CUDA harness (one arch, static cudart) into build-cuda/.
# Usage: native/dev/cuda_build.sh [arch=sm_90] [outdir=build-cuda] [extra nvcc flags]
set -euo pipefail
cd "$(dirname "$0")/../.."
ARCH=${1:-sm_90}
OUT=${2:-build-cuda}
EXTRA=${3:-}
mkdir -p $OUT
# SQEX_DEV_KNOBS: the planner's development overrides (SQEX_CBAM_PT, launch.cuh) in the harness
# only; host code, so the kernels' cubins are the addon's
FLAGS="-std=c++17 -O3 -arch=$ARCH -Inative/include -Xptxas -v -lineinfo -DSQEX_DEV_KNOBS $EXTRA"
pids=()
for f in se eca cbam; do
  nvcc $FLAGS -c native/cuda/$f.cu -o $OUT/$f.o > $OUT/$f.ptxas.txt 2>&1 & pids+=($!)
done
for f in device stream_cache forward memory benchmark; do
  nvcc -std=c++17 -O3 -Inative/include -c native/cuda/$f.cpp -o $OUT/$f.o
done
nvcc -std=c++17 -O3 -arch=$ARCH -Inative/include -c native/dev/cuda_check_bench.cu -o $OUT/harness.o
for p in "${pids[@]}"; do wait $p; done
nvcc -arch=$ARCH -cudart static $OUT/se.o $OUT/eca.o $OUT/cbam.o $OUT/{device,stream_cache,forward,memory,benchmark}.o $OUT/harness.o -o $OUT/cuda_check_bench
echo built $OUT/cuda_check_bench
