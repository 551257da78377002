#!/usr/bin/env bash
# Builds the CPU addon with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/) and runs
# the memory-safety, fuzz and CPU suites against it, inside the stock node with the sanitizer
# runtimes preloaded. Any sanitizer report fails the run: reports are written to files (log_path)
# and counted, so a report inside a child process or a worker thread is not lost.
# Usage: scripts/sanitize.sh [vitest files...]   (default: the suites below)
# Ends with "sanitize: N passed, N failed, N sanitizer reports".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if ! command -v g++ >/dev/null; then echo "sanitize: SKIPPED: no g++"; exit 0; fi
asan=$(g++ -print-file-name=libasan.so)
ubsan=$(g++ -print-file-name=libubsan.so)
if [ ! -e "$asan" ] || [ ! -e "$ubsan" ]; then echo "sanitize: SKIPPED: the GCC sanitizer runtimes are not installed"; exit 0; fi

echo "== building build-asan/ (CPU only, -fsanitize=address,undefined) =="
cmakejs=$(node -p "require('path').join(require('path').dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js')")
node "$cmakejs" compile --out build-asan --CDSQEX_CUDA=OFF --CDSQEX_SANITIZE=ON >"$root/build-asan.log" 2>&1 \
  || { tail -30 "$root/build-asan.log"; echo "sanitize: 0 passed, 1 failed, 0 sanitizer reports (build failed)"; exit 1; }
addon="$root/build-asan/Release/squeeze_excite.node"

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
files=("$@")
[ ${#files[@]} -eq 0 ] && files=(test/memory-safety.test.ts test/result-allocation.test.ts test/validation.test.ts test/cpu.*.test.ts test/golden.test.ts test/blocks.test.ts test/worker.test.ts test/half.test.ts test/state-dict*.test.ts test/safetensors.test.ts)

echo "== vitest under ASan/UBSan: ${files[*]} =="
# detect_leaks=0: node and V8 keep allocations for the life of the process by design.
# allow_user_segv_handler=0: node installs its own SIGSEGV handler (WebAssembly traps); keep
# ASan's, so a wild access into unmapped memory is reported instead of a bare exit 139.
# Threads pool: one process with the sanitizer runtime per worker, not a fork per file.
LD_PRELOAD="$asan:$ubsan" \
ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:allow_user_segv_handler=0:log_path=$logs/asan:allocator_may_return_null=1" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan" \
SQUEEZE_EXCITE_BINARY="$addon" SQEX_EXPECT_CUDA_COMPILED=0 \
  npx vitest run "${files[@]}" --reporter=default --reporter=json --outputFile.json="$logs/report.json"
rc=$?
# allocator_may_return_null=1 makes a failed allocation return null (the library then reports
# ERR_SQEX_OUT_OF_MEMORY, which the tests ask for) and ASan log a "failed to allocate" warning: a
# log holding only such warnings is not a report.
reports=0
for f in $(find "$logs" -name 'asan.*' -o -name 'ubsan.*'); do
  if ! grep -qv 'WARNING: AddressSanitizer failed to allocate' "$f"; then
    echo "(allocation failures the tests ask for, not a report: $(wc -l < "$f") in $f)"
    continue
  fi
  reports=$((reports + 1))
  echo "---- $f"; head -60 "$f"
done
read -r p f < <(node -e "try{const r=require(process.argv[1]);console.log(r.numPassedTests,r.numFailedTests)}catch{console.log(0,1)}" "$logs/report.json")
[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
echo "sanitize: $p passed, $f failed, $reports sanitizer reports"
[ "$f" -eq 0 ] && [ "$reports" -eq 0 ]
