#!/usr/bin/env bash
# Runs on the GPU host (device tool) from the repo root, with .gpu/ and dist/ carried:
#   .gpu/addon/squeeze_excite.node   the cmake-js CUDA build made on the dev machine
#   .gpu/pkg/*.tgz                   `npm pack` of the project (with its prebuild) + its two dependencies
# Steps, each logged under $OUT: the GPU vitest suite; the same suite under compute-sanitizer
# memcheck and racecheck; the packed tarball installed offline running the golden fixtures on
# 'cuda'; `npm run bench` (GPU table with PyTorch peers, host overhead).
# Usage: bash native/dev/gpu_suite.sh [tests] [tarball] [bench] [sanitize]   (default: all, in that order)
set -uo pipefail
steps=${*:-tests tarball bench sanitize}
source .gpu/enter.sh
export SQUEEZE_EXCITE_BINARY=$PWD/.gpu/addon/squeeze_excite.node
summary=()
note() { summary+=("$1"); echo "== $1"; }

if [[ " $steps " == *" tests "* ]]; then
  npx vitest run test/gpu test/golden.test.ts > "$OUT/vitest-gpu.log" 2>&1
  note "vitest GPU suite: exit $? — $(grep -E 'Tests ' "$OUT/vitest-gpu.log" | sed 's/\x1b\[[0-9;]*m//g' | tr -s ' ')"
fi
if [[ " $steps " == *" tarball "* ]]; then
  rm -rf /tmp/app && mkdir -p /tmp/app && echo '{"name":"app","version":"1.0.0","private":true}' > /tmp/app/package.json
  (cd /tmp/app && env -u SQUEEZE_EXCITE_BINARY npm install --offline --no-audit --no-fund "$OLDPWD"/.gpu/pkg/*.tgz) > "$OUT/tarball.log" 2>&1
  env -u SQUEEZE_EXCITE_BINARY node scripts/check-installed.js /tmp/app cuda cpu >> "$OUT/tarball.log" 2>&1
  note "packed tarball, installed offline: exit $? — $(tail -1 "$OUT/tarball.log"); $(grep '^binary:' "$OUT/tarball.log")"
fi
if [[ " $steps " == *" bench "* ]]; then
  node bench/run.mjs --gpu-only > "$OUT/bench.md" 2> "$OUT/bench-progress.log"
  note "bench: exit $?"
  cp bench/results/*-"$(date -u +%F)".md bench/results/*-"$(date -u +%F)".json "$OUT/" 2>/dev/null
fi
if [[ " $steps " == *" sanitize "* ]]; then
  for tool in memcheck racecheck; do
    SQEX_ALLOC_CYCLES=2000 timeout 130 compute-sanitizer --tool $tool --target-processes all --print-limit 20 \
      node node_modules/vitest/vitest.mjs run test/gpu --pool=forks --maxWorkers=1 --testTimeout=200000 > "$OUT/sanitizer-$tool.log" 2>&1
    rc=$?
    note "compute-sanitizer $tool: exit $rc — $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer-$tool.log" | sort | uniq -c | tr -s ' ' | tr '\n' ';') $(grep -E 'Tests ' "$OUT/sanitizer-$tool.log" | sed 's/\x1b\[[0-9;]*m//g' | tr -s ' ')"
  done
fi
printf '%s\n' "${summary[@]}"
