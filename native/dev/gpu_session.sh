#!/usr/bin/env bash
# One prepared GPU session (device tool, H200), every step under a hard time budget, in the order
# of the open issues: memory safety and NaN (8), the CUDA 11.8 build (12), the real-timm checkpoint
# fixture (13), then kernel timing (10). Prepare here (about 3 minutes; no GPU needed), then call
# the device tool once:
#
#   npm install && bash native/dev/gpu_session.sh --prepare
#   device run: carry [".gpu", "dist"], timeout_s 600,
#     command: source .gpu/enter.sh && bash native/dev/gpu_session.sh
#
# --prepare = ../shared/tools/gpu-pack, the CUDA 13 addon (node scripts/cmake-build.js compile, sm_90),
# the CUDA 11.8 addon (npm run build:native:cuda11; skipped with a note without the 11.8 toolkit),
# the kernel harness (native/dev/cuda_build.sh) and the cluster harness (native/dev/cluster/build.sh),
# then --pack (copies the addons into .gpu/) and a size check of what travels (limit 64 MiB).
#
# Steps (by default: tests harness cuda11 timm sanitize twopass bench peers; or name some). twopass:
# the passes (NHWC SE/ECA, CBAM, SE with batched FCs) against the fused kernels (harness rows,
# alternated; also with the passes forced wherever they apply). peers: the
# torch.compile and compile + graph peers over the bench's rows (bench/torch_peers.py, 117 s on
# 2026-12-04), merged into the bench's table there (bench/merge-peers.mjs). Named only: async
# crossover cluster (measured 2026-11-30; no rerun needed until the host path or the cluster
# variants change), cbamcheck cbamtime ecatime (the CBAM shared-memory and position-tile changes
# and ECA's halo kernel against the kernels before them: measured 2026-12-04, NOTES-cuda.md; they
# need `SQEX_PREPARE_CBAM_EXP=1 ... --prepare`, which builds their harnesses).
# The checks run in three lanes at once (tests | cuda11, cbamcheck | harness, sanitize), timm after
# the first two (it replaces fixtures they read), then the timings one at a time: bench peers
# (cbamtime ecatime async crossover cluster when named). Measured on the H200 (2026-12-04): tests
# ~40 s, cuda11 ~45, harness 25, memcheck ~20, racecheck ~60 of its 120, timm 34, full bench ~60,
# peers 117. Budgets (s), default steps: max(120, 80, 150 + 45 + 120 + 30) + timm 100 + twopass 200
# + bench 220 + peers 180 = 1045 at most, ~580 in practice (twopass not yet run: ~70 + 130 expected;
# the harness step's forced-passes pair with and without PDL, added 2026-12-04: ~50 s more in its
# lane, expected). Every step's budget is also cut to what is left before a deadline
# (GPU_SESSION_DEADLINE_S, default 540 s after the start; the call's 600 s keeps ~60 s for
# unpacking, the archives and the transfer), and a step that would get less than it needs is
# skipped and says so. Most steps end well before their budget (the last run's tests took ~60 s of
# 120). A second call names the steps still to do (e.g. `… gpu_session.sh cluster`).
# What comes back (the device tool returns at most 8 files): $OUT/summary.txt (written after every
# step, also printed last), $OUT/logs.tar.gz (every log), $OUT/results.tar.gz (bench tables, harness
# and cluster tables), $OUT/fixtures.tar.gz (both checkpoint fixtures as the GPU host's timm +
# safetensors make them). On SIGTERM (the call's limit) the archives are still written.
# It stops at once, saying why in summary.txt, when the packed binaries and dist/ were built from
# another tree than the one that came (.gpu/src.sha, written by --pack), or when CUDA is not
# available (GPU_SESSION_DRY_RUN=1 goes on: a check of the script here).
set -uo pipefail
cd "$(dirname "$0")/../.."

# What travels with the call besides the working tree (the device tool's carry list).
# The kernel harness travels xz-compressed inside .gpu (10 MB stripped, 1.8 MB packed); the cluster
# harness no longer travels (its step builds it there in ~36 s when named).
CARRY=(.gpu dist)

# What the packed binaries and dist/ were built from: the device recomputes it and stops at once
# when the tree that travels has changed since (an edit after --prepare would otherwise test old
# binaries with new tests). The files that decide a build (and the harness sources, not the notes);
# here the ones git would send (tracked, or untracked and not ignored: what the device tool copies),
# there, without git, every such file that came.
SRC_PATHS=(native lib CMakeLists.txt binding.gyp tsconfig.json package.json scripts/cmake-build.js)
src_files() {
  if git rev-parse --git-dir > /dev/null 2>&1; then
    git ls-files -z -c -o --exclude-standard -- "${SRC_PATHS[@]}"
  else
    find "${SRC_PATHS[@]}" -type f -print0
  fi
}
src_sha() {
  src_files | grep -zv '\.md$' | LC_ALL=C sort -z | xargs -0 cat | sha256sum | cut -c1-16
}

