// Device helpers shared by the SE, ECA and CBAM kernels: storage-type conversion, 16-byte
// vector access, activation/gate functions, the per-sample inter-block barrier, and the
// host-side error macro. Storage is float/half/bf16; all arithmetic is fp32.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "sqex/params.h"

namespace sqex {
namespace cuda {

constexpr int kThreads = 256;  // every fused kernel runs 256-thread blocks, up to 4 per SM
constexpr int kWarps = kThreads / 32;
constexpr int kMinBlocks = 4;  // __launch_bounds__ minimum: caps registers at 64
constexpr int kHalo = 2048;    // CBAM: floats of shared memory for map rows around a conv

// ---- storage <-> fp32 -------------------------------------------------------------------
__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// A 16-byte vector of storage elements, unpacked to / packed from fp32.
template <typename T> struct Vec {
  static constexpr int kN = 16 / sizeof(T);
  union {
    uint4 raw;
    T e[kN];
  };
  __device__ __forceinline__ void unpack(float* f) const {
#pragma unroll
    for (int i = 0; i < kN; ++i) f[i] = to_f(e[i]);
  }
  __device__ __forceinline__ void pack(const float* f) {
#pragma unroll
    for (int i = 0; i < kN; ++i) e[i] = from_f<T>(f[i]);
  }
};

// ---- activations and gates (fp32) -------------------------------------------------------
// expf, not __expf: __expf's argument scaling loses ~|v| * 2^-24 relative accuracy, which shows
// at |v| ~ 100 (seen: 1.3e-5 at |x| ~ 1e4). 1/(1+inf) = 0, so saturated gates stay finite.
__device__ __forceinline__ float sigmoidf_(float v) { return 1.f / (1.f + expf(-v)); }
__device__ __forceinline__ float act_f(float v, int act) {
  return act == static_cast<int>(Act::ReLU) ? fmaxf(v, 0.f) : v * sigmoidf_(v);
}
__device__ __forceinline__ float gate_f(float v, int gate) {
  return gate == static_cast<int>(Gate::Sigmoid) ? sigmoidf_(v)
                                                  : fminf(fmaxf(v + 3.f, 0.f), 6.f) * (1.f / 6.f);
}

// ---- warp reductions in a fixed (butterfly) order: deterministic -------------------------
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// ---- cp.async (global -> shared, 16 bytes, bypassing registers) ---------------------------
__device__ __forceinline__ void cp_async16(void* smem_dst, const void* gmem_src) {
  unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem_dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem_src) : "memory");
}
__device__ __forceinline__ void cp_async_wait_all() {
  asm volatile("cp.async.wait_all;\n" ::: "memory");
}

