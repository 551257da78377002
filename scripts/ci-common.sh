# Sourced by the CI step scripts (ci-arm64.sh, ci-old-glibc.sh, ci-node-versions.sh), not run.
#
# ci_skip NAME REQUIRED_VAR REASON...: a step that cannot run on this machine says
# "NAME: SKIPPED: REASON" and exits 0; with $REQUIRED_VAR=1 it fails instead, ending with the
# "0 passed, 1 failed" line that .ci/run counts.
ci_skip() {
  local name=$1 var=$2
  shift 2
  if [ "${!var:-0}" = 1 ]; then
    echo "$name: FAILED ($var=1): $*"
    echo "0 passed, 1 failed"
    exit 1
  fi
  echo "$name: SKIPPED: $*"
  exit 0
}
