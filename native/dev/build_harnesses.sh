#!/usr/bin/env bash
# Builds the kernel harness (native/dev/cuda_build.sh: sm_90, static cudart) of each commit named,
# stripped and xz-compressed (about 1.8 MB each), into DIR/harness-<i>-<commit>.xz, i counting from
# 0 in argument order: the files native/dev/time_commits.sh times, in that order. No GPU needed;
# ~30 s per build on 2 cores. Each build comes from a temporary `git worktree`, removed afterwards.
#
#   bash native/dev/build_harnesses.sh DIR REF...      (e.g. .bisect 8aa8c67 0796431 HEAD)
#
# A REF of '-' takes its index without a build: the caller puts that harness there itself (e.g.
# gpu_session.sh, which has the working tree's harness already and copies it on the device).
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=$1
shift
mkdir -p "$DIR"
tmp=$(mktemp -d)
trap 'for w in "$tmp"/wt-*; do git worktree remove --force "$w" 2> /dev/null || true; done; rm -rf "$tmp"' EXIT
i=0
for ref in "$@"; do
  if [ "$ref" = - ]; then i=$((i + 1)); continue; fi
  c=$(git rev-parse --short "$ref^{commit}")
  wt=$tmp/wt-$c
  git worktree add -f --detach "$wt" "$c" > /dev/null 2>&1
  (cd "$wt" && bash native/dev/cuda_build.sh sm_90 "$tmp/out-$c" > "$tmp/build-$c.log" 2>&1) ||
    { echo "harness build of $ref ($c) failed:" >&2; tail -20 "$tmp/build-$c.log" >&2; exit 1; }
  strip "$tmp/out-$c/cuda_check_bench"
  xz -T2 -6 -c "$tmp/out-$c/cuda_check_bench" > "$DIR/harness-$i-$c.xz"
  echo "$DIR/harness-$i-$c.xz: $(stat -c %s "$DIR/harness-$i-$c.xz") bytes"
  i=$((i + 1))
done
