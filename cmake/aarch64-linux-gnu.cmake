# CMake toolchain for cross-compiling the CPU addon to linux-arm64 (glibc) on an x86-64 Debian/Ubuntu
# host with g++-aarch64-linux-gnu (scripts/setup-arm64-toolchain.sh installs it). Used by
# scripts/prebuild-cmake.js when prebuildify is run with --arch arm64 (npm run prebuildify:arm64).
# Override the triplet's prefix with -DSQEX_CROSS_PREFIX=… (e.g. a versioned aarch64-linux-gnu-g++-12).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(SQEX_CROSS_TRIPLE aarch64-linux-gnu)
# The prefix default, the target's glibc and libstdc++ under /usr/aarch64-linux-gnu as the find
# root, no CUDA (nvcc on this host targets x86-64 only).
include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
set(CMAKE_C_COMPILER ${SQEX_CROSS_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${SQEX_CROSS_PREFIX}g++)
set(CMAKE_STRIP ${SQEX_CROSS_PREFIX}strip)
