#!/usr/bin/env bash
# The device check of branch cbam-smem (CBAM's shared memory after v7), prepared before any GPU
# run; NOTES-cuda.md, "CBAM shared memory after v7", has the prediction it tests.
#
# DIR holds, prepared on a machine without a GPU (each: native/dev/cuda_build.sh sm_90, strip, xz):
#   harness-1-<main>.xz     main's HEAD (7d81656)
#   harness-2-<branch>.xz   the branch head
#   harness-0-8aa8c67.xz    optional: the pre-v7 reference (the bisect's)
#   digest-1-<main>.xz      main's kernels built with the branch's harness source (it has
#                           SQEX_DIGEST), for the bitwise comparison; not a harness-*.xz, so
#                           time_commits.sh does not time it
#
#   device, first:  bash native/dev/cbam_smem_exp.sh DIR check 420   (correctness; budget in s)
#   device, then:   bash native/dev/cbam_smem_exp.sh DIR time 150    (timing)
# Writes to $OUT (or /tmp/cbam-exp-out): check-*.txt, sanitizer logs, time_commits.md, summary.txt.
set -uo pipefail
dir=$1 step=$2 budget=${3:-420}
out=${OUT:-/tmp/cbam-exp-out}
mkdir -p "$out"
t0=$SECONDS
say() { echo "$*" | tee -a "$out/summary.txt"; }
left() { echo $((budget - (SECONDS - t0))); }
unpack() {  # unpack <xz> <binary>
  xz -dc "$1" > "$2" && chmod +x "$2"
}
branch_xz=$(ls "$dir"/harness-2-*.xz | head -1)
main_digest_xz=$(ls "$dir"/digest-1-*.xz | head -1)

# sanitize_one BIN PREFIX MIN_LEFT CFG...: racecheck then memcheck of BIN's `one` mode (3 launches
# and a warm-up) on each configuration, while more than MIN_LEFT seconds of the budget are left
sanitize_one() {
  local bin=$1 prefix=$2 min=$3 cfg tool log
  shift 3
  for cfg in "$@"; do
    for tool in racecheck memcheck; do
      [ "$(left)" -gt "$min" ] || { say "budget reached before $prefix$tool $cfg"; return; }
      log="$out/$prefix$tool-${cfg// /_}.log"
      # shellcheck disable=SC2086
      timeout -k 5 60 compute-sanitizer --tool $tool --print-limit 20 "$bin" one $cfg > "$log" 2>&1
      say "$prefix$tool $cfg: exit $? — $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$log" | tail -1)"
    done
  done
}

