#!/usr/bin/env bash
# Builds the CUDA harness (sm_90 only, static cudart) into build-cuda/. Objects are reused when
# their sources are older. Usage: native/dev/cuda_build.sh [arch, default sm_90]
set -euo pipefail
cd "$(dirname "$0")/../.."
ARCH=${1:-sm_90}
OUT=build-cuda
mkdir -p $OUT
FLAGS="-std=c++17 -O3 -arch=$ARCH -Inative/include -Xptxas -v -lineinfo"
pids=()
for f in se eca cbam; do
  nvcc $FLAGS -c native/cuda/$f.cu -o $OUT/$f.o > $OUT/$f.ptxas.txt 2>&1 & pids+=($!)
done
nvcc -std=c++17 -O3 -Inative/include -c native/cuda/runtime.cpp -o $OUT/runtime.o
nvcc -std=c++17 -O3 -arch=$ARCH -Inative/include -c native/dev/cuda_check_bench.cu -o $OUT/harness.o
for p in "${pids[@]}"; do wait $p; done
nvcc -arch=$ARCH -cudart static $OUT/se.o $OUT/eca.o $OUT/cbam.o $OUT/runtime.o $OUT/harness.o -o $OUT/cuda_check_bench
echo built $OUT/cuda_check_bench
