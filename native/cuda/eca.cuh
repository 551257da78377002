// ECA excitation used by the fused kernel (fused.cuh): a k-tap 1-D conv over the channel
// means, zero padded, no bias; and the halo means that let a channel tile skip the sample barrier
// (eca_halo.cuh).
#pragma once
#include "common.cuh"
#include "pool.cuh"

namespace sqex {
namespace cuda {

// The first and last non-finite of ECA's k taps: {k, -1} when all are finite. Whole block, the
// same in every thread; scr: 2 * kWarps ints of free shared memory (written only when a tap is
// not finite). Taken once per block and launch, by the WIDE kernels only.
__device__ __forceinline__ int2 eca_nonfinite_taps(const float* w, int k, int* scr) {
  int lo = k, hi = -1;
  for (int i = threadIdx.x; i < k; i += kThreads)
    if (!isfinite(__ldg(w + i))) {
      lo = min(lo, i);
      hi = i;
    }
  if (__syncthreads_or(hi >= 0)) block_min_max(lo, hi, scr);
  return make_int2(lo, hi);
}

// z_sm must hold the (fp64) means of channels [c0 - pad, c1 + pad) clipped to [0, C).
// WIDE (k > kAllTapsK): nf is eca_nonfinite_taps of the weights.
template <bool WIDE = false>
__device__ __forceinline__ void eca_gates(const FusedArgs& a, int n, int64_t c0, int64_t c1,
                                          const double* z_sm, float* s_sm, bool to_sbuf,
                                          bool to_scale_out, int2 nf = int2{0, 0}) {
  const int k = a.eca_k, pad = (k - 1) / 2;
  const int64_t cb = static_cast<int64_t>(n) * a.C;
  for (int64_t c = c0 + threadIdx.x; c < c1; c += kThreads) {
    double v = 0.0;
    if constexpr (!WIDE) {
      for (int t = 0; t < k; ++t) {
        // the zero padding is an operand: w * 0 is NaN for a NaN/Inf tap (torch's conv1d)
        const int64_t cc = c + t - pad;
        v = fma(double(__ldg(a.aux + t)), (cc >= 0 && cc < a.C) ? z_sm[cc] : 0.0, v);
      }
    } else {
      // Taps [j0, j1) land on channels [0, C); j0 <= pad < j1. A padding tap with a finite w
      // adds w * 0 = +-0, which leaves v unchanged (v starts at +0 and is never -0 under
      // round-to-nearest), so the sum over [j0, j1) in the same order has the full loop's bits.
      // A NaN/Inf padding tap makes it NaN (w * 0): added for the first non-finite tap before
      // the taps on channels (nf.x < j0), and for the last after them (nf.y >= j1). On the GPU
      // every NaN is the canonical one; on x86 (the emulator, native/dev/cuemu) an FMA returns
      // its NaN multiplicand over a NaN addend, so the full loop's NaN bits are those of the
      // last NaN it multiplied, which this reproduces unless the padding holds NaN and Inf taps
      // both (NOTES-cuda.md, "Wide ECA / CBAM kernels on the GPU").
      const int j0 = c < pad ? static_cast<int>(pad - c) : 0;
      const int64_t e = a.C + pad - c;
      const int j1 = e < k ? static_cast<int>(e) : k;
      if (nf.x < j0) v = fma(double(__ldg(a.aux + nf.x)), 0.0, v);
      const int64_t cp = c - pad;
      for (int t = j0; t < j1; ++t) v = fma(double(__ldg(a.aux + t)), z_sm[cp + t], v);
      if (nf.y >= j1) v = fma(double(__ldg(a.aux + nf.y)), 0.0, v);
    }
    const float s = gate_f(static_cast<float>(v), a.gate);
    s_sm[c] = s;
    if (to_sbuf) __stcg(a.sbuf + cb + c, s);
    if (to_scale_out) a.scale_out[cb + c] = s;
  }
}

// ECA without barriers (eca_halo_kernel, chosen by launch_fused's planner; channel tiles: NCHW,
// or NHWC ct; the planner keeps 2 * pad <= upt): the tile [u0, u1) pools its halo channels
// [c0, u0) and [u1, c1) itself, from global memory, into z_sm, by the reduction the tile owning
// each channel uses (pool_nchw, pool_ct), so that every mean has the bits the owner computes.
// dred: >= 1.5 * kThreads doubles, free. Runs while the tile's own cp.async copy is in flight;
// ends with a __syncthreads.
template <typename T, bool NHWC>
__device__ __forceinline__ void eca_halo_means(const FusedArgs& a, const T* xn, int64_t c0, int64_t u0,
                                               int64_t u1, int64_t c1, double* z_sm, double* dred) {
  const int tid = threadIdx.x, HW = a.HW;
  const int nl = static_cast<int>(u0 - c0), nr = static_cast<int>(c1 - u1);
  if constexpr (!NHWC) {
    // a channel's reduction depends only on HW and its address mod 16 (warp_channel_pool)
    const int lane = tid & 31, warp = tid >> 5;
    const bool by_warp = HW >= 64;
    for (int h = by_warp ? warp : tid; h < nl + nr; h += by_warp ? kWarps : kThreads) {
      const int64_t c = h < nl ? c0 + h : u1 + (h - nl);
      double sum;
      float mx;
      if (by_warp) warp_channel_pool<false>(xn + c * HW, HW, lane, sum, mx);
      else thread_channel_pool<false>(xn + c * HW, HW, sum, mx);
      if (!by_warp || lane == 0) z_sm[c] = sum / HW;
    }
  } else {
    // pool_ct's position groups for the owning tile's width: the left neighbour is a whole tile,
    // the right one may be the ragged last. Group sums of one channel go to dred, then are added
    // in group order; at most kThreads / 2 (left: pad <= upt / 2) + kThreads (right: nr <= wr) of
    // them. Consecutive threads take consecutive channels of one position group, so a warp's loads
    // of one position share sectors.
    constexpr int R = pool_run<T>();
    const int wl = a.upt, wr = nr > 0 ? static_cast<int>(min(static_cast<int64_t>(a.upt), a.C - u1)) : 1;
    const int gl = wl < kThreads ? kThreads / wl : 1, gr = wr < kThreads ? kThreads / wr : 1;
    const int il = nl * gl, dr0 = gl > 1 ? il : 0;
    for (int i = tid; i < il + nr * gr; i += kThreads) {
      const bool left = i < il;
      const int G = left ? gl : gr, k = left ? i : i - il, ns = left ? nl : nr;
      const int g = k / ns, h = k - g * ns;
      const int64_t c = left ? c0 + h : u1 + h;
      double sum = 0.0;
      for (int p0 = g; p0 < HW; p0 += R * G) {  // fp32 runs (pool_run), fp64 across runs
        const int pe = p0 + R * G < HW ? p0 + R * G : HW;
        float run = 0.f;
        for (int p = p0; p < pe; p += G) run += to_f(xn[static_cast<int64_t>(p) * a.C + c]);
        sum += run;
      }
      if (G == 1) z_sm[c] = sum / HW;
      else dred[(left ? 0 : dr0) + h * G + g] = sum;
    }
    __syncthreads();
    for (int h = tid; h < nl + nr; h += kThreads) {
      const bool left = h < nl;
      const int G = left ? gl : gr;
      if (G == 1) continue;
      const int base = left ? h * gl : dr0 + (h - nl) * gr;
      double s2 = 0.0;
      for (int g = 0; g < G; ++g) s2 += dred[base + g];
      z_sm[left ? c0 + h : u1 + (h - nl)] = s2 / HW;
    }
  }
  __syncthreads();
}

}  // namespace cuda
}  // namespace sqex
