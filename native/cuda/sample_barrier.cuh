// The per-sample barrier of the persistent kernels: the blocks that hold a sample's tiles wait
// for each other between phases (fused.cuh, cbam.cuh, cbam_pt.cuh).
#pragma once
#include <cuda_runtime.h>

namespace sqex {
namespace cuda {

// ---- per-sample barrier among the blocks that hold a sample's tiles -----------------------
// One monotonically increasing counter per sample: phase k is complete when it reaches k*T.
// Writers __syncthreads, then one thread fences and increments; the waiter polls with an
// acquire load and releases its block with __syncthreads. Data exchanged through these
// phases is read with __ldcg (L2), never through the incoherent L1.
__device__ __forceinline__ unsigned ld_acquire_u32(const unsigned* p) {
#if defined(SQEX_CUEMU)
  return cuemu_ld_acquire_u32(p);
#else
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
  return v;
#endif
}
__device__ __forceinline__ void sample_arrive(unsigned* cnt) {
  __syncthreads();
  if (threadIdx.x == 0) {
    // release at gpu scope: the block's writes (ordered before by the barrier) become visible
    // to any block that acquires the new count
#if defined(SQEX_CUEMU)
    cuemu_red_release_add_u32(cnt, 1u);
#else
    asm volatile("red.release.gpu.global.add.u32 [%0], 1;\n" ::"l"(cnt) : "memory");
#endif
  }
}
// A wait that lasts seconds means the co-residency assumption broke (e.g. several concurrent
// streams each running this kernel on huge samples): trap, so the caller gets an error instead
// of a hang.
__device__ __forceinline__ void sample_wait(const unsigned* cnt, unsigned target) {
  if (threadIdx.x == 0) {
    if (ld_acquire_u32(cnt) < target) {
      const long long t0 = clock64();
      while (ld_acquire_u32(cnt) < target) {
        if (clock64() - t0 > (1ll << 33)) __trap();  // ~4 s at 2 GHz
      }
    }
  }
  __syncthreads();
}
__device__ __forceinline__ void sample_sync(unsigned* cnt, int& phase, int tiles) {
  sample_arrive(cnt);
  ++phase;
  sample_wait(cnt, static_cast<unsigned>(phase) * static_cast<unsigned>(tiles));
}
// Last departure of a sample resets its counter for the next launch on this workspace.
__device__ __forceinline__ void sample_depart(unsigned* cnt, int phase, int tiles) {
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned last = static_cast<unsigned>(phase + 1) * static_cast<unsigned>(tiles) - 1u;
    if (atomicAdd(cnt, 1u) == last) atomicExch(cnt, 0u);
  }
}

}  // namespace cuda
}  // namespace sqex
