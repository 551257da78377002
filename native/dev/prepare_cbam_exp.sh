#!/usr/bin/env bash
# Builds the folder native/dev/cbam_smem_exp.sh reads on the GPU: the kernel harnesses of the
# pre-v7 kernels, of BASE and of AFTER (CBAM's shared memory after v7: NOTES-cuda.md, "CBAM shared
# memory after v7"; since 2026-11-30 the change is on main, merged after the CPU emulator's checks,
# so BASE is main before the merge and AFTER is HEAD), by native/dev/build_harnesses.sh. No GPU
# needed; ~30 s per build on 2 cores.
#
#   bash native/dev/prepare_cbam_exp.sh [DIR=.gpu/cbam-exp] [BASE=HEAD] [AFTER=cbam-smem] [MORE...]
#
# AFTER '-': no harness-2 is built (gpu_session.sh copies the working tree's own harness there on
# the device, saving a 3 MB copy of the same program in what travels).
# MORE: further commits timed beside them (harness-3-..., e.g. branch cbam-pt, CBAM NCHW position
# tiles); cbam_smem_exp.sh's check also runs compute-sanitizer on a position-tile shape there.
#
# Writes DIR/harness-0-8aa8c67.xz, harness-1-<BASE>.xz and harness-2-<AFTER>.xz. The bitwise
# comparison's digest build is BASE's own harness (it has SQEX_DIGEST); no copy travels (it was
# 1.9 MB of the device tool's 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-.gpu/cbam-exp}
BASE=${2:-HEAD}
AFTER=${3:-cbam-smem}
shift $(( $# > 3 ? 3 : $# ))
for r in "$BASE" "$AFTER" "$@"; do
  [ "$r" = - ] && continue  # build_harnesses.sh: an index the caller fills
  git rev-parse --verify -q "$r^{commit}" > /dev/null || { echo "no commit $r here: nothing to prepare" >&2; exit 2; }
done
base=$(git rev-parse --short "$BASE")
rm -f "$DIR"/harness-*.xz "$DIR"/digest-*.xz
bash native/dev/build_harnesses.sh "$DIR" 8aa8c67 "$BASE" "$AFTER" "$@"
after=$([ "$AFTER" = - ] && echo 'none (the caller puts harness-2 there)' || echo "$(git rev-parse --short "$AFTER") ($AFTER)")
echo "prepared $DIR: 8aa8c67 (pre-v7), $base ($BASE), $after${*:+, and $*}"
