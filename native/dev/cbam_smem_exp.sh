#!/usr/bin/env bash
# The device check and timing of the CBAM kernel changes, prepared before any GPU run:
# NOTES-cuda.md, "CBAM NCHW position tiles" (2026-12-01) and "CBAM shared memory after v7", have
# the predictions it tests.
#
# DIR holds, prepared on a machine without a GPU by native/dev/prepare_cbam_exp.sh (each:
# native/dev/cuda_build.sh sm_90, strip, xz):
#   harness-0-8aa8c67.xz   the pre-v7 reference (the bisect's)
#   harness-1-<base>.xz    main before the change under test (a7a7a55: before the position tiles)
#   harness-2-<head>.xz    HEAD
#   harness-3-e4156d9.xz   optional: main before cbam-smem (and before ECA's halo kernel)
#   digest-1-<base>.xz     optional: base's kernels and harness (it has SQEX_DIGEST), for the
#                          bitwise comparison; without it harness-1 serves (the same build)
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
# The digest build: a digest-1 file where an older prepare left one, else base's harness (it has SQEX_DIGEST).
main_digest_xz=$(ls "$dir"/digest-1-*.xz "$dir"/harness-1-*.xz 2> /dev/null | head -1)

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
  say "HEAD harness: ${branch_xz##*/}; base (digest build): ${main_digest_xz##*/}"
  # 1. every check case on both builds at once (separate processes; the host references dominate),
  #    with digests of y / scale_out: 0 failed each, and the cases both have bitwise equal except
  #    those whose plan HEAD changes (HEAD also has cases the base's harness lacks)
  SQEX_DIGEST=1 timeout -k 5 240 stdbuf -oL /tmp/h-branch check > "$out/check-branch.txt" 2>&1 &
  p1=$!
  SQEX_DIGEST=1 timeout -k 5 240 stdbuf -oL /tmp/h-main-digest check > "$out/check-main.txt" 2>&1 &
  p2=$!
  wait $p1; r1=$?
  wait $p2; r2=$?
  say "check HEAD: exit $r1, $(grep -E '^checks:' "$out/check-branch.txt" | tail -1), $(grep -c '^FAIL' "$out/check-branch.txt") FAIL lines"
  say "check base: exit $r2, $(grep -E '^checks:' "$out/check-main.txt" | tail -1)"
  # case name -> digest, for the case names both harnesses print (err values left out)
  cases() { grep -E '^(PASS|FAIL) ' "$1" | sed -E 's/ +err [^ ]+//; s/ +(y#|s#)/\t\1/' | sort; }
  join -t $'\t' <(cases "$out/check-main.txt") <(cases "$out/check-branch.txt") > "$out/check-common.txt"
  nd=$(awk -F '\t' '$2 != $3' "$out/check-common.txt" | tee "$out/check-diff.txt" | wc -l)
  # expected (CPU emulator at 132 SMs, SQEX_CBAM_PT=0 against the planner's choice): the CBAM NCHW
  # cases that take position tiles; their means, maps and FC inputs round in other places
  say "bitwise: $(wc -l < "$out/check-common.txt") cases in both, $nd with other digests (expected ~15, as on the CPU emulator at 132 SMs: CBAM NCHW position-tile cases; list: check-diff.txt)"
  say "differing cases not CBAM NCHW: $(grep -vc 'CBAM f[0-9a-z]* NCHW' "$out/check-diff.txt") (expected 0)"
  # 2. racecheck and memcheck on the CBAM paths (HEAD harness, `one` mode: 3 launches + warm-up).
  #    hidden = max(8, C/16): C = 256 -> FC1 in every block (fc1_local) and, NHWC, every block
  #    computes all gates (s_local); C = 2048 -> FC1 shared through barrier B and, NHWC, gates
  #    through sbuf and barrier C. Position tiles (NCHW, 132 SMs): 2x256x56x56 f32 (tiles of 12
  #    positions, 4 lanes a channel in the pooling), 32x96x112x112 f16 (tiles of 248 positions:
  #    blocks take a second tile), 1x512x64x64 f32 (hidden 32: FC1 and the gates split, barriers
  #    B and C).
  sanitize_one /tmp/h-branch "" 30 "cbam 2 256 56 56 f32 NCHW" "cbam 32 96 112 112 f16 NCHW" \
    "cbam 1 512 64 64 f32 NCHW" "cbam 4 2048 7 7 f32 NCHW" "cbam 4 256 14 14 f16 NHWC" \
    "cbam 4 2048 7 7 f16 NHWC" "cbam 2 2048 7 7 f32 NHWC" "cbam 1 4 256 256 f32 NCHW"
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
  # The rows the position tiles change first (NOTES-cuda.md, "CBAM NCHW position tiles": predicted
  # within ±25% of the NHWC row of the same shape), then their NHWC rows and an SE row as controls
  # (kernels identical on every harness since e4156d9), then the bisect's five rows (CBAM shared
  # memory after v7: back within 10% of 8aa8c67). 40 s stay for the on/off table below.
  OUT=$out bash "$(dirname "$0")/time_commits.sh" "$dir" 2 $((budget - 40)) \
    "cbam 32 96 112 112 f32 NCHW" "cbam 32 256 56 56 f32 NCHW" "cbam 1 256 56 56 f32 NCHW" \
    "cbam 32 96 112 112 f16 NCHW" "cbam 128 256 56 56 f16 NCHW" "cbam 1 256 56 56 f16 NCHW" \
    "cbam 32 96 112 112 f32 NHWC" "cbam 32 256 56 56 f32 NHWC" "se 32 256 56 56 f32 NCHW" \
    "cbam 32 2048 7 7 f32 NCHW" "cbam 32 2048 7 7 f16 NHWC" "cbam 128 2048 7 7 f32 NCHW" \
    "cbam 128 2048 7 7 f16 NHWC"
  # Position tiles off and on in HEAD's harness (SQEX_CBAM_PT, read by harness builds only), on
  # the rows where the planner takes them and on those where it does not (28^2, 14^2: the
  # workspace-traffic rule says channel tiles; this says whether it is right), 2 runs each,
  # alternated: where to draw the planner's line, from one run.
  unpack "$branch_xz" /tmp/h-head-time || exit 1
  t1=$SECONDS
  {
    echo "| configuration (best of 2) | SQEX_CBAM_PT=0 µs | SQEX_CBAM_PT=1 µs | on / off |"
    echo "|---|---:|---:|---:|"
  } > "$out/pt_onoff.md"
  for cfg in "cbam 32 512 28 28 f32 NCHW" "cbam 32 1024 14 14 f32 NCHW" "cbam 32 512 28 28 f16 NCHW" \
             "cbam 32 256 56 56 f32 NCHW" "cbam 1 256 56 56 f32 NCHW" "cbam 32 96 112 112 f32 NCHW" \
             "cbam 128 256 56 56 f16 NCHW" "cbam 32 1024 14 14 f16 NCHW"; do
    [ $((SECONDS - t1)) -lt 38 ] || { echo "budget reached" >> "$out/pt_onoff.md"; break; }
    declare -A t=()
    for r in 1 2; do
      for v in 0 1; do
        # shellcheck disable=SC2086
        t[$v]+="$(SQEX_CBAM_PT=$v timeout 20 /tmp/h-head-time one $cfg 2>&1 | sed -nE 's/.*: op ([0-9.]+) us, copy.*/\1/p' | tail -1) "
      done
    done
    m0=$(tr ' ' '\n' <<< "${t[0]}" | grep -E '^[0-9.]+$' | sort -g | head -1)
    m1=$(tr ' ' '\n' <<< "${t[1]}" | grep -E '^[0-9.]+$' | sort -g | head -1)
    echo "| $cfg | ${m0:--} | ${m1:--} | $(awk -v a="$m1" -v b="$m0" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }') |" >> "$out/pt_onoff.md"
    unset t
  done
  cat "$out/pt_onoff.md"
else
  echo "usage: $0 DIR check|time [budget_s]" >&2
  exit 2
fi
