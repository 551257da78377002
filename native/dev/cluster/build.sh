#!/usr/bin/env bash
# Builds the cluster-variant harness (sm_90, static cudart) into build-cluster/, with the shipped
# SE/ECA kernels linked in as the baseline rows, and writes the ptxas -v report of the variants.
# Works here (no GPU needed) and on the GPU host (nvcc on PATH, nothing else).
# Usage: bash native/dev/cluster/build.sh [--no-shipped]     (BUILD_DIR overrides build-cluster)
set -euo pipefail
export LC_ALL=C  # glob order of the source stamp, as run.sh checks it
cd "$(dirname "$0")/../../.."
B=${BUILD_DIR:-build-cluster}
mkdir -p "$B"
FL="-O3 -std=c++17 -arch=sm_90 -Inative/include"
if [ "${1:-}" = "--no-shipped" ]; then
  nvcc $FL -Xptxas -v native/dev/cluster/se_cluster.cu -cudart static \
    -o "$B/se_cluster" > "$B/ptxas.txt" 2>&1 || { cat "$B/ptxas.txt"; exit 1; }
else
  pids=()
  nvcc $FL -c native/cuda/se.cu -o "$B/se.o" > "$B/se.log" 2>&1 & pids+=($!)
  nvcc $FL -c native/cuda/eca.cu -o "$B/eca.o" > "$B/eca.log" 2>&1 & pids+=($!)
  for f in device stream_cache forward memory benchmark; do
    nvcc -O3 -std=c++17 -Inative/include -c native/cuda/$f.cpp -o "$B/$f.o" > "$B/$f.log" 2>&1 & pids+=($!)
  done
  nvcc -O3 -std=c++17 -Inative/include -c native/dev/cluster/cbam_stub.cpp -o "$B/cbam_stub.o" > "$B/stub.log" 2>&1 & pids+=($!)
  nvcc $FL -DWITH_SHIPPED -Xptxas -v -c native/dev/cluster/se_cluster.cu \
    -o "$B/se_cluster.o" > "$B/ptxas.txt" 2>&1 & pids+=($!)
  rc=0
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  if [ $rc -ne 0 ]; then cat "$B"/*.log "$B/ptxas.txt"; exit 1; fi
  nvcc -arch=sm_90 -cudart static "$B/se_cluster.o" "$B/se.o" "$B/eca.o" "$B"/{device,stream_cache,forward,memory,benchmark}.o "$B/cbam_stub.o" \
    -o "$B/se_cluster"
fi
# registers / stack / spills per kernel of the variants
python3 - "$B/ptxas.txt" > "$B/ptxas-summary.txt" <<'PY' || true
import re, sys
cur = None
st = None
for line in open(sys.argv[1]):
    m = re.search(r"Compiling entry function '(\S+)'", line)
    if m:
        cur = m.group(1)
        continue
    m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
    if m and cur:
        st = m.groups()
        continue
    m = re.search(r"Used (\d+) registers", line)
    if m and cur:
        k = re.search(r"cluster_kernelILi(\d)E(f|6__half)Lb(\d)E", cur)
        if k:
            name = "%s %s %s" % ("SE" if k.group(1) == "0" else "ECA", "f32" if k.group(2) == "f" else "f16",
                                 "NHWC" if k.group(3) == "1" else "NCHW")
        else:
            name = "floor f16" if "half" in cur else "floor f32"
        print("%-14s regs %3s  stack %3s  spill stores %3s  spill loads %3s" % (name, m.group(1), *st))
        cur = None
PY
cat "$B/ptxas-summary.txt" 2>/dev/null || true
# the sources this binary was built from (run.sh rebuilds when they differ)
cat native/dev/cluster/se_cluster.cu native/dev/cluster/cbam_stub.cpp \
  native/cuda/*.cuh native/cuda/se.cu native/cuda/eca.cu \
  native/cuda/device.cpp native/cuda/stream_cache.cpp native/cuda/forward.cpp native/cuda/memory.cpp native/cuda/benchmark.cpp | sha256sum | cut -c1-16 > "$B/src.sha"
echo "built $B/se_cluster"
