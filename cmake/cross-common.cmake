# The part the cross toolchain files share (included by cmake/x86_64-w64-mingw32.cmake and
# cmake/aarch64-linux-gnu.cmake after they set SQEX_CROSS_TRIPLE): the tools' default prefix, the
# target's libraries and headers under /usr/<triple> (where Debian's cross packages put them), and
# no CUDA (each including file says why).
if(NOT DEFINED SQEX_CROSS_PREFIX)
  set(SQEX_CROSS_PREFIX ${SQEX_CROSS_TRIPLE}-)
endif()

set(CMAKE_FIND_ROOT_PATH /usr/${SQEX_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(SQEX_CUDA OFF CACHE BOOL "" FORCE)
