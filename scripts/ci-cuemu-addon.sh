#!/usr/bin/env bash
# CI step: the real addon's CUDA host path end to end without a GPU. Builds the addon (N-API
# binding, CPU kernels, native/cuda's host code, launchers and kernels) with g++ over the CPU
# emulator (native/dev/cuemu/build_addon.sh, into build-cuemu-addon/) and runs the GPU suites
# (test/gpu) against it through the package's loader (SQUEEZE_EXCITE_BINARY;
# test/vitest.cuemu.config.mts). Needs g++, x86-64 and the CUDA 12+ headers; says SKIPPED without
# them. Last line: "N passed, N failed".
# Usage: scripts/ci-cuemu-addon.sh [asan] [vitest args...]
#   asan: -fsanitize=address,undefined build (build-cuemu-addon-asan/), run with the sanitizer
#   runtimes preloaded into node as scripts/sanitize.sh does; any report fails the step. ~13 min
#   of suites, so not a CI lane. Two tests' counts are lowered through the knobs the suites
#   already have for compute-sanitizer (native/dev/gpu_suite.sh): SQEX_ALLOC_CYCLES=2000 (100000
#   alloc/dispose cycles took 203 s under ASan, past the test's 60 s) and
#   SQEX_STREAM_RACE_SCALE=0.2 (the workspace-growth race passed its 120 s); set them to override.
#   CUEMU_SMS: the emulated device's SMs (default 2 here: fewer OS threads per launch on a
#   2-core runner; the grids and tile plans still vary with the shapes).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. scripts/ci-common.sh
mode=
if [ "${1:-}" = asan ]; then mode=asan; shift; fi
command -v g++ > /dev/null || { echo "cuemu addon: SKIPPED (needs g++)"; exit 0; }
[ "$(uname -m)" = x86_64 ] || { echo "cuemu addon: SKIPPED (the emulator's context switch is x86-64 only)"; exit 0; }
[ -d node_modules/node-addon-api ] || { echo "cuemu addon: no node_modules (npm ci first)"; echo "0 passed, 1 failed"; exit 1; }
t0=$SECONDS
out=$root/build-cuemu-addon${mode:+-$mode}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== building $out/squeeze_excite.node over the CPU emulator ${mode:+($mode)} =="
bash native/dev/cuemu/build_addon.sh "$out" $mode > "$work/build.log" 2>&1
rc=$?
if [ $rc = 3 ]; then  # no CUDA 12+ headers
  echo "cuemu addon: SKIPPED ($(tail -1 "$work/build.log"))"
  exit 0
fi
[ $rc = 0 ] || { tail -40 "$work/build.log"; echo "cuemu addon: build failed"; echo "0 passed, 1 failed"; exit 1; }
tail -1 "$work/build.log"
npm run --silent build:ts > "$work/ts.log" 2>&1 || { cat "$work/ts.log"; echo "0 passed, 1 failed"; exit 1; }
t_build=$((SECONDS - t0))

env_run=(env SQUEEZE_EXCITE_BINARY="$out/squeeze_excite.node" CUEMU_SMS="${CUEMU_SMS:-2}" SQEX_EXPECT_CUDA_COMPILED=1)
reports=0
if [ "$mode" = asan ]; then
  asan=$(g++ -print-file-name=libasan.so)
  ubsan=$(g++ -print-file-name=libubsan.so)
  mkdir -p "$work/san"
  # as scripts/sanitize.sh: node and V8 keep their allocations (detect_leaks=0); ASan's SIGSEGV handler
  env_run+=(SQEX_ALLOC_CYCLES="${SQEX_ALLOC_CYCLES:-2000}" SQEX_STREAM_RACE_SCALE="${SQEX_STREAM_RACE_SCALE:-0.2}")
  echo "asan: SQEX_ALLOC_CYCLES=${SQEX_ALLOC_CYCLES:-2000} SQEX_STREAM_RACE_SCALE=${SQEX_STREAM_RACE_SCALE:-0.2} (the suites' defaults: 100000 and 1)"
  env_run+=(LD_PRELOAD="$asan:$ubsan"
    ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:allow_user_segv_handler=0:log_path=$work/san/asan"
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$work/san/ubsan")
fi
echo "== GPU suites (test/gpu) on the emulated addon, CUEMU_SMS=${CUEMU_SMS:-2} =="
t1=$SECONDS
"${env_run[@]}" npx vitest run --config test/vitest.cuemu.config.mts --reporter=default \
  --reporter=json --outputFile.json="$work/report.json" "$@"
rc=$?
t_tests=$((SECONDS - t1))
if [ "$mode" = asan ]; then
  for f in $(find "$work/san" -type f); do
    reports=$((reports + 1))
    echo "---- $f"; head -60 "$f"
  done
fi
# Skipped tests by name: vitest's default reporter only counts them.
node -e '
const r = require(process.argv[1]);
for (const f of r.testResults) for (const t of f.assertionResults)
  if (t.status !== "passed" && t.status !== "failed") console.log(`skipped: ${f.name.replace(process.cwd() + "/", "")} > ${t.fullName}`);
' "$work/report.json" 2> /dev/null
read -r p f s < <(node -e "try{const r=require(process.argv[1]);console.log(r.numPassedTests,r.numFailedTests,r.numPendingTests+r.numTodoTests)}catch{console.log(0,1,0)}" "$work/report.json")
[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
f=$((f + reports))
echo "cuemu addon${mode:+ ($mode)}: $p passed, $f failed, $s skipped, $reports sanitizer reports (vitest exit $rc; build ${t_build} s, suites ${t_tests} s)"
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