// ---- per-sample barrier among the blocks that hold a sample's tiles -----------------------
// One monotonically increasing counter per sample: phase k is complete when it reaches k*T.
// Writers __syncthreads, then one thread fences and increments; the waiter polls with an
// acquire load and releases its block with __syncthreads. Data exchanged through these
// phases is read with __ldcg (L2), never through the incoherent L1.
__device__ __forceinline__ unsigned ld_acquire_u32(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ void sample_arrive(unsigned* cnt) {
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    atomicAdd(cnt, 1u);
  }
}
__device__ __forceinline__ void sample_wait(const unsigned* cnt, unsigned target) {
  if (threadIdx.x == 0) {
    while (ld_acquire_u32(cnt) < target) __nanosleep(20);
    __threadfence();
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

// Even split of [0, total) into `parts`; part `i` is [lo, hi).
__host__ __device__ __forceinline__ void split_range(int64_t total, int64_t parts, int64_t i,
                                                     int64_t& lo, int64_t& hi) {
  lo = total * i / parts;
  hi = total * (i + 1) / parts;
}

// Dot products of rows [r0, r1) of a row-major fp32 global matrix (row length len) with one or
// two fp32 shared-memory vectors. Rows go to groups of G lanes (G = a power of two covering
// len/4 float4s, at most 32), R rows per group in flight; each group reduces with a fixed
// butterfly, so results are deterministic. emit(row, dot1, dot2) runs on the group's lane 0.
template <bool V4, typename F>
__device__ __forceinline__ void rows_dot_impl(const float* __restrict__ W, int64_t r0, int64_t r1,
                                              int len, const float* v1, const float* v2, F&& emit) {
  constexpr int R = 4;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int units = V4 ? (len + 3) / 4 : len;
  int G = 1;
  while (G < 32 && G < units) G <<= 1;
  const int per_warp = 32 / G;
  const int sub = lane / G, sl = lane - sub * G;
  const int64_t ngroups = int64_t(kWarps) * per_warp;
  for (int64_t base0 = r0 + int64_t(warp) * per_warp; base0 < r1; base0 += R * ngroups) {
    float a1[R], a2[R];
#pragma unroll
    for (int rr = 0; rr < R; ++rr) {
      a1[rr] = 0.f;
      a2[rr] = 0.f;
      const int64_t row = base0 + sub + rr * ngroups;
      if (row < r1) {
        if constexpr (V4) {
          const float4* w4 = reinterpret_cast<const float4*>(W + row * len);
          const float4* x4 = reinterpret_cast<const float4*>(v1);
          const float4* y4 = reinterpret_cast<const float4*>(v2);
          for (int i = sl; i < units; i += G) {
            const float4 w = __ldg(w4 + i);
            const float4 x = x4[i];
            a1[rr] = fmaf(w.x, x.x, fmaf(w.y, x.y, fmaf(w.z, x.z, fmaf(w.w, x.w, a1[rr]))));
            if (v2) {
              const float4 y = y4[i];
              a2[rr] = fmaf(w.x, y.x, fmaf(w.y, y.y, fmaf(w.z, y.z, fmaf(w.w, y.w, a2[rr]))));
            }
          }
        } else {
          const float* w = W + row * len;
          for (int i = sl; i < units; i += G) {
            const float wv = __ldg(w + i);
            a1[rr] = fmaf(wv, v1[i], a1[rr]);
            if (v2) a2[rr] = fmaf(wv, v2[i], a2[rr]);
          }
        }
      }
    }
#pragma unroll
    for (int rr = 0; rr < R; ++rr) {
      for (int o = G >> 1; o > 0; o >>= 1) {
        a1[rr] += __shfl_xor_sync(0xffffffffu, a1[rr], o);
        if (v2) a2[rr] += __shfl_xor_sync(0xffffffffu, a2[rr], o);
      }
      const int64_t row = base0 + sub + rr * ngroups;
      if (sl == 0 && row < r1) emit(row, a1[rr], a2[rr]);
    }
  }
}
template <typename F>
__device__ __forceinline__ void rows_dot(const float* __restrict__ W, int64_t r0, int64_t r1, int len,
                                         const float* v1, const float* v2, F&& emit) {
  if ((len & 3) == 0 && (reinterpret_cast<uintptr_t>(W) & 15) == 0)
    rows_dot_impl<true>(W, r0, r1, len, v1, v2, emit);
  else
    rows_dot_impl<false>(W, r0, r1, len, v1, v2, emit);
}

// Sum (and max) of count values p[t * stride], t ascending, loads batched 8 deep (L2 latency).
template <bool kMax>
__device__ __forceinline__ void ordered_reduce(const float* p, const float* pm, int64_t stride,
                                               int count, float& sum, float& mx) {
  sum = 0.f;
  mx = -INFINITY;
  int t = 0;
  for (; t + 8 <= count; t += 8) {
    float v[8], m[8];
#pragma unroll
    for (int u = 0; u < 8; ++u) {
      v[u] = __ldcg(p + (t + u) * stride);
      if (kMax) m[u] = __ldcg(pm + (t + u) * stride);
    }
#pragma unroll
    for (int u = 0; u < 8; ++u) {
      sum += v[u];
      if (kMax) mx = fmaxf(mx, m[u]);
    }
  }
  for (; t < count; ++t) {
    sum += __ldcg(p + t * stride);
    if (kMax) mx = fmaxf(mx, __ldcg(pm + t * stride));
  }
}

}  // namespace cuda
}  // namespace sqex
