#!/usr/bin/env bash
# The kernel harness's checks (779 on 2026-11-30) on the CPU emulator, no GPU needed:
#   1. CUEMU_SMS=4 (small grids: several tiles per block, chunked samples), fibers forward;
#   2. CUEMU_SMS=132 (an H100/H200's grid and tile plans), fibers forward;
#   3. CUEMU_SMS=132 again with each block's fibers run in reverse order: a read of shared
#      memory that another thread wrote without a barrier between would change the bits, so
#      every case's output digest must equal run 2's.
# Usage: native/dev/cuemu/run_checks.sh [outdir=build-cuemu] [harness mode=check] [build args...]
#   Set SKIP_BUILD=1 to reuse outdir's binary. Logs: outdir/check-*.log. Exit 0 when all pass.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
OUT=${1:-$ROOT/build-cuemu}
MODE=${2:-check}
shift $(( $# > 2 ? 2 : $# ))
[ "${SKIP_BUILD:-}" = 1 ] || "$HERE/build.sh" "$OUT" "$@" || exit 1
rc=0
run() {  # name sms order
  local log="$OUT/check-$1.log" t0=$SECONDS
  CUEMU_SMS=$2 CUEMU_ORDER=$3 SQEX_DIGEST=1 "$OUT/cuda_check_bench" "$MODE" > "$log" 2>&1
  local r=$?
  echo "$1 (CUEMU_SMS=$2, $3): $(grep -E '^checks:' "$log" | tail -1) exit $r, $((SECONDS - t0)) s"
  grep -E '^FAIL' "$log" | head -5
  [ $r = 0 ] || rc=1
}
run sms4 4 forward
run sms132 132 forward
run sms132-reverse 132 reverse
digests() { grep -E '^(PASS|FAIL) ' "$1" | sed -E 's/ +err [^ ]+//' ; }
if diff <(digests "$OUT/check-sms132.log") <(digests "$OUT/check-sms132-reverse.log") > "$OUT/order.diff"; then
  echo "fiber order: every case's digests equal (forward vs reverse)"
else
  echo "fiber order: digests differ (a shared-memory race?): $OUT/order.diff"
  head -6 "$OUT/order.diff"
  rc=1
fi
exit $rc
