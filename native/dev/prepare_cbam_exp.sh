#!/usr/bin/env bash
# Builds the folder native/dev/cbam_smem_exp.sh reads on the GPU: the kernel harness (sm_90,
# static cudart, stripped, xz; about 1.8 MB each) of the pre-v7 kernels, of this checkout's HEAD
# and of branch cbam-smem (CBAM's shared memory after v7: NOTES-cuda.md, and the branch's own
# NOTES section for the prediction). No GPU needed; ~30 s per build on 2 cores.
#
#   bash native/dev/prepare_cbam_exp.sh [DIR=.gpu/cbam-exp] [BRANCH=cbam-smem]
#
# Writes DIR/harness-0-8aa8c67.xz, harness-1-<HEAD>.xz, harness-2-<branch>.xz and
# digest-1-<HEAD>.xz (HEAD's kernels with a harness that has SQEX_DIGEST, for the bitwise
# comparison: HEAD's own harness has it, so it is a copy). Each build comes from a temporary
# `git worktree` of its commit, removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-.gpu/cbam-exp}
BRANCH=${2:-cbam-smem}
git rev-parse --verify -q "$BRANCH^{commit}" > /dev/null || { echo "no branch $BRANCH here: nothing to prepare" >&2; exit 2; }
head=$(git rev-parse --short HEAD)
branch=$(git rev-parse --short "$BRANCH")
mkdir -p "$DIR"
rm -f "$DIR"/harness-*.xz "$DIR"/digest-*.xz
tmp=$(mktemp -d)
trap 'for w in "$tmp"/wt-*; do git worktree remove --force "$w" 2> /dev/null || true; done; rm -rf "$tmp"' EXIT
build() {  # build <commit> <xz path>
  local wt=$tmp/wt-$1
  git worktree add -f --detach "$wt" "$1" > /dev/null 2>&1
  (cd "$wt" && bash native/dev/cuda_build.sh sm_90 "$tmp/out-$1" > "$tmp/build-$1.log" 2>&1) ||
    { echo "harness build of $1 failed: $tmp/build-$1.log" >&2; tail -20 "$tmp/build-$1.log" >&2; exit 1; }
  strip "$tmp/out-$1/cuda_check_bench"
  xz -T2 -6 -c "$tmp/out-$1/cuda_check_bench" > "$2"
  echo "$2: $(stat -c %s "$2") bytes"
}
build 8aa8c67 "$DIR/harness-0-8aa8c67.xz"
build "$head" "$DIR/harness-1-$head.xz"
build "$branch" "$DIR/harness-2-$branch.xz"
cp "$DIR/harness-1-$head.xz" "$DIR/digest-1-$head.xz"
echo "prepared $DIR: 8aa8c67 (pre-v7), $head (HEAD), $branch ($BRANCH)"