if [ "${1:-}" = --prepare ]; then
  set -e
  t0=$SECONDS
  # Taken before the builds: an edit made while they run makes the stamp stale, not wrong.
  export SQEX_SRC_SHA; SQEX_SRC_SHA=$(src_sha)
  ../shared/tools/gpu-pack
  # gpu-pack's node_modules holds esbuild (~4 MB packed: loader.test's bundling cases, which the
  # device does not run); without it the carry fits the 64 MiB with room. gpu-pack keeps this
  # tarball while its stamp (lockfile + node_modules listing) holds.
  # (grep reads it all: grep -q would end the pipe early, and pipefail would read tar's SIGPIPE as
  # "not there", as it did on 2026-12-04, leaving esbuild in.)
  if xz -dc .gpu/node_modules.tar.xz | tar -tf - | grep '^node_modules/@esbuild/' > /dev/null; then
    tar -cf - --exclude='node_modules/@typescript' --exclude='node_modules/typescript' --exclude='node_modules/.cache' \
        --exclude='node_modules/esbuild' --exclude='node_modules/@esbuild' --exclude='node_modules/.bin/esbuild' \
        node_modules | xz -T0 -3 > .gpu/node_modules.tar.xz.new
    mv .gpu/node_modules.tar.xz.new .gpu/node_modules.tar.xz
    echo "gpu_session: node_modules packed again without esbuild ($(du -h .gpu/node_modules.tar.xz | cut -f1))"
  fi
  npm run build:ts > /dev/null                                 # dist/ (the tests' API)
  node scripts/cmake-build.js compile                           # build/Release: CUDA 13, sm_90 (no GPU here)
  if command -v g++-11 > /dev/null && [ -x /usr/bin/nvcc ]; then
    npm run build:native:cuda11                                 # build-cuda11/Release: CUDA 11.8
  else
    # An addon left in build-cuda11 by an earlier --prepare was built from other sources: not packed.
    rm -f build-cuda11/Release/squeeze_excite.node
    echo "no CUDA 11.8 toolkit (sudo scripts/setup-cuda-toolkit-11.sh): the cuda11 step will say skipped"
  fi
  bash native/dev/cuda_build.sh sm_90 build-cuda > /dev/null     # the kernel harness
  strip build-cuda/cuda_check_bench
  xz -T2 -6 -c build-cuda/cuda_check_bench > .gpu/harness.xz
  # The CBAM experiment (harnesses of 1.8-3.1 MB each): 8aa8c67 (pre-v7), main before the CBAM
  # NCHW position tiles (CBAM_BASE, a7a7a55: also the digest build of the bitwise comparison),
  # HEAD, and main before cbam-smem was merged (e4156d9: also ECA's kernels before the halo kernel,
  # which ecatime times against HEAD). HEAD's is .gpu/harness.xz, copied in on the device
  # (cbam_exp_head): the same program, not carried twice.
  if [ "${SQEX_PREPARE_CBAM_EXP:-0}" = 1 ]; then
    bash native/dev/prepare_cbam_exp.sh .gpu/cbam-exp "${CBAM_BASE:-a7a7a55}" - e4156d9
  else
    rm -rf .gpu/cbam-exp  # (the named steps cbamcheck cbamtime ecatime then say skipped)
  fi
  set +e
  bash "$0" --pack || exit 1
  echo "prepared in $((SECONDS - t0)) s"
  exit 0
fi

if [ "${1:-}" = --pack ]; then
  mkdir -p .gpu/addon .gpu/addon-cuda11
  if [ -n "${SQEX_SRC_SHA:-}" ]; then
    echo "$SQEX_SRC_SHA" > .gpu/src.sha
  else
    src_sha > .gpu/src.sha
    echo "--pack alone: the source stamp is the tree as it is now; right only if the binaries were built from it"
  fi
  cp build/Release/squeeze_excite.node .gpu/addon/ && echo "packed build/Release -> .gpu/addon"
  if [ -f build-cuda11/Release/squeeze_excite.node ]; then
    cp build-cuda11/Release/squeeze_excite.node .gpu/addon-cuda11/ && echo "packed build-cuda11/Release -> .gpu/addon-cuda11"
  else
    rm -f .gpu/addon-cuda11/squeeze_excite.node
    echo "no build-cuda11/Release/squeeze_excite.node (npm run build:native:cuda11): the cuda11 step will say skipped"
  fi
  [ -f .gpu/harness.xz ] || echo "no .gpu/harness.xz (native/dev/cuda_build.sh, strip, xz): the harness step will say skipped"
  [ -d .gpu/cbam-exp ] || echo "no .gpu/cbam-exp (native/dev/prepare_cbam_exp.sh): the cbamcheck/cbamtime steps will say skipped"
  # The tool's limit is 64 MiB for the tree (tracked + untracked-not-ignored files) and the carried paths.
  tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 du -cb 2>/dev/null | awk '/\ttotal$/ {s += $1} END {print s + 0}')
  carried=$(du -cb "${CARRY[@]}" 2>/dev/null | tail -1 | cut -f1)
  total=$((tree + carried))
  printf 'travels: tree %.1f MiB + carried %.1f MiB = %.1f MiB (limit 64)\n' \
    "$(echo "$tree / 1048576" | bc -l)" "$(echo "$carried / 1048576" | bc -l)" "$(echo "$total / 1048576" | bc -l)"
  if [ "$total" -gt $((62 * 1048576)) ]; then echo "too close to the 64 MiB limit: carry less" >&2; exit 1; fi
  printf 'device run: carry %s, timeout_s 600, command: source .gpu/enter.sh && bash native/dev/gpu_session.sh\n' \
    "$(printf '"%s", ' "${CARRY[@]}" | sed 's/, $//; s/^/[/; s/$/]/')"
  exit 0
