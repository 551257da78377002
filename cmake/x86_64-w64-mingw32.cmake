# CMake toolchain for cross-compiling the CPU addon to win32-x64 on an x86-64 Debian/Ubuntu host
# with mingw-w64 (scripts/setup-win32-toolchain.sh installs it). Used by scripts/prebuild-cmake.js
# when prebuildify runs with --platform win32 (npm run prebuildify:win32). The -posix compilers:
# the sources use std::thread and std::mutex, which the -win32 threading model lacks in GCC 12.
# Override the prefix with -DSQEX_CROSS_PREFIX=… (e.g. another mingw-w64 triplet's).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)

set(SQEX_CROSS_TRIPLE x86_64-w64-mingw32)
# The prefix default, /usr/<triple> as the find root, no CUDA (nvcc on Windows needs MSVC as its
# host compiler).
include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
set(CMAKE_C_COMPILER ${SQEX_CROSS_PREFIX}gcc-posix)
set(CMAKE_CXX_COMPILER ${SQEX_CROSS_PREFIX}g++-posix)
set(CMAKE_RC_COMPILER ${SQEX_CROSS_PREFIX}windres)
set(CMAKE_STRIP ${SQEX_CROSS_PREFIX}strip)
set(CMAKE_DLLTOOL ${SQEX_CROSS_PREFIX}dlltool)
