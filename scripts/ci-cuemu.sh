#!/usr/bin/env bash
# CI step: the CUDA kernels' harness checks on the CPU emulator (native/dev/cuemu), so a kernel
# change is checked against the float64 reference on every CI run, GPU or not. Needs g++ and the
# CUDA headers (nvcc on PATH); says SKIPPED without them. Last line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v g++ >/dev/null; then
  echo "cuemu: SKIPPED (needs g++)"
  exit 0
fi
if [ "$(uname -m)" != x86_64 ]; then
  echo "cuemu: SKIPPED (the emulator's context switch is x86-64 only)"
  exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bash native/dev/cuemu/build.sh "$out" > "$out/build.log" 2>&1
rc=$?
if [ $rc = 3 ]; then  # no CUDA 12+ headers
  echo "cuemu: SKIPPED ($(tail -1 "$out/build.log"))"
  exit 0
fi
[ $rc = 0 ] || { cat "$out/build.log"; echo "0 passed, 1 failed"; exit 1; }
SKIP_BUILD=1 CUEMU_PROFILE=quick bash native/dev/cuemu/run_checks.sh "$out"
