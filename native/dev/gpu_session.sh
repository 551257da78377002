#!/usr/bin/env bash
# One prepared GPU session (device tool, H200), every step under a hard time budget, in the order
# of the open issues: memory safety and NaN (8), the CUDA 11.8 build (12), the real-timm checkpoint
# fixture (13), then kernel timing (10). Prepare here, then call the device tool once:
#
#   npm install && ../shared/tools/gpu-pack                      # .gpu/ (node, npm, node_modules)
#   node scripts/cmake-build.js compile                           # build/Release: CUDA sm_90 (no GPU here)
#   npm run build:native:cuda11                                   # build-cuda11/Release (needs the 11.8 toolkit)
#   bash native/dev/cuda_build.sh sm_90 build-cuda                # the kernel harness
#   bash native/dev/gpu_session.sh --pack                         # copies the three into .gpu/ (+ cluster harness)
#   device run: carry [".gpu", "build-cuda", "dist"], timeout_s 600,
#     command: source .gpu/enter.sh && bash native/dev/gpu_session.sh
#
# Steps (all by default; or name some): tests harness cuda11 timm sanitize cluster crossover async bench.
# Budgets (s): 120 + 45 + 80 + 100 + 90 + 115 + 45 + 30 + 100 = 725 at most, plus ~20 s of unpacking; most
# steps end well before (the last run's tests took ~60 s of their 120). Give the call timeout_s 600; if it runs long, a second call names the
# steps still to do (e.g. `… gpu_session.sh cluster bench`).
# What comes back (the device tool returns at most 8 files): $OUT/summary.txt (also printed last),
# $OUT/logs.tar.gz (every log), $OUT/results.tar.gz (bench tables, harness and cluster tables),
# $OUT/fixtures.tar.gz (both checkpoint fixtures as the GPU host's timm + safetensors make them).
set -uo pipefail
cd "$(dirname "$0")/../.."

if [ "${1:-}" = --pack ]; then
  mkdir -p .gpu/addon .gpu/addon-cuda11
  cp build/Release/squeeze_excite.node .gpu/addon/ && echo "packed build/Release -> .gpu/addon"
  if [ -f build-cuda11/Release/squeeze_excite.node ]; then
    cp build-cuda11/Release/squeeze_excite.node .gpu/addon-cuda11/ && echo "packed build-cuda11/Release -> .gpu/addon-cuda11"
  else
    echo "no build-cuda11/Release/squeeze_excite.node (npm run build:native:cuda11): the cuda11 step will say skipped"
  fi
  [ -x build-cuda/cuda_check_bench ] || echo "no build-cuda/cuda_check_bench (native/dev/cuda_build.sh): the harness step will say skipped"
  du -sh .gpu build-cuda 2>/dev/null
  exit 0
fi

steps=${*:-tests harness cuda11 timm sanitize cluster crossover async bench}
OUT=${OUT:-/tmp/out}
logs=$OUT/logs
results=$OUT/results
mkdir -p "$logs" "$results"
export SQUEEZE_EXCITE_BINARY=$PWD/.gpu/addon/squeeze_excite.node
summary=()
note() { summary+=("$1"); echo "== $1"; }
strip() { sed 's/\x1b\[[0-9;]*m//g' | tr -s ' '; }
has() { [[ " $steps " == *" $1 "* ]]; }
t_start=$SECONDS

{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,memory.total --format=csv
  echo "kernel: $(uname -r)"
  nvcc --version | tail -2
  python3 -c "import torch, sys; print('torch', torch.__version__)" 2>&1
  python3 -c "import timm; print('timm', timm.__version__)" 2>&1
  python3 -c "import safetensors; print('safetensors', safetensors.__version__)" 2>&1
} > "$logs/env.txt" 2>&1
runtime=gvisor; uname -r | grep -q -- '-fc-' && runtime=firecracker
note "machine: $(head -2 "$logs/env.txt" | tail -1); runtime $runtime; $(node -p "JSON.stringify(require('./dist/index.js').cuda.status().devices.map(d=>d.name))" 2>&1)"

if has tests; then
  # The GPU suites (ops, tensors, weights, NaN/Inf, golden and checkpoint fixtures on CUDA), and the
  # memory-safety suite, whose hostile transfer test runs over the CUDA host path here.
  timeout 120 npx vitest run test/gpu test/golden.test.ts test/memory-safety.test.ts > "$logs/vitest-gpu.log" 2>&1
  note "tests (vitest test/gpu + golden + memory-safety, CUDA 13 build): exit $? — $(grep -E 'Tests ' "$logs/vitest-gpu.log" | strip)"
  grep -E '×|FAIL' "$logs/vitest-gpu.log" | strip | head -15
fi

if has harness; then
  if [ -x build-cuda/cuda_check_bench ]; then
    timeout 45 build-cuda/cuda_check_bench nan > "$logs/harness-nan.log" 2>&1
    note "harness nan (504 NaN/Inf cases, every kernel path): exit $? — $(grep -E 'checks:|passed|failed' "$logs/harness-nan.log" | tail -1)"
  else
    note "harness: build-cuda/cuda_check_bench not carried: skipped"
  fi
fi

