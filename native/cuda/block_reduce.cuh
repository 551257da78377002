// Block-wide reductions over rows: the even split of a range into parts, FC row dots
// (block_rows_dot) and strided sums/maxes (block_strided_reduce), deterministic for a given
// launch configuration.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "common.cuh"

namespace sqex {
namespace cuda {

// Even split of [0, total) into `parts`; part `i` is [lo, hi).
__host__ __device__ __forceinline__ void split_range(int64_t total, int64_t parts, int64_t i,
                                                     int64_t& lo, int64_t& hi) {
  lo = total * i / parts;
  hi = total * (i + 1) / parts;
}

// Threads per row of a block-wide row-dot pass: the largest power of two with
// TPR * min(rows, kThreads) <= kThreads, halved while half of it still covers the row's units.
__device__ __forceinline__ int rows_dot_tpr(int64_t nrows, int units) {
  const int want_rows = nrows < kThreads ? static_cast<int>(nrows) : kThreads;
  int TPR = kThreads;
  while (TPR > 1 && TPR / 2 * want_rows >= kThreads) TPR >>= 1;  // TPR * want_rows <= kThreads
  while (TPR * want_rows > kThreads) TPR >>= 1;
  while (TPR > 1 && TPR / 2 >= units) TPR >>= 1;
  return TPR;
}

// Block-wide version for all threads of the block: TPR threads per row (a power of two sized
// so that one pass covers min(rows, kThreads/TPR) rows and TPR <= the row's float4 count),
// partials combined by shuffles and, beyond a warp, in shared memory in warp order.
// Deterministic for a given launch configuration. scratch: 2 * kWarps doubles. The vectors are
// fp64 (means and hidden layer stay fp64 end to end, 16-byte aligned); emit gets fp64 dots.
// v2 may instead be fp32 (V2 = float: CBAM's channel maxes, exact in fp32): each element is
// converted to double (exactly) in the same FMA, so the dots are the same as from a fp64 copy.
template <bool V4, int UNR, typename V2, typename F>
__device__ __forceinline__ void block_rows_dot_impl(const float* __restrict__ W, int64_t r0, int64_t r1,
                                                    int len, const double* v1, const V2* v2,
                                                    double* scratch, F&& emit) {
  static_assert(std::is_same<V2, double>::value || std::is_same<V2, float>::value, "fp64 or fp32 v2");
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t nrows = r1 - r0;
  const int units = V4 ? len / 4 : len;
  const int TPR = rows_dot_tpr(nrows, units);
  const int RP = kThreads / TPR;
  const int tr = tid / TPR, tk = tid - tr * TPR;
  for (int64_t base = r0; base < r1; base += RP) {
    const int64_t row = base + tr;
    const bool valid = row < r1;
    double a1 = 0.0, a2 = 0.0;
    if (valid) {
      if constexpr (V4) {
        const float4* w4 = reinterpret_cast<const float4*>(W + row * len);
        const double2* x2 = reinterpret_cast<const double2*>(v1);
#pragma unroll UNR
        for (int i = tk; i < units; i += TPR) {
          const float4 w = __ldg(w4 + i);
          const double2 xa = x2[2 * i], xb = x2[2 * i + 1];
          a1 = fma(double(w.x), xa.x, fma(double(w.y), xa.y,
               fma(double(w.z), xb.x, fma(double(w.w), xb.y, a1))));
          if (v2) {
            if constexpr (std::is_same<V2, float>::value) {
              const float4 y = reinterpret_cast<const float4*>(v2)[i];
              a2 = fma(double(w.x), double(y.x), fma(double(w.y), double(y.y),
                   fma(double(w.z), double(y.z), fma(double(w.w), double(y.w), a2))));
            } else {
              const double2* y2 = reinterpret_cast<const double2*>(v2);
              const double2 ya = y2[2 * i], yb = y2[2 * i + 1];
              a2 = fma(double(w.x), ya.x, fma(double(w.y), ya.y,
                   fma(double(w.z), yb.x, fma(double(w.w), yb.y, a2))));
            }
          }
        }
      } else {
        const float* w = W + row * len;
#pragma unroll 4
        for (int i = tk; i < units; i += TPR) {
          const float wv = __ldg(w + i);
          a1 = fma(double(wv), v1[i], a1);
          if (v2) a2 = fma(double(wv), double(v2[i]), a2);
        }
      }
    }
    const int span = TPR < 32 ? TPR : 32;
    for (int o = span >> 1; o > 0; o >>= 1) {
      a1 += __shfl_xor_sync(0xffffffffu, a1, o);
      if (v2) a2 += __shfl_xor_sync(0xffffffffu, a2, o);
    }
    if (TPR > 32) {
      if (lane == 0) {
        scratch[warp] = a1;
        scratch[kWarps + warp] = a2;
      }
      __syncthreads();
      if (tk == 0) {
        const int w0 = warp, nw = TPR / 32;
        a1 = 0.0;
        a2 = 0.0;
        for (int w = 0; w < nw; ++w) {
          a1 += scratch[w0 + w];
          a2 += scratch[kWarps + w0 + w];
        }
      }
      __syncthreads();
    }
    if (tk == 0 && valid) emit(row, a1, a2);
  }
}
// UNR: unroll of the float4 loop; a register-pressure knob per kernel (SE NCHW spills at 4
// with fp64 vectors, SE NHWC and CBAM spill less at 4 than at 2). Same sums either way.
// v2: const double* or const float* (a typed null pointer when absent).
template <int UNR = 4, typename V2, typename F>
__device__ __forceinline__ void block_rows_dot(const float* __restrict__ W, int64_t r0, int64_t r1, int len,
                                               const double* v1, const V2* v2, double* scratch, F&& emit) {
  if (r1 <= r0) return;
  if ((len & 3) == 0 && (reinterpret_cast<uintptr_t>(W) & 15) == 0)
    block_rows_dot_impl<true, UNR, V2>(W, r0, r1, len, v1, v2, scratch, emit);
  else
    block_rows_dot_impl<false, UNR, V2>(W, r0, r1, len, v1, v2, scratch, emit);
}

// For items i in [i0, i1): sum (and max) over t < count of p[i + t * stride], the whole block
// cooperating (TPI threads per item, t strided over them), combined by fixed shuffles and, past
// a warp, in shared memory in warp order: deterministic for a given configuration. The sums p
// are fp32 (CBAM position partials) or fp64 (NHWC channel partials).
// dscr: kWarps doubles, mscr: kWarps floats. emit(i, sum, max) on one thread per item.
template <bool kMax, typename S, typename F>
__device__ __forceinline__ void block_strided_reduce(const S* p, const float* pm, int64_t stride,
                                                     int count, int64_t i0, int64_t i1, double* dscr,
                                                     float* mscr, F&& emit) {
  if (i1 <= i0) return;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t nitems = i1 - i0;
  const int want = nitems < kThreads ? static_cast<int>(nitems) : kThreads;
  int TPI = kThreads;
  while (TPI > 1 && TPI * want > kThreads) TPI >>= 1;
  while (TPI > 1 && TPI / 2 >= count) TPI >>= 1;
  const int IP = kThreads / TPI;
  const int ti = tid / TPI, tk = tid - ti * TPI;
  for (int64_t base = i0; base < i1; base += IP) {
    const int64_t i = base + ti;
    const bool valid = i < i1;
    double s = 0.0;
    float m = -INFINITY;
    if (valid) {
#pragma unroll 4
      for (int t = tk; t < count; t += TPI) {
        s += __ldcg(p + i + t * stride);
        if (kMax) m = max_nan(m, __ldcg(pm + i + t * stride));
      }
    }
    const int span = TPI < 32 ? TPI : 32;
    for (int o = span >> 1; o > 0; o >>= 1) {
      s += __shfl_xor_sync(0xffffffffu, s, o);
      if (kMax) m = max_nan(m, __shfl_xor_sync(0xffffffffu, m, o));
    }
    if (TPI > 32) {
      if (lane == 0) {
        dscr[warp] = s;
        mscr[warp] = m;
      }
      __syncthreads();
      if (tk == 0) {
        s = 0.0;
        m = -INFINITY;
        for (int w = 0; w < TPI / 32; ++w) {
          s += dscr[warp + w];
          m = max_nan(m, mscr[warp + w]);
        }
      }
      __syncthreads();
    }
    if (tk == 0 && valid) emit(i, s, m);
  }
}

}  // namespace cuda
}  // namespace sqex
