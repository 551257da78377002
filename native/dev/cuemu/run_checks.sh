#!/usr/bin/env bash
# The kernel harness's checks (779 on 2026-11-30) on the CPU emulator, no GPU needed:
#   1. CUEMU_SMS=4 (small grids: several tiles per block, chunked samples), fibers forward;
#   2. the large-|x| cases again with 8 more seeds (SQEX_SEED=1..8): their conditioning
#      depends on the data;
#   2b. the ECA cases with the halo kernel forced wherever legal (CUEMU_ECA_HALO=1): at 4 SMs the
#      planner takes it for NHWC only where a batch's tiles are <= 4 (launch.cuh), so without this
#      its NHWC path would run only at 132 SMs (a review, 2026-12-04);
#   2c. the NHWC and the CBAM cases with the two-pass path off (SQEX_TWO_PASS=0): they then take
#      the fused kernels (NHWC position tiles, CBAM's channel and position tiles), their path
#      wherever two_pass.cuh does not apply;
#   2d. every case with the passes forced wherever they apply (SQEX_TWO_PASS=1);
#   3. CUEMU_SMS=132 (an H100/H200's grid and tile plans), fibers forward (profile full only);
#   4. run 1's (quick) or 3's (full) configuration again with each block's fibers in reverse
#      order: a read of shared memory that another thread wrote without a barrier between
#      would change the bits, so every case's output digest must be the same in both orders;
#   5. stream_race: two threads issuing SE calls to one stream (weights, host, workspace; graph and
#      wcgraph: a captured graph replayed after the stream's caches grew;
#      see stream_race.cpp), with freed device memory quarantined and checked (cuemu_runtime.cpp).
# Usage: native/dev/cuemu/run_checks.sh [outdir=build-cuemu] [build.sh's 2nd arg, e.g. asan]
#   CUEMU_PROFILE=quick (CI: ~2 min on 2 cores) or full (default; ~10 min). SKIP_BUILD=1 reuses
#   outdir's binary. Logs: outdir/check-*.log. Last line: "N passed, N failed"; exit 0 when all pass.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
OUT=${1:-$ROOT/build-cuemu}
PROFILE=${CUEMU_PROFILE:-full}
shift $(( $# > 1 ? 1 : $# ))
[ "${SKIP_BUILD:-}" = 1 ] || "$HERE/build.sh" "$OUT" "$@" || { echo "0 passed, 1 failed"; exit 1; }
passed=0 failed=0
run() {  # name sms order
  local log="$OUT/check-$1.log" t0=$SECONDS p f
  CUEMU_SMS=$2 CUEMU_ORDER=$3 SQEX_DIGEST=1 "$OUT/cuda_check_bench" check > "$log" 2>&1
  local r=$?
  read -r p f < <(sed -n 's/^checks: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' "$log" | tail -1)
  p=${p:-0}; f=${f:-0}
  [ $r != 0 ] && [ "$f" = 0 ] && f=1   # a crash or a trap
  echo "$1 (CUEMU_SMS=$2, $3): $p passed, $f failed, exit $r, $((SECONDS - t0)) s"
  grep -E '^FAIL|^cuemu: ' "$log" | head -5
  passed=$((passed + p)); failed=$((failed + f))
}
digests() { grep -E '^(PASS|FAIL) ' "$1" | sed -E 's/ +err [^ ]+//' ; }
same_digests() {  # a b
  if diff <(digests "$OUT/check-$1.log") <(digests "$OUT/check-$2.log") > "$OUT/order.diff"; then
    echo "fiber order: every case's digests equal ($1 vs $2)"
    passed=$((passed + 1))
  else
    echo "fiber order: digests differ between $1 and $2 (a shared-memory race?): $OUT/order.diff"
    head -6 "$OUT/order.diff"
    failed=$((failed + 1))
  fi
}
run sms4 4 forward
for seed in 1 2 3 4 5 6 7 8; do
  SQEX_SEED=$seed SQEX_CASE='|x|~10000' run "seed$seed" 4 forward
done
CUEMU_ECA_HALO=1 SQEX_CASE=ECA run eca-halo-forced 4 forward
# The fused kernel's NHWC position tiles and CBAM's fused kernels (channel and position tiles),
# which take only what the two-pass path does not (two_pass.cuh): every NHWC and CBAM case
# through them too.
SQEX_TWO_PASS=0 SQEX_CASE=NHWC run two-pass-off 4 forward
SQEX_TWO_PASS=0 SQEX_CASE=CBAM run two-pass-off-cbam 4 forward
# And the passes wherever they apply (SQEX_TWO_PASS=1; the planner prefers fused plans for many
# shapes, e.g. NCHW SE with small FCs): every case, so that the passes' kernels see every option.
SQEX_TWO_PASS=1 run two-pass-forced 4 forward
if [ "$PROFILE" = full ]; then
  run sms132 132 forward
  run sms132-reverse 132 reverse
  same_digests sms132 sms132-reverse
else
  run sms4-reverse 4 reverse
  same_digests sms4 sms4-reverse
fi
# Two threads on one stream (stream_race.cpp): each mode one check.
for mode in weights host workspace graph wcgraph; do
  t0=$SECONDS
  if timeout 600 "$OUT/stream_race" "$mode" 300 > "$OUT/race-$mode.log" 2>&1; then
    echo "stream race $mode: passed, $((SECONDS - t0)) s ($(tail -1 "$OUT/race-$mode.log"))"
    passed=$((passed + 1))
  else
    echo "stream race $mode: FAILED (exit $?): $OUT/race-$mode.log"
    tail -3 "$OUT/race-$mode.log"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
