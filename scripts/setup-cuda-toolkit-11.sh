#!/usr/bin/env bash
# Installs what the second linux-x64 CUDA build (scripts/prebuild-cuda11.js, run by
# `npm run prebuildify`) needs: the CUDA 11.8 toolkit (nvcc 11.8 and its static cudart) and GCC 11,
# because nvcc 11.8 accepts host compilers up to GCC 11 only.
#
# Debian 12 (bookworm): both come from Debian's own archive. nvidia-cuda-toolkit (11.8.89) is in
# the non-free component, so this adds contrib + non-free for the suites the machine already uses
# (a new file, /etc/apt/sources.list.d/squeeze-excite-cuda11.sources; the existing sources are not
# touched), then installs nvidia-cuda-toolkit and g++-11. About 1.6 GB to download, 5.5 GB on
# disk. nvcc lands in /usr/bin (the real one in /usr/lib/nvidia-cuda-toolkit/bin), its tools
# (ptxas, fatbinary, nvlink) in /usr/bin, libcudart_static.a in /usr/lib/x86_64-linux-gnu.
# The package also installs libcuda1 (the driver's user-space library, R535) as a dependency: on a
# machine without an NVIDIA kernel module CUDA builds then report "no CUDA-capable device" or "CUDA
# driver 12.2 is older than ..." instead of "no NVIDIA driver is installed".
#
# Elsewhere (Ubuntu's own nvidia-cuda-toolkit is 11.5 on 22.04, too old for sm_89/sm_90): install
# NVIDIA's 11.8 toolkit next to the newer one, then point the build at it:
#   sh cuda_11.8.0_520.61.05_linux.run --silent --toolkit --installpath=/usr/local/cuda-11.8
#   (or apt-get install cuda-nvcc-11-8 cuda-cudart-dev-11-8 from NVIDIA's apt repository)
#   SQEX_CUDA11_NVCC=/usr/local/cuda-11.8/bin/nvcc npm run prebuildify
# scripts/prebuild-cuda11.js finds /usr/local/cuda-11.8 by itself.
# Run as root (or with sudo). Idempotent.
set -euo pipefail

# shellcheck source=apt-ensure.sh
source "$(dirname "$0")/apt-ensure.sh"

. /etc/os-release
if [ "${ID:-}" != debian ] || [ "${VERSION_CODENAME:-}" != bookworm ]; then
  echo "setup-cuda-toolkit-11: this script installs from Debian 12's archive; this is ${PRETTY_NAME:-unknown}." >&2
  echo "  Install NVIDIA's CUDA 11.8 toolkit into /usr/local/cuda-11.8 and GCC <= 11 instead (see the comment at the top of $0)." >&2
  exit 1
fi

packages=(nvidia-cuda-toolkit g++-11)
apt_missing "${packages[@]}"

if [ ${#missing[@]} -gt 0 ]; then
  # The mirror and suites of the existing Debian source (deb822 debian.sources, or a one-line
  # sources.list), with contrib and non-free.
  list=/etc/apt/sources.list.d/squeeze-excite-cuda11.sources
  if ! apt-cache policy 2>/dev/null | grep -q "bookworm/non-free amd64"; then
    uri=http://deb.debian.org/debian
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      uri=$(awk '/^URIs:/ && !/security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    elif [ -f /etc/apt/sources.list ]; then
      uri=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list)
    fi
    echo "setup-cuda-toolkit-11: enabling contrib non-free from ${uri:-http://deb.debian.org/debian} in $list"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "${uri:-http://deb.debian.org/debian}" | "${sudo[@]}" tee "$list" >/dev/null
  fi
  apt_install "${missing[@]}"
fi

/usr/bin/nvcc --version | tail -2
g++-11 --version | head -1
ls -l /usr/lib/x86_64-linux-gnu/libcudart_static.a