if [ "$step" = check ]; then
  unpack "$branch_xz" /tmp/h-branch || exit 1
  unpack "$main_digest_xz" /tmp/h-main-digest || exit 1
  say "branch harness: ${branch_xz##*/}; main (digest build): ${main_digest_xz##*/}"
  # 1. every check case on both builds at once (separate processes; the host references dominate),
  #    with digests of y / scale_out: expected 779 passed, 0 failed each, and identical lines
  SQEX_DIGEST=1 timeout -k 5 240 stdbuf -oL /tmp/h-branch check > "$out/check-branch.txt" 2>&1 &
  p1=$!
  SQEX_DIGEST=1 timeout -k 5 240 stdbuf -oL /tmp/h-main-digest check > "$out/check-main.txt" 2>&1 &
  p2=$!
  wait $p1; r1=$?
  wait $p2; r2=$?
  say "check branch: exit $r1, $(grep -E '^checks:' "$out/check-branch.txt" | tail -1), $(grep -c '^FAIL' "$out/check-branch.txt") FAIL lines"
  say "check main:   exit $r2, $(grep -E '^checks:' "$out/check-main.txt" | tail -1)"
  nd=$(diff <(grep -E '^(PASS|FAIL)' "$out/check-main.txt") <(grep -E '^(PASS|FAIL)' "$out/check-branch.txt") | grep -c '^[<>]')
  # expected 2 differing cases (4 lines): CBAM f32 NCHW 4x2048x7x7 and 1x1024x56x56, whose tile
  # plans the change moves (T 69 -> 25; 1 -> 2 channels per chunk), so their fp32 partial sums
  # round in other places; every other case bitwise equal (seen on the CPU emulator, NOTES-cuda.md)
  say "bitwise: $(grep -cE '^(PASS|FAIL)' "$out/check-branch.txt") case lines, $nd differing lines (main vs branch; expected 4: two plan-changed CBAM cases)"
  diff <(grep -E '^(PASS|FAIL)' "$out/check-main.txt") <(grep -E '^(PASS|FAIL)' "$out/check-branch.txt") > "$out/check-diff.txt"
  # 2. racecheck and memcheck on the CBAM paths the aliasing touches (branch harness, `one` mode:
  #    3 launches + warm-up). hidden = max(8, C/16): C = 256 -> FC1 in every block (fc1_local) and,
  #    NHWC, every block computes all gates (s_local); C = 2048 -> FC1 shared through barrier B and,
  #    NHWC, gates through sbuf and barrier C. 2x256x56x56 NCHW: g (3136 floats) runs past z/zmax.
  sanitize_one /tmp/h-branch "" 30 "cbam 4 256 14 14 f32 NCHW" "cbam 4 2048 7 7 f32 NCHW" "cbam 4 256 14 14 f16 NHWC" \
    "cbam 4 2048 7 7 f16 NHWC" "cbam 2 256 56 56 f32 NCHW" "cbam 2 2048 7 7 f32 NHWC"
  # 2b. the position-tile branch (harness-3, when prepared): its kernel on shapes that take it
  #     at 132 SMs (H*W >= 1024, 16-byte rows), fp32 and fp16
  pt_xz=$(ls "$dir"/harness-3-*.xz 2> /dev/null | head -1)
  if [ -n "$pt_xz" ] && unpack "$pt_xz" /tmp/h-pt; then
    sanitize_one /tmp/h-pt pt- 40 "cbam 2 64 112 112 f32 NCHW" "cbam 2 256 56 56 f16 NCHW"
    # the check cases on it (779 + 13 position-tile cases), in what is left
    l=$(($(left) - 10))
    if [ "$l" -gt 30 ]; then
      timeout -k 5 "$l" /tmp/h-pt check > "$out/check-pt.txt" 2>&1
      say "check pt (limit ${l} s): exit $?, $(grep -E '^checks:' "$out/check-pt.txt" | tail -1), $(grep -c '^FAIL' "$out/check-pt.txt") FAIL lines"
    fi
  fi
  # 3. racecheck, then memcheck, over the harness's NaN/Inf cases (504; every kernel path incl. the
  #    chunked 1x1024x56x56 and the wide-map CBAM shapes) with what is left
  for tool in racecheck memcheck; do
    l=$(($(left) - 10))
    [ "$l" -gt 30 ] || { say "no time left for $tool over the NaN cases"; continue; }
    log="$out/$tool-nan.log"
    timeout -k 5 "$l" compute-sanitizer --tool $tool --print-limit 20 /tmp/h-branch nan > "$log" 2>&1
    say "$tool nan (limit ${l} s): exit $? — $(grep -E '^checks:' "$log" | tail -1); $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$log" | tail -1)"
  done
  say "check step: $((SECONDS - t0)) s"
elif [ "$step" = time ]; then
  # CBAM rows the planner changes (NOTES: predicted tiles and times), then controls: the SE rows
  # run identical kernels on main and the branch (same cubins), CBAM 32x256x56x56 f16 NHWC did not
  # slow under v7. Order: the bisect's five first.
  OUT=$out bash "$(dirname "$0")/time_commits.sh" "$dir" 2 "$budget" \
    "cbam 32 2048 7 7 f32 NCHW" "cbam 32 2048 7 7 f16 NHWC" "cbam 128 2048 7 7 f32 NCHW" \
    "cbam 128 2048 7 7 f16 NHWC" "cbam 128 256 56 56 f16 NCHW" \
    "cbam 32 96 112 112 f32 NCHW" "cbam 32 256 56 56 f32 NCHW" "cbam 1 256 56 56 f32 NCHW" \
    "cbam 32 2048 7 7 f16 NCHW" "cbam 128 2048 7 7 f16 NCHW" "cbam 32 2048 7 7 f32 NHWC" \
    "cbam 128 2048 7 7 f32 NHWC" "cbam 32 1024 14 14 f32 NCHW" "cbam 32 256 56 56 f16 NHWC" \
    "se 32 256 56 56 f32 NCHW" "se 32 2048 7 7 f32 NCHW"
else
  echo "usage: $0 DIR check|time [budget_s]" >&2
  exit 2
fi
