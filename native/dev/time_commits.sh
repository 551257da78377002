#!/usr/bin/env bash
# Times the shipped kernels of several commits in one GPU session (a bisect of a slowdown).
# Each commit's kernel harness (stripped, xz) sits in DIR as harness-<name>.xz, columns in the
# glob's order (native/dev/build_harnesses.sh names them harness-<i>-<commit>.xz in the order
# given); its `one` mode times one configuration (cuda_benchmark: 3 launches against a same-size
# D2D copy). Each configuration runs REPS processes per commit, commits interleaved, and the
# table gives the median op µs and op/copy per commit.
#
#   prepare here:  bash native/dev/build_harnesses.sh DIR A B C
#   device run:    bash native/dev/time_commits.sh DIR REPS BUDGET_S "cbam 32 2048 7 7 f32 NCHW" ...
# Writes the table to stdout and $OUT/time_commits.md (when OUT is set).
set -uo pipefail
shopt -s nullglob
dir=$1 reps=$2 budget=$3
shift 3
t0=$SECONDS
bins=()
for x in "$dir"/harness-*.xz; do
  c=${x##*/harness-}; c=${c%.xz}
  xz -dc "$x" > "/tmp/harness-$c" && chmod +x "/tmp/harness-$c" && bins+=("$c")
done
if [ ${#bins[@]} -eq 0 ]; then echo "no harness-*.xz in $dir" >&2; exit 2; fi
out=${OUT:-/tmp}/time_commits.md
{
  echo "| configuration | $(printf '%s | ' "${bins[@]}")"
  echo "|---|$(printf -- '---:|%.0s' "${bins[@]}")"
} | tee "$out"
for cfg in "$@"; do
  declare -A ops=() ratios=()
  for ((r = 0; r < reps; r++)); do
    for c in "${bins[@]}"; do
      if [ $((SECONDS - t0)) -ge "$budget" ]; then echo "budget of ${budget} s reached" | tee -a "$out"; exit 0; fi
      # shellcheck disable=SC2086
      line=$(timeout 30 "/tmp/harness-$c" one $cfg 2>&1 | grep -E ': op [0-9.]+ us, copy' | tail -1)
      op=$(sed -E 's/.*: op ([0-9.]+) us, copy ([0-9.]+) us.*/\1/' <<< "$line")
      cp=$(sed -E 's/.*: op ([0-9.]+) us, copy ([0-9.]+) us.*/\2/' <<< "$line")
      [ -n "$line" ] || { op=nan; cp=nan; }
      ops[$c]+="$op "
      ratios[$c]+="$(awk -v o="$op" -v c="$cp" 'BEGIN { if (c + 0 > 0) printf "%.3f", o / c; else print "nan" }') "
    done
  done
  # median of the runs that printed a time (a failed run is "nan": counted, not ranked)
  med() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g | awk '{a[NR] = $1} END { if (NR) print a[int((NR + 1) / 2)]; else print "-" }'; }
  fails() { tr ' ' '\n' | grep -c '^nan$'; }
  row="| $cfg |"
  for c in "${bins[@]}"; do
    f=$(fails <<< "${ops[$c]}")
    row+=" $(med <<< "${ops[$c]}") µs ($(med <<< "${ratios[$c]}")×)$([ "$f" -gt 0 ] && echo ", $f failed") |"
  done
  echo "$row" | tee -a "$out"
  unset ops ratios
done
echo "total $((SECONDS - t0)) s" | tee -a "$out"
