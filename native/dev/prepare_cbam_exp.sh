#!/usr/bin/env bash
# Builds the folder native/dev/cbam_smem_exp.sh reads on the GPU: the kernel harnesses of the
# pre-v7 kernels, of this checkout's HEAD and of branch cbam-smem (CBAM's shared memory after v7:
# NOTES-cuda.md, and the branch's own NOTES section for the prediction), by
# native/dev/build_harnesses.sh. No GPU needed; ~30 s per build on 2 cores.
#
#   bash native/dev/prepare_cbam_exp.sh [DIR=.gpu/cbam-exp] [BRANCH=cbam-smem]
#
# Writes DIR/harness-0-8aa8c67.xz, harness-1-<HEAD>.xz, harness-2-<branch>.xz and
# digest-1-<HEAD>.xz (HEAD's kernels with a harness that has SQEX_DIGEST, for the bitwise
# comparison: HEAD's own harness has it, so it is a copy).
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-.gpu/cbam-exp}
BRANCH=${2:-cbam-smem}
git rev-parse --verify -q "$BRANCH^{commit}" > /dev/null || { echo "no branch $BRANCH here: nothing to prepare" >&2; exit 2; }
head=$(git rev-parse --short HEAD)
rm -f "$DIR"/harness-*.xz "$DIR"/digest-*.xz
bash native/dev/build_harnesses.sh "$DIR" 8aa8c67 HEAD "$BRANCH"
cp "$DIR/harness-1-$head.xz" "$DIR/digest-1-$head.xz"
echo "prepared $DIR: 8aa8c67 (pre-v7), $head (HEAD), $(git rev-parse --short "$BRANCH") ($BRANCH)"
