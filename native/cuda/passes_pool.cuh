// Pass 1 of the passes (two_pass.cuh): per-channel partial sums (CBAM: and maxes) of chunks of
// positions into part[n][k][c] (fp64) and pmax; NHWC two_pass_pool (a block a chunk and channel
// slice), NCHW passes_pool_nchw (a warp a chunk of a channel plane).
#pragma once
#include "fused_args.cuh"
#include "pool.cuh"

namespace sqex {
namespace cuda {

// acc[e] += element e of vector column v (channels v * VE ...) over positions first, first + G, ...
// below end: fp32 runs of pool_run<T>() positions, fp64 across runs; kMax (CBAM): also
// mx[e] = max_nan(mx[e], that element).
template <typename T, bool kMax = false>
__device__ __forceinline__ void sum_column(const T* xn, int C, int v, int first, int end, int G,
                                           double* acc, float* mx = nullptr) {
  constexpr int VE = Vec<T>::kN;
  constexpr int R = pool_run<T>();
  for (int q0 = first; q0 < end; q0 += R * G) {
    const int qe = q0 + R * G < end ? q0 + R * G : end;
    float run[VE];
#pragma unroll
    for (int e = 0; e < VE; ++e) run[e] = 0.f;
#pragma unroll 4
    for (int q = q0; q < qe; q += G) {
      Vec<T> vx;
      vx.raw = *reinterpret_cast<const uint4*>(xn + static_cast<int64_t>(q) * C + v * VE);
      float f[VE];
      vx.unpack(f);
      if constexpr (kMax) {
#pragma unroll
        for (int e = 0; e < VE; ++e) mx[e] = max_nan(mx[e], f[e]);
      }
      if constexpr (R == 1) {
#pragma unroll
        for (int e = 0; e < VE; ++e) acc[e] += f[e];
      } else {
#pragma unroll
        for (int e = 0; e < VE; ++e) run[e] += f[e];
      }
    }
    if constexpr (R != 1) {
#pragma unroll
      for (int e = 0; e < VE; ++e) acc[e] += run[e];
    }
  }
}

// Pass 1. Item i = (n * K + k) * S + sl sums positions [k * ppb, min(HW, (k + 1) * ppb)) of sample
// n over channel slice sl, channels [sl * cw, min(C, (sl + 1) * cw)), into part[(n * K + k) * C +
// c]; items in increasing order, so samples are pooled first to last. With vps = (the slice's
// channels) / VE vectors a position, a thread owns one vector column of one position group (G =
// kThreads / vps groups stride over the positions) when vps <= kThreads, else columns tid, tid +
// kThreads, ... over all the chunk's positions. Sums as the fused kernel's pool_nhwc: fp32 runs of
// pool_run<T>() positions, fp64 across runs, the groups combined in group order. kMax (CBAM):
// the maxes too, into pmax[(n * K + k) * C + c].
template <typename T, bool kMax = false>
__global__ void __launch_bounds__(kThreads) two_pass_pool(const FusedArgs a, int K, int ppb, int S, int cw) {
  passes_begin();
  constexpr int VE = Vec<T>::kN;
  __shared__ double dred[kThreads * VE];
  __shared__ float mred[kMax ? kThreads * VE : 1];
  const int tid = threadIdx.x, C = a.C;
  const int64_t items = static_cast<int64_t>(a.N) * K * S;
  for (int64_t i = blockIdx.x; i < items; i += gridDim.x) {
    const int64_t nk = i / S;
    const int sl = static_cast<int>(i - nk * S);
    const int64_t n = nk / K;
    const int k = static_cast<int>(nk - n * K);
    const int p0 = k * ppb, p1 = min(a.HW, p0 + ppb);
    const int c0 = sl * cw, cn = min(cw, C - c0), vps = cn / VE;
    const T* xs = static_cast<const T*>(a.x) + n * static_cast<int64_t>(C) * a.HW + c0;
    double* prow = a.part + nk * C + c0;
    float* mrow = kMax ? a.pmax + nk * C + c0 : nullptr;
    if (vps <= kThreads) {
      const int G = kThreads / vps;
      double acc[VE];
      float mx[VE];
#pragma unroll
      for (int e = 0; e < VE; ++e) {
        acc[e] = 0.0;
        mx[e] = -INFINITY;
      }
      if (tid < G * vps) {
        const int g = tid / vps, v = tid - g * vps;
        sum_column<T, kMax>(xs, C, v, p0 + g, p1, G, acc, mx);
      }
      __syncthreads();  // the previous item's reads of dred are done
#pragma unroll
      for (int e = 0; e < VE; ++e) {
        dred[tid * VE + e] = acc[e];  // = dred[g * cn + v * VE + e]
        if constexpr (kMax) mred[tid * VE + e] = mx[e];
      }
      __syncthreads();
      for (int c = tid; c < cn; c += kThreads) {
        double sum = 0.0;
        float m = -INFINITY;
        for (int g = 0; g < G; ++g) {
          sum += dred[g * cn + c];
          if constexpr (kMax) m = max_nan(m, mred[g * cn + c]);
        }
        __stcg(prow + c, sum);
        if constexpr (kMax) __stcg(mrow + c, m);
      }
    } else {
      for (int v = tid; v < vps; v += kThreads) {
        double acc[VE];
        float mx[VE];
#pragma unroll
        for (int e = 0; e < VE; ++e) {
          acc[e] = 0.0;
          mx[e] = -INFINITY;
        }
        sum_column<T, kMax>(xs, C, v, p0, p1, 1, acc, mx);
#pragma unroll
        for (int e = 0; e < VE; ++e) {
          __stcg(prow + v * VE + e, acc[e]);
          if constexpr (kMax) __stcg(mrow + v * VE + e, mx[e]);
        }
      }
    }
  }
}

// NCHW (SE and CBAM): chunks of each channel plane, pooled as the fused kernel's NCHW tiles pool a
// channel, into part (and CBAM's pmax).

// Pass 1 (NCHW). Item q = (n * C + c) * K + k: chunk k of channel plane (n, c), positions
// [k * ppk, min(HW, (k + 1) * ppk)), by one warp (H*W >= 64; ppk a multiple of VE, so every chunk
// starts 16-byte aligned where H*W is whole vectors, and at least 64 positions) or one thread (H*W < 64, K = 1), as the fused
// kernel pools a channel (warp_channel_pool / thread_channel_pool: with K = 1 its bits), its sum
// into part[n][k][c] and (kMax, CBAM) its max into pmax. K > 1 where the planes alone are too few
// warps for the GPU (batch 1, small C, large maps).
template <typename T, bool kMax>
__global__ void __launch_bounds__(kThreads) passes_pool_nchw(const FusedArgs a, int K, int ppk) {
  passes_begin();
  const int64_t items = static_cast<int64_t>(a.N) * a.C * K;
  const int HW = a.HW;
  const T* x = static_cast<const T*>(a.x);
  double sum;
  float mx;
  if (HW >= 64) {
    const int lane = threadIdx.x & 31;  // q is the same in the whole warp (its shuffles)
    for (int64_t q = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5); q < items;
         q += static_cast<int64_t>(gridDim.x) * kWarps) {
      const int64_t plane = q / K;
      const int k = static_cast<int>(q - plane * K);
      const int p0 = k * ppk, len = min(ppk, HW - p0);
      warp_channel_pool<kMax>(x + plane * HW + p0, len, lane, sum, mx);
      if (lane == 0) {
        const int64_t n = plane / a.C;
        const int64_t o = (n * K + k) * a.C + (plane - n * a.C);  // part[n][k][c]
        __stcg(a.part + o, sum);
        if constexpr (kMax) __stcg(a.pmax + o, mx);
      }
    }
  } else {
    for (int64_t q = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; q < items;
         q += static_cast<int64_t>(gridDim.x) * kThreads) {
      thread_channel_pool<kMax>(x + q * HW, HW, sum, mx);  // (K = 1: item q is plane q)
      __stcg(a.part + q, sum);
      if constexpr (kMax) __stcg(a.pmax + q, mx);
    }
  }
}

}  // namespace cuda
}  // namespace sqex