fi

steps=${*:-tests harness cuda11 timm sanitize twopass bench peers}
# The bench's rows, and the peers step's: all 120, or with SQEX_BENCH_FULL=0 the quick 48.
bench_quick=; [ "${SQEX_BENCH_FULL:-1}" = 1 ] || bench_quick=--quick
OUT=${OUT:-/tmp/out}
logs=$OUT/logs
results=$OUT/results
notes=$logs/notes
mkdir -p "$logs" "$results" "$notes"
export SQUEEZE_EXCITE_BINARY=$PWD/.gpu/addon/squeeze_excite.node
# availability.test.ts then also asserts that the addon was built with CUDA.
export SQEX_EXPECT_CUDA_COMPILED=1
deadline=${GPU_SESSION_DEADLINE_S:-540}
# The checks run in three lanes at once (they need correctness, not a quiet GPU; the host has 16
# cores): each lane's notes go to its own file, and summary.txt is the files in lane order.
LANE=0-main
note() {
  echo "$1" >> "$notes/$LANE"
  echo "== [${LANE#*-}] $1"
  local tmp="$OUT/summary.txt.$BASHPID"  # expanded here: a redirection would expand it in cat's process
  # One lane at a time: two rebuilding at once could install the older snapshot last.
  (
    command -v flock > /dev/null && flock 9
    cat "$notes"/* > "$tmp" && mv -f "$tmp" "$OUT/summary.txt"
  ) 9> "$logs/.summary.lock"
}
# vitest's colours off, runs of spaces squeezed
plain() { sed 's/\x1b\[[0-9;]*m//g' | tr -s ' '; }
has() { [[ " $steps " == *" $1 "* ]]; }
t_start=$SECONDS
# budget NAME WANT MIN: sets B to the step's budget (WANT, or what is left before the deadline);
# false, with a note, when that is under MIN.
budget() {
  local left=$((deadline - (SECONDS - t_start)))
  if [ "$left" -lt "$3" ]; then
    note "$1: skipped, ${left} s left before the ${deadline} s deadline (needs $3)"
    return 1
  fi
  B=$(($2 < left ? $2 : left))
}
finish() {
  LANE=9-end
  note "total $((SECONDS - t_start)) s"
  # (after SIGTERM a lane may still be writing: tar then warns and archives what it read)
  tar -C "$OUT" -czf "$OUT/logs.tar.gz" logs; rm -rf "$logs"
  tar -C "$OUT" -czf "$OUT/results.tar.gz" results; rm -rf "$results"
  [ -d "$OUT/fixture" ] && rm -rf "$OUT/fixture"
  cat "$OUT/summary.txt"
}
# Every process below this shell, deepest first (timeout puts its command in a process group of
# its own, which a signal to ours does not reach).
kill_tree() {
  local p
  for p in $(pgrep -P "$1" 2> /dev/null); do kill_tree "$p"; done
  [ "$1" != $$ ] && kill -TERM "$1" 2> /dev/null
}
# On SIGTERM (the call's limit): end every step still running, then write what there is. Bash runs
# a trap only between commands, so the main shell's steps run as jobs it waits for (run_step):
# `wait` returns at once on a signal.
trap 'trap - TERM; kill_tree $$; note "stopped by SIGTERM"; finish; exit 124' TERM
run_step() { "step_$1" & wait $!; }

{
  timeout -k 5 20 nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,memory.total --format=csv
  echo "kernel: $(uname -r)"
  nvcc --version | tail -2
} > "$logs/env.txt" 2>&1
# Python's imports take seconds: in the background, beside the lanes (read by the timm step's log).
(timeout -k 5 30 python3 -c "import torch, timm, safetensors; print('torch', torch.__version__, 'timm', timm.__version__, 'safetensors', safetensors.__version__)" > "$logs/env-python.txt" 2>&1 &)
runtime=gvisor; uname -r | grep -q -- '-fc-' && runtime=firecracker
packed_sha=$(cat .gpu/src.sha 2> /dev/null || echo none)
if [ "$packed_sha" != "$(src_sha)" ]; then
  note "STALE pack: .gpu/src.sha $packed_sha, the tree that came $(src_sha) (native/, lib/ or the build files changed after --prepare): run --prepare again. Nothing run."
  finish
  exit 3
fi
# (GPU_SESSION_DRY_RUN=1 goes on without one: a check of the script itself on a machine without a GPU.)
if [ -z "${GPU_SESSION_DRY_RUN:-}" ] && ! timeout -k 5 20 node -p "require('./dist/index.js').cuda.status().available" 2> /dev/null | grep -qx true; then
  note "CUDA is not available to the CUDA 13 build: $(timeout -k 5 20 node -p "require('./dist/index.js').cuda.status().reason" 2>&1). Nothing run (every GPU suite would skip)."
  finish
  exit 4
fi
note "machine: $(head -2 "$logs/env.txt" | tail -1); runtime $runtime; $(timeout -k 5 20 node -p "JSON.stringify(require('./dist/index.js').cuda.status().devices.map(d=>d.name))" 2>&1)"

# vitest -t pattern: every test but those that read the GPU's free memory (tensor.cuda.test.ts).
NO_MEMINFO_TESTS='^(?!.*(alloc/dispose cycles|did not dispose)).*$'
# Under compute-sanitizer: not the alloc/dispose cycles (slow there) nor the test that fails a
# cudaMalloc on purpose (the tool reports the API error); the worker-teardown test runs (its frees
# at env teardown are what memcheck should see) with 3 workers and no free-memory bound. The
# two-threads-on-one-stream tests get a memcheck run of their own (step_sanitize).
SANITIZER_TESTS='^(?!.*(alloc/dispose cycles|absurd allocation)).*$'

step_tests() {
  budget tests 120 40 || return
  # The GPU suites (ops, tensors, weights, NaN/Inf, golden and checkpoint fixtures on CUDA), the
  # memory-safety suite, whose hostile transfer test runs over the CUDA host path here, and the
  # README's code blocks (its GPU examples run only where there is a GPU; a review found one that
  # a lib/ change had broken, 2026-11-30).
  timeout -k 5 $B npx vitest run test/gpu test/golden.test.ts test/memory-safety.test.ts test/readme.test.ts > "$logs/vitest-gpu.log" 2>&1
  note "tests (vitest test/gpu + golden + memory-safety + readme, CUDA 13 build, ${B} s): exit $? — $(grep -E 'Tests ' "$logs/vitest-gpu.log" | plain)"
  grep -E '×|FAIL' "$logs/vitest-gpu.log" | plain | head -15
}

step_harness() {
  budget harness 150 30 || return
  local t0h=$SECONDS
  if [ -f .gpu/harness.xz ] && xz -dc .gpu/harness.xz > /tmp/cuda_check_bench && chmod +x /tmp/cuda_check_bench; then
    # Every kernel path against the float64 reference on fresh data (SE/ECA/CBAM x fp32/fp16/bf16 x
    # layouts, |x| ~ 1e4, chunked and grouped paths), then the 504 NaN/Inf cases.
    # (line-buffered: a crash or the timeout keeps every line printed so far)
    timeout -k 5 $B stdbuf -oL /tmp/cuda_check_bench check > "$logs/harness-check.log" 2>&1
    note "harness check (every kernel path, then the 504 NaN/Inf cases): exit $? — $(grep -E 'checks:' "$logs/harness-check.log" | tail -1); $(grep -c '^FAIL' "$logs/harness-check.log") FAIL lines"
    # The passes wherever they apply, with and without programmatic dependent launch (SQEX_PDL=0):
    # both must pass, with equal digests (NOTES-cuda.md, "The passes with programmatic dependent
    # launch"; the checks run on a non-blocking stream, where PDL takes effect). ~25 s each.
    local half=$(( (B - (SECONDS - t0h)) / 2 - 2 )) v
    for v in 1 0; do
      if [ "$half" -lt 15 ]; then note "harness pdl=$v: ${half} s left: not run"; continue; fi
      SQEX_TWO_PASS=1 SQEX_DIGEST=1 SQEX_PDL=$v timeout -k 5 $half stdbuf -oL /tmp/cuda_check_bench check > "$logs/harness-forced-pdl$v.log" 2>&1
      note "harness forced passes, pdl=$v: exit $? — $(grep -E 'checks:' "$logs/harness-forced-pdl$v.log" | tail -1)"
    done
    if [ -s "$logs/harness-forced-pdl1.log" ] && [ -s "$logs/harness-forced-pdl0.log" ]; then
      note "harness forced passes: digests with and without PDL: $(diff <(grep -o 'y#[0-9a-f]*' "$logs/harness-forced-pdl1.log") <(grep -o 'y#[0-9a-f]*' "$logs/harness-forced-pdl0.log") | grep -c '^<') differ of $(grep -c 'y#' "$logs/harness-forced-pdl1.log")"
    fi
  else
    note "harness: .gpu/harness.xz not carried: skipped"
  fi
}

step_cuda11() {
  budget cuda11 80 30 || return
  local addon11=$PWD/.gpu/addon-cuda11/squeeze_excite.node
  if [ -f "$addon11" ]; then
    SQUEEZE_EXCITE_BINARY=$addon11 timeout -k 5 20 node -p "const s=require('./dist/index.js').cuda.status(); JSON.stringify({runtimeVersion:s.runtimeVersion, driverVersion:s.driverVersion, available:s.available, reason:s.reason})" > "$logs/cuda11-status.log" 2>&1
    # Without the two device-memory leak checks: they read the GPU's free memory, which the tests
    # lane's own copies of them move meanwhile (it runs them for the build; leaks are not per-toolkit).
    SQUEEZE_EXCITE_BINARY=$addon11 timeout -k 5 $B npx vitest run test/gpu test/golden.test.ts -t "$NO_MEMINFO_TESTS" > "$logs/vitest-gpu-cuda11.log" 2>&1
    note "cuda11 (GPU suites + golden, CUDA 11.8 build forced): exit $? — $(grep -E 'Tests ' "$logs/vitest-gpu-cuda11.log" | plain); $(cat "$logs/cuda11-status.log")"
  else
    note "cuda11: .gpu/addon-cuda11 not carried: skipped"
  fi
}

step_timm() {
  budget timm 100 40 || return
  # Both checkpoint fixtures again with the GPU host's timm and safetensors (newer than the
  # committed ones, made on the dev VM by scripts/setup-real-timm.sh: timm from git, safetensors
  # v0.2.8), then the fixture tests against them on the CPU and on CUDA. They replace the
  # committed fixtures in this copy of the tree, so this step runs after the suites that read them.
  mkdir -p "$OUT/fixture"
  # The budget in thirds: each generator (~10 s each last time), then the tests.
  local g=$((B / 3 < 30 ? B / 3 : 30)) t0=$SECONDS
  { timeout -k 5 $g python3 scripts/gen_safetensors_fixture.py --mode timm --out "$OUT/fixture" &&
    timeout -k 5 $g python3 scripts/gen_timm_models_fixture.py --out "$OUT/fixture"; } > "$logs/timm-fixture.log" 2>&1
  local rc=$?
  if [ $rc -eq 0 ]; then
    cp -r "$OUT"/fixture/* test/fixtures/
    local left=$((B - (SECONDS - t0)))
    timeout -k 5 $((left > 10 ? left : 10)) npx vitest run test/state-dict.fixture.test.ts test/timm-models.fixture.test.ts test/gpu/state-dict.cuda.test.ts >> "$logs/timm-fixture.log" 2>&1
    note "timm fixtures: made (exit $rc), tests on them (cpu + cuda): exit $? — $(grep -E 'Tests ' "$logs/timm-fixture.log" | plain | tail -1); $(grep -o '"mode": *"[a-z]*"' "$OUT/fixture/attention_model.json" | head -1); $(grep -E 'models, .* attention modules' "$logs/timm-fixture.log")"
    tar -C "$OUT/fixture" -czf "$OUT/fixtures.tar.gz" . && rm -rf "$OUT/fixture"
  else
    note "timm fixtures: generator exit $rc — $(tail -2 "$logs/timm-fixture.log" | tr '\n' ' ')"
    rm -rf "$OUT/fixture"
  fi
}

step_sanitize() {
  if [ "$runtime" != firecracker ]; then
    note "compute-sanitizer: skipped, the $runtime runtime refuses it (KINDS.md)"
    return
  fi
  # memcheck over the NaN suite (every kernel path) and the tensor suite; racecheck, slower, over
  # the NaN suite alone. Verbose: a run the budget stops still shows how far it got. A trap seen
  # only under the tool is suspect: instrumentation lowers occupancy, and the persistent kernel's
  # per-sample barrier needs a sample's blocks resident together.
  # A follow-up call can name the tools and give them more time (racecheck over the NaN suite
  # needed more than 45 s on the H200: 39 of 54 tests in 45 s, 2026-11-30).
  local files tool
  for tool in ${SQEX_SANITIZE_TOOLS:-memcheck racecheck}; do
    # (racecheck over the NaN suite needs ~60 s on the H200: 45 s stopped it on 2026-11-30 and 12-04)
    local want=45; [ $tool = racecheck ] && want=120
    budget "compute-sanitizer $tool" "${SQEX_SANITIZE_BUDGET_S:-$want}" 20 || continue
    files="test/gpu/nan.cuda.test.ts"; [ $tool = memcheck ] && files="$files test/gpu/tensor.cuda.test.ts"
    SQEX_ALLOC_CYCLES=200 SQEX_DROPPED_TENSORS=256 SQEX_TEARDOWN_ROUNDS=3 SQEX_MEMINFO_ASSERT=0 timeout -k 5 $B compute-sanitizer --tool $tool --target-processes all --print-limit 20 \
      node node_modules/vitest/vitest.mjs run $files -t "$SANITIZER_TESTS" --reporter=verbose --pool=forks --maxWorkers=1 --testTimeout=200000 \
      > "$logs/sanitizer-$tool.log" 2>&1
    note "compute-sanitizer $tool: exit $? — $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$logs/sanitizer-$tool.log" | sort | uniq -c | plain | tr '\n' ';') $(grep -E 'Tests ' "$logs/sanitizer-$tool.log" | plain)"
  done
  # Two threads on one stream under memcheck, at 2% of the suite's counts, in a budget of its own
  # so that it cannot cut the runs above: a kernel on a workspace another thread freed (the race
  # fixed on 2026-12-01, native/dev/NOTES-cuda.md) is what memcheck would report.
  budget "compute-sanitizer memcheck, two threads on one stream" "${SQEX_SANITIZE_RACE_BUDGET_S:-30}" 15 || return
  SQEX_STREAM_RACE_SCALE=0.02 timeout -k 5 $B compute-sanitizer --tool memcheck --target-processes all --print-limit 20 \
    node node_modules/vitest/vitest.mjs run test/gpu/stream-race.cuda.test.ts --reporter=verbose --pool=forks --maxWorkers=1 --testTimeout=200000 \
    > "$logs/sanitizer-stream-race.log" 2>&1
  note "compute-sanitizer memcheck, stream race: exit $? — $(grep -E 'ERROR SUMMARY' "$logs/sanitizer-stream-race.log" | sort | uniq -c | plain | tr '\n' ';') $(grep -E 'Tests ' "$logs/sanitizer-stream-race.log" | plain)"
}

step_bench() {
  # The full GPU table (120 rows, 10 shapes, 50 launches each; ~60 s on the H200): ours, the
  # same-size copy and PyTorch eager / CUDA graph (the peers step adds torch.compile).
  # SQEX_BENCH_FULL=0: the quick table instead (48 rows, ~31 s).
  local want=220; [ -n "$bench_quick" ] && want=100
  budget bench $want 40 || return
  timeout -k 5 $B node bench/run.mjs --gpu-only $bench_quick --out "$results" > "$logs/bench.md" 2> "$logs/bench-progress.log"
  note "bench ${bench_quick:-full}: exit $? — $(grep -cE '^\| (se|eca|cbam|SE|ECA|CBAM) ' "$logs/bench.md") rows"
}

step_peers() {
  # torch.compile and compile + graph over the bench's rows, merged into the table the bench step
  # wrote (its PyTorch best is then the best of all four modes). The bench's own eager and graph
  # peers come from the same machine minutes before; the note says so.
  budget peers 180 60 || return
  local table
  table=$(ls "$results"/*-[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9][0-9][0-9].json 2> /dev/null | grep -v overhead | tail -1)
  if [ -z "$table" ]; then note "peers: no bench table in results/ (run the bench step first): skipped"; return; fi
  local jsonl=${table%.json}-compile-peers.jsonl
  PYTHONUNBUFFERED=1 timeout -k 5 $((B - 5)) python3 bench/torch_peers.py $bench_quick --modes compile,compile_graph > "$jsonl" 2> "$logs/compile-peers.err"
  local rc=$?
  timeout -k 5 20 node bench/merge-peers.mjs "$table" "$jsonl" --note "same machine, in the same call after the bench step, $(date -u +%H:%M) UTC, torch.compile(dynamic=False)" > "$logs/merge-peers.log" 2>&1
  local merged=$?
  note "peers (compile, compile_graph): exit $rc, $(grep -c '"mode": "compile' "$jsonl") timings; merge: exit $merged — $(tail -1 "$logs/merge-peers.log")"
}

step_async() {
  budget async 30 15 || return
  # What memory safety costs async calls on the CUDA host path (issue 8: pinned staging), beside
  # the sync call and SharedArrayBuffer operands, per size (bench/async.mjs).
  timeout -k 5 $B node bench/async.mjs --device cuda --reps 10 --json > "$results/async-cuda.json" 2> "$logs/async-cuda.log"
  local rc=$?
  note "async (cuda host path): exit $rc — $(node -p "try { require('$results/async-cuda.json').map(r=>r.shape+' sync '+r.syncUs+' async '+r.asyncOutUs+' ('+r.asyncOutBlockUs+')').join('; ') } catch (e) { 'no results: ' + e.message }" 2>&1 | head -1); $(tail -1 "$logs/async-cuda.log")"
}

step_crossover() {
  budget crossover 45 20 || return
  # Host arrays on the CPU vs the CUDA host path, per op and size: the data for device 'auto'
  # (issue 10). bench/crossover.mjs stops starting new sizes after its own budget.
  timeout -k 5 $B node bench/crossover.mjs --budget-s $((B - 10)) > "$results/crossover.json" 2> "$logs/crossover.log"
  local rc=$?
  note "crossover (cpu vs cuda host path): exit $rc — $(node -p "try { JSON.stringify(require('$results/crossover.json').crossoverBytes ?? 'none') } catch (e) { 'no results: ' + e.message }" 2>&1 | head -1); $(tail -1 "$logs/crossover.log")"
}

step_cluster() {
  budget cluster 115 45 || return
  if [ ! -f native/dev/cluster/run.sh ]; then
    note "cluster: native/dev/cluster/run.sh absent: skipped"
    return
  fi
  # Each variant in its own process under the run budget (native/dev/cluster/NOTES.md:
  # predictions and how to read the table); run.sh builds first (<= 50 s) unless the carried
  # build-cluster/ matches the sources, and gives each process 15 s past its share.
  local run_b
  if [ -x build-cluster/se_cluster ]; then run_b=$((B - 20)); else run_b=$((B - 70)); fi
  [ $run_b -lt 20 ] && run_b=20
  OUT=$results timeout -k 5 $B bash native/dev/cluster/run.sh all $run_b > "$logs/cluster.log" 2>&1
  note "cluster variants (run budget ${run_b} s): exit $? — $(tail -1 "$logs/cluster.log")"
  tail -30 "$logs/cluster.log"
}

step_twopass() {
  budget twopass 200 45 || return
  # The passes (two_pass.cuh; NOTES-cuda.md, "NHWC SE/ECA in two passes", "CBAM in passes", "SE in
  # passes with batched FCs"): first compute-sanitizer on shapes that take them (seven runs, each
  # capped at min(12, B/15) s; the last two take the batched FCs), then the 100 bench rows the
  # passes may take (all but ECA NCHW) with the fused kernels (SQEX_TWO_PASS=0), the planner's
  # choice and the passes wherever they apply (=1), in the same process pattern as the bench (~50 s
  # a round expected): fused, planner, the planner without programmatic dependent launch
  # (SQEX_PDL=0: NOTES-cuda.md, "The passes with programmatic dependent launch"), forced, then
  # fused and planner again while time is left.
  local t0=$SECONDS cap left run tool cfg log r
  if [ ! -f .gpu/harness.xz ]; then note "twopass: .gpu/harness.xz not carried: skipped"; return; fi
  xz -dc .gpu/harness.xz > /tmp/h-twopass && chmod +x /tmp/h-twopass
  cap=$((B / 15 < 12 ? B / 15 : 12))
  for run in "racecheck se 2 256 56 56 f16 NHWC" "racecheck cbam 2 64 56 56 f32 NHWC" \
             "racecheck cbam 2 64 56 56 f16 NCHW" "memcheck eca 1 96 112 112 f32 NHWC" \
             "memcheck cbam 2 256 28 28 f16 NHWC" "racecheck se 5 2048 7 7 f16 NCHW" \
             "memcheck cbam 3 1152 7 7 f32 NHWC"; do
    tool=${run%% *}
    cfg=${run#* }
    log="$logs/twopass-$tool-${cfg// /_}.log"
    # shellcheck disable=SC2086
    timeout -k 5 $cap compute-sanitizer --tool $tool --print-limit 20 /tmp/h-twopass one $cfg > "$log" 2>&1
    note "twopass $tool $cfg (cap ${cap} s): exit $? — $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$log" | tail -1)"
  done
  mkdir -p "$results/twopass"
  for r in fused-1 twopass-1 nopdl-1 forced-1 fused-2 twopass-2; do
    left=$((B - (SECONDS - t0) - 3))
    if [ "$left" -lt 10 ]; then note "twopass: ${left} s left: $r not run"; break; fi
    unset SQEX_PDL
    case $r in fused-*) export SQEX_TWO_PASS=0 ;; forced-*) export SQEX_TWO_PASS=1 ;; nopdl-*) unset SQEX_TWO_PASS; export SQEX_PDL=0 ;; *) unset SQEX_TWO_PASS ;; esac
    timeout -k 3 $left /tmp/h-twopass bench_twopass "$results/twopass/$r.md" > "$logs/twopass-$r.log" 2>&1
    note "twopass $r: exit $? — $(grep -cE '^\| (SE|ECA|CBAM) ' "$results/twopass/$r.md" 2> /dev/null) rows"
  done
  unset SQEX_TWO_PASS SQEX_PDL
}

# The CBAM experiment's HEAD harness is the working tree's own (.gpu/harness.xz, --prepare).
cbam_exp_head() {
  ls .gpu/cbam-exp/harness-2-*.xz > /dev/null 2>&1 || cp .gpu/harness.xz .gpu/cbam-exp/harness-2-HEAD.xz
}

step_cbamcheck() {
  budget cbamcheck 170 40 || return
  if [ ! -d .gpu/cbam-exp ] || [ ! -f .gpu/harness.xz ]; then note "cbamcheck: .gpu/cbam-exp or .gpu/harness.xz not carried: skipped"; return; fi
  cbam_exp_head
  # HEAD against main before the position tiles: bitwise digests of every check case both have
  # (the CBAM NCHW cases that take position tiles at 132 SMs are expected to differ), then
  # compute-sanitizer racecheck/memcheck on the CBAM paths (position tiles included).
  OUT=$results/cbam-exp timeout -k 5 $B bash native/dev/cbam_smem_exp.sh .gpu/cbam-exp check $((B - 5)) > "$logs/cbam-check.log" 2>&1
  note "cbamcheck (CBAM, ${B} s): exit $? — $(grep -E '^(check|bitwise)' "$results/cbam-exp/summary.txt" 2> /dev/null | tr '\n' ';') $(grep -cE 'hazards displayed \([1-9]|ERROR SUMMARY: [1-9]' "$results/cbam-exp/summary.txt" 2> /dev/null) sanitizer lines with findings"
}

step_cbamtime() {
  budget cbamtime 130 40 || return
  if [ ! -d .gpu/cbam-exp ] || [ ! -f .gpu/harness.xz ]; then note "cbamtime: .gpu/cbam-exp or .gpu/harness.xz not carried: skipped"; return; fi
  cbam_exp_head
  # 8aa8c67 (pre-v7), main and the branch, 2 processes each, over the CBAM rows the planner changes
  OUT=$results/cbam-exp timeout -k 5 $B bash native/dev/cbam_smem_exp.sh .gpu/cbam-exp time $((B - 10)) > "$logs/cbam-time.log" 2>&1
  note "cbamtime: exit $? — $(grep -c '^| [a-z]' "$results/cbam-exp/time_commits.md" 2> /dev/null) rows (results/cbam-exp/time_commits.md)"
  head -8 "$results/cbam-exp/time_commits.md" 2> /dev/null
}

step_ecatime() {
  budget ecatime 110 40 || return
  # ECA without barrier A (eca_halo_kernel; NOTES-cuda.md, "ECA without barrier A"): HEAD's harness
  # against the one before it. cbam-exp's e4156d9 harness (main before cbam-smem) has the same
  # ECA and SE kernels as c7ff0d3 (cbam-smem and the emulator's spellings left their cubins
  # byte-identical), so nothing more travels. First compute-sanitizer on two shapes that take the
  # halo kernel (32x2048x7x7 NCHW: 544 tiles on 528 blocks, so blocks reuse their shared memory for
  # a second tile; 2x1024x14x14 NHWC: channel tiles), each run capped at min(25, B/6) s; then
  # time_commits.sh, 2 processes each, controls first (a row that does not take the path, an SE
  # row), then the rows that take it (the last one through the batch-1 widening).
  local d=/tmp/eca-exp before cfg tool log t0=$SECONDS cap left
  before=$(ls .gpu/cbam-exp/harness-*-e4156d9.xz 2> /dev/null | head -1)
  if [ -z "$before" ] || [ ! -f .gpu/harness.xz ]; then note "ecatime: .gpu/harness.xz or .gpu/cbam-exp not carried: skipped"; return; fi
  rm -rf "$d" && mkdir -p "$d" "$results/eca-exp"
  cp "$before" "$d/harness-0-before.xz" && cp .gpu/harness.xz "$d/harness-1-HEAD.xz"
  xz -dc .gpu/harness.xz > /tmp/h-eca-head && chmod +x /tmp/h-eca-head
  cap=$((B / 6 < 25 ? B / 6 : 25))
  for cfg in "eca 32 2048 7 7 f32 NCHW" "eca 2 1024 14 14 f16 NHWC"; do
    for tool in racecheck memcheck; do
      log="$logs/eca-$tool-${cfg// /_}.log"
      # shellcheck disable=SC2086
      timeout -k 5 $cap compute-sanitizer --tool $tool --print-limit 20 /tmp/h-eca-head one $cfg > "$log" 2>&1
      note "ecatime $tool $cfg (cap ${cap} s): exit $? — $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$log" | tail -1)"
    done
  done
  left=$((B - (SECONDS - t0) - 5))
  if [ "$left" -lt 15 ]; then note "ecatime: ${left} s left after the sanitizers: no timing"; return; fi
  OUT=$results/eca-exp timeout -k 5 $((left + 3)) bash native/dev/time_commits.sh "$d" 2 "$left" \
    "eca 32 256 56 56 f32 NCHW" "se 32 2048 7 7 f32 NCHW" \
    "eca 1 2048 7 7 f32 NCHW" "eca 1 2048 7 7 f16 NHWC" "eca 32 2048 7 7 f32 NCHW" "eca 128 2048 7 7 f32 NCHW" \
    "eca 32 1024 14 14 f16 NCHW" "eca 32 1152 7 7 f32 NHWC" "eca 128 256 56 56 f16 NCHW" \
    "eca 1 256 56 56 f32 NCHW" > "$logs/eca-time.log" 2>&1
  note "ecatime: exit $? — $(grep -cE '^\| (se|eca|cbam) ' "$results/eca-exp/time_commits.md" 2> /dev/null) rows timed (results/eca-exp/time_commits.md)"
  head -13 "$results/eca-exp/time_commits.md" 2> /dev/null
}

# Checks, three lanes at once; the timm step replaces fixtures that the first two lanes read, so
# it waits for them. Then the timings, one at a time on a quiet GPU.
lane() { local name=$1; shift; ( LANE=$name; for s in "$@"; do if has "$s"; then "step_$s"; fi; done ) & }
lane 1-tests tests; pid_tests=$!
lane 2-cuda11 cuda11 cbamcheck; pid_cuda=$!
lane 3-harness harness sanitize; pid_harness=$!
wait $pid_tests $pid_cuda
LANE=4-timm
if has timm; then run_step timm; fi
wait $pid_harness
LANE=5-timing
for s in twopass bench peers cbamtime ecatime async crossover cluster; do if has "$s"; then run_step "$s"; fi; done

trap - TERM
finish
