#!/usr/bin/env bash
# Runs on the GPU host (device tool) from the repo root, with .gpu/ and dist/ carried:
#   .gpu/addon/squeeze_excite.node   the cmake-js CUDA build made on the dev machine
#   .gpu/pkg/*.tgz                   `npm pack` of the project (with its prebuild) + its two dependencies
#   .gpu/addon-cuda11/squeeze_excite.node   the CUDA 11.8 build (`npm run build:native:cuda11`,
#                                    build-cuda11/Release/; native/dev/NOTES-cuda.md), for step cuda11
# Steps, each logged under $OUT: the GPU vitest suite; the same suite under compute-sanitizer
# memcheck and racecheck; the packed tarball installed offline running the golden fixtures on
# 'cuda'; cuda11: the GPU suite and golden fixtures again with the CUDA 11.8 build forced
# (SQUEEZE_EXCITE_BINARY), and, when the tarball step installed a package that ships both builds,
# its golden fixtures with SQUEEZE_EXCITE_CUDA_BUILD=11.8; `npm run bench` (GPU table with PyTorch
# peers, host overhead).
# Usage: bash native/dev/gpu_suite.sh [tests] [tarball] [cuda11] [bench] [sanitize]   (default: all, in that order)
set -uo pipefail
steps=${*:-tests tarball cuda11 bench sanitize}
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
if [[ " $steps " == *" cuda11 "* ]]; then
  addon11=$PWD/.gpu/addon-cuda11/squeeze_excite.node
  status_js="const s=require(process.argv[1]).cuda.status(); console.log(JSON.stringify({ runtimeVersion: s.runtimeVersion, driverVersion: s.driverVersion, minDriverVersion: s.minDriverVersion, available: s.available, reason: s.reason, binary: s.binary, builds: s.builds }))"
  if [[ -f $addon11 ]]; then
    SQUEEZE_EXCITE_BINARY=$addon11 node -e "$status_js" "$PWD/dist/index.js" > "$OUT/cuda11-status.log" 2>&1
    SQUEEZE_EXCITE_BINARY=$addon11 npx vitest run test/gpu test/golden.test.ts > "$OUT/vitest-gpu-cuda11.log" 2>&1
    note "vitest GPU suite, CUDA 11.8 build forced: exit $? — $(grep -E 'Tests ' "$OUT/vitest-gpu-cuda11.log" | sed 's/\x1b\[[0-9;]*m//g' | tr -s ' '); status $(cat "$OUT/cuda11-status.log")"
  else
    note "cuda11: no $addon11 (npm run build:native:cuda11 on the dev machine, then carry build-cuda11/Release/squeeze_excite.node there): skipped"
  fi
  if ls /tmp/app/node_modules/squeeze-excite/prebuilds/linux-x64/cuda-builds.json > /dev/null 2>&1; then
    env -u SQUEEZE_EXCITE_BINARY SQUEEZE_EXCITE_CUDA_BUILD=11.8 node -e "$status_js" /tmp/app/node_modules/squeeze-excite > "$OUT/tarball-cuda11.log" 2>&1
    env -u SQUEEZE_EXCITE_BINARY SQUEEZE_EXCITE_CUDA_BUILD=11.8 node scripts/check-installed.js /tmp/app cuda cpu >> "$OUT/tarball-cuda11.log" 2>&1
    note "packed tarball, SQUEEZE_EXCITE_CUDA_BUILD=11.8: exit $? — $(tail -1 "$OUT/tarball-cuda11.log"); $(head -1 "$OUT/tarball-cuda11.log")"
  else
    note "cuda11 tarball check: the installed tarball (step tarball) ships no cuda-builds.json: skipped"
  fi
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
