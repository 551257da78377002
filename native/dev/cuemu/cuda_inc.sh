# Sourced by build.sh and build_addon.sh: cuda_inc prints the first CUDA 12+ include folder of
# CUDA_INC, CUDA_HOME/include, /usr/local/cuda/include, then the first nvcc's toolkit; never
# /usr/include (Debian's CUDA 11.8 packages put theirs there, and -isystem it breaks libc++'s
# include order). Returns 1 when there is none.
cuda_inc() {
  local d v
  for d in ${CUDA_INC:-} ${CUDA_HOME:+$CUDA_HOME/include} /usr/local/cuda/include \
           "$(dirname "$(command -v nvcc 2> /dev/null || echo /nonexistent/bin/nvcc)")/../include"; do
    d=$(cd "$d" 2> /dev/null && pwd) || continue
    [ "$d" != /usr/include ] || continue
    v=$(sed -n 's/^#define CUDART_VERSION[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$d/cuda_runtime_api.h" 2> /dev/null)
    [ -n "$v" ] && [ "$v" -ge 12000 ] && { echo "$d"; return 0; }
  done
  return 1
}
