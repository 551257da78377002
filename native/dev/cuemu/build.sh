#!/usr/bin/env bash
# Builds the CUDA harness (native/dev/cuda_check_bench.cu) and the stream race probes
# (stream_race.cpp) over the CPU emulator: the kernels of native/cuda compiled by g++ with
# native/dev/cuemu/cuemu.h force-included.
# Usage: native/dev/cuemu/build.sh [outdir=build-cuemu] [asan] [SRC_ROOT=.]   (exit 3: no CUDA 12+ headers)
#   SRC_ROOT: a checkout (e.g. a git worktree of another commit) whose native/cuda and
#   harness to build; the emulator itself always comes from this checkout.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
OUT=${1:-$ROOT/build-cuemu}
MODE=${2:-}
SRC=${SRC_ROOT:-$ROOT}
# CUDA 12+ headers (where it looks: cuda_inc.sh)
source "$HERE/cuda_inc.sh"
CUDA_INC=$(cuda_inc) || { echo "cuemu: no CUDA 12+ headers found (set CUDA_INC or CUDA_HOME)" >&2; exit 3; }
mkdir -p "$OUT"
# -mfma -ffp-contract=fast: nvcc contracts a*b+c into one FMA by default; without it here the
# emulated kernels round products that the GPU does not, and accuracy checks read worse.
FLAGS=(-std=c++17 -O2 -g -pthread -mfma -ffp-contract=fast -Wno-attributes -I"$HERE" -I"$SRC/native/include" -isystem "$CUDA_INC")
[ "$MODE" = asan ] && FLAGS+=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
pids=()
for f in se eca cbam; do
  g++ "${FLAGS[@]}" -x c++ -include "$HERE/cuemu.h" -c "$SRC/native/cuda/$f.cu" -o "$OUT/$f.o" & pids+=($!)
done
for f in device stream_cache forward memory benchmark; do
  g++ "${FLAGS[@]}" -x c++ -include "$HERE/cuemu.h" -c "$SRC/native/cuda/$f.cpp" -o "$OUT/$f.o" & pids+=($!)
done
g++ "${FLAGS[@]}" -x c++ -include "$HERE/cuemu.h" -c "$SRC/native/dev/cuda_check_bench.cu" -o "$OUT/harness.o" & pids+=($!)
g++ "${FLAGS[@]}" -x c++ -include "$HERE/cuemu.h" -c "$HERE/stream_race.cpp" -o "$OUT/stream_race.o" & pids+=($!)
g++ "${FLAGS[@]}" -c "$HERE/cuemu.cpp" -o "$OUT/cuemu.o" & pids+=($!)
g++ "${FLAGS[@]}" -c "$HERE/cuemu_runtime.cpp" -o "$OUT/cuemu_runtime.o" & pids+=($!)
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
[ $rc = 0 ] || { echo "cuemu build failed" >&2; exit 1; }
g++ "${FLAGS[@]}" "$OUT"/{se,eca,cbam,device,stream_cache,forward,memory,benchmark,harness,cuemu,cuemu_runtime}.o -ldl -o "$OUT/cuda_check_bench"
g++ "${FLAGS[@]}" "$OUT"/{se,eca,cbam,device,stream_cache,forward,memory,benchmark,stream_race,cuemu,cuemu_runtime}.o -ldl -o "$OUT/stream_race"
echo "built $OUT/cuda_check_bench and $OUT/stream_race"