if has cuda11; then
  addon11=$PWD/.gpu/addon-cuda11/squeeze_excite.node
  if [ -f "$addon11" ]; then
    SQUEEZE_EXCITE_BINARY=$addon11 node -p "const s=require('./dist/index.js').cuda.status(); JSON.stringify({runtimeVersion:s.runtimeVersion, driverVersion:s.driverVersion, available:s.available, reason:s.reason})" > "$logs/cuda11-status.log" 2>&1
    SQUEEZE_EXCITE_BINARY=$addon11 timeout 80 npx vitest run test/gpu test/golden.test.ts > "$logs/vitest-gpu-cuda11.log" 2>&1
    note "cuda11 (GPU suites + golden, CUDA 11.8 build forced): exit $? — $(grep -E 'Tests ' "$logs/vitest-gpu-cuda11.log" | strip); $(cat "$logs/cuda11-status.log")"
  else
    note "cuda11: .gpu/addon-cuda11 not carried: skipped"
  fi
fi

if has timm; then
  # Both checkpoint fixtures again with the GPU host's timm and safetensors (newer than the
  # committed ones, made on the dev VM by scripts/setup-real-timm.sh: timm from git, safetensors
  # v0.2.8), then the fixture tests against them on the CPU and on CUDA.
  mkdir -p "$OUT/fixture"
  { timeout 30 python3 scripts/gen_safetensors_fixture.py --mode timm --out "$OUT/fixture" &&
    timeout 30 python3 scripts/gen_timm_models_fixture.py --out "$OUT/fixture"; } > "$logs/timm-fixture.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then
    cp -r "$OUT"/fixture/* test/fixtures/
    timeout 40 npx vitest run test/state-dict.fixture.test.ts test/timm-models.fixture.test.ts test/gpu/state-dict.cuda.test.ts >> "$logs/timm-fixture.log" 2>&1
    note "timm fixtures: made (exit $rc), tests on them (cpu + cuda): exit $? — $(grep -E 'Tests ' "$logs/timm-fixture.log" | strip | tail -1); $(grep -o '"mode": *"[a-z]*"' "$OUT/fixture/attention_model.json" | head -1); $(grep -E 'models, .* attention modules' "$logs/timm-fixture.log")"
    tar -C "$OUT/fixture" -czf "$OUT/fixtures.tar.gz" . && rm -rf "$OUT/fixture"
  else
    note "timm fixtures: generator exit $rc — $(tail -2 "$logs/timm-fixture.log" | tr '\n' ' ')"
    rm -rf "$OUT/fixture"
  fi
fi

if has sanitize; then
  if [ "$runtime" = firecracker ]; then
    for tool in memcheck racecheck; do
      SQEX_ALLOC_CYCLES=200 timeout 45 compute-sanitizer --tool $tool --target-processes all --print-limit 20 \
        node node_modules/vitest/vitest.mjs run test/gpu/nan.cuda.test.ts test/gpu/tensor.cuda.test.ts --pool=forks --maxWorkers=1 --testTimeout=200000 \
        > "$logs/sanitizer-$tool.log" 2>&1
      note "compute-sanitizer $tool: exit $? — $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$logs/sanitizer-$tool.log" | sort | uniq -c | strip | tr '\n' ';') $(grep -E 'Tests ' "$logs/sanitizer-$tool.log" | strip)"
    done
  else
    note "compute-sanitizer: skipped, the $runtime runtime refuses it (KINDS.md)"
  fi
fi

if has cluster; then
  if [ -f native/dev/cluster/run.sh ]; then
    # Builds there (~20 s), then each variant in its own process under a 75 s run budget
    # (native/dev/cluster/NOTES.md: predictions and how to read the table).
    OUT=$results timeout 115 bash native/dev/cluster/run.sh all 75 > "$logs/cluster.log" 2>&1
    note "cluster variants: exit $? — $(tail -1 "$logs/cluster.log")"
    tail -30 "$logs/cluster.log"
  else
    note "cluster: native/dev/cluster/run.sh absent: skipped"
  fi
fi

if has crossover; then
  # Host arrays on the CPU vs the CUDA host path, per op and size: the data for device 'auto'
  # (issue 10). bench/crossover.mjs stops starting new sizes after its own 35 s budget.
  timeout 45 node bench/crossover.mjs --budget-s 35 > "$results/crossover.json" 2> "$logs/crossover.log"
  note "crossover (cpu vs cuda host path): exit $? — $(node -p "JSON.stringify(require('$results/crossover.json').crossoverBytes ?? 'none')" 2>&1)"
fi

if has async; then
  # What memory safety costs async calls on the CUDA host path (issue 8: pinned staging), beside
  # the sync call and SharedArrayBuffer operands, per size (bench/async.mjs).
  timeout 30 node bench/async.mjs --device cuda --reps 10 --json > "$results/async-cuda.json" 2> "$logs/async-cuda.log"
  note "async (cuda host path): exit $? — $(node -p "require('$results/async-cuda.json').map(r=>r.shape+' sync '+r.syncUs+' async '+r.asyncOutUs+' ('+r.asyncOutBlockUs+')').join('; ')" 2>&1)"
fi

if has bench; then
  # The quick GPU table: ours, the same-size copy and PyTorch eager / CUDA graph (torch.compile
  # costs minutes: SQEX_PEER_MODES adds it in a session with time to spare).
  timeout 100 node bench/run.mjs --gpu-only --quick --out "$results" > "$logs/bench.md" 2> "$logs/bench-progress.log"
  note "bench --quick: exit $? — $(grep -cE '^\| (se|eca|cbam|SE|ECA|CBAM) ' "$logs/bench.md") rows"
fi

note "total $((SECONDS - t_start)) s"
printf '%s\n' "${summary[@]}" > "$OUT/summary.txt"
tar -C "$OUT" -czf "$OUT/logs.tar.gz" logs && rm -rf "$logs"
tar -C "$OUT" -czf "$OUT/results.tar.gz" results && rm -rf "$results"
cat "$OUT/summary.txt"
