// CBAM's last two passes (two_pass.cuh; its pass 1 is two_pass_pool<T, true> or
// passes_pool_nchw<T, true>, its pass 2 two_pass_excite<CBAM> or passes_fc): the spatial maps of
// x * s (cbam_passes_maps NHWC, cbam_passes_maps_nchw NCHW), then bands of positions computing
// their spatial gates and y = x * (s[c] * g[p]) (cbam_passes_scale, both layouts).
#pragma once
#include "apply.cuh"
#include "block_reduce.cuh"
#include "cbam.cuh"
#include "fused_args.cuh"
#include "pool.cuh"

namespace sqex {
namespace cuda {

// Pass 3 of CBAM. The spatial maps: for each position p of sample n, the mean and the max over
// channels of x * s[n][c], into map[n][0][p] and map[n][1][p]. L lanes a position (a power of two,
// at most 32 and at most C / VE), each over vectors lane, lane + L, ... in order (SumAcc: fp32
// runs of 16, fp64 across), then combined across the L lanes by xor shuffles (a fixed order).
// Positions of the last sample first: the pooling read them last, so they are the likeliest in L2.
template <typename T>
__global__ void __launch_bounds__(kThreads) cbam_passes_maps(const FusedArgs a, int L) {
  passes_begin();
  constexpr int VE = Vec<T>::kN;
  const int C = a.C, vpp = C / VE;
  const int G = kThreads / L, lane = threadIdx.x % L, grp = threadIdx.x / L;
  const int64_t HW = a.HW, total = static_cast<int64_t>(a.N) * HW;
  // i0 is the same in the whole block, so every lane of a warp reaches the shuffles together
  for (int64_t i0 = static_cast<int64_t>(blockIdx.x) * G; i0 < total; i0 += static_cast<int64_t>(gridDim.x) * G) {
    const int64_t i = i0 + grp;
    const bool valid = i < total;
    const int64_t m = valid ? i / HW : 0;
    const int64_t n = a.N - 1 - m, p = valid ? i - m * HW : 0;
    SumAcc sacc;
    float mx = -INFINITY;
    if (valid) {
      const T* xp = static_cast<const T*>(a.x) + (n * HW + p) * C;
      const float* sn = a.sbuf + n * C;
      for (int v = lane; v < vpp; v += L) {
        Vec<T> vx;
        vx.raw = *reinterpret_cast<const uint4*>(xp + v * VE);
        float f[VE];
        vx.unpack(f);
#pragma unroll
        for (int e = 0; e < VE; e += 4) {
          const float4 s4 = __ldg(reinterpret_cast<const float4*>(sn + v * VE + e));
          const float q[4] = {f[e] * s4.x, f[e + 1] * s4.y, f[e + 2] * s4.z, f[e + 3] * s4.w};
#pragma unroll
          for (int u = 0; u < 4; ++u) {
            sacc.add(q[u]);
            mx = max_nan(mx, q[u]);
          }
        }
      }
    }
    double sum = sacc.get();
    for (int o = L >> 1; o > 0; o >>= 1) {
      sum += __shfl_xor_sync(0xffffffffu, sum, o);
      mx = max_nan(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    }
    if (valid && lane == 0) {
      float* map_n = a.map + n * 2 * HW;
      __stcg(map_n + p, static_cast<float>(sum / C));
      __stcg(map_n + HW + p, mx);
    }
  }
}

// Pass 3 (NCHW). Item i: sample n = N - 1 - i / R (the last pooled first, as NHWC), position
// vectors [v0, v0 + V) of its H*W / VE. G = min(kThreads / V, C) channel groups, group g over
// channels [C g / G, C (g + 1) / G) in order (SumAcc per position), the groups combined in order:
// cbam_pt_maps' scheme, reading x from global memory. kVec false (H*W not whole 16-byte vectors,
// e.g. 7x7): "vectors" of one position, element loads (the same sums: each position's channels
// in the same order).
template <typename T, bool kVec>
__global__ void __launch_bounds__(kThreads) cbam_passes_maps_nchw(const FusedArgs a, int V) {
  passes_begin();
  constexpr int VE = kVec ? Vec<T>::kN : 1;
  __shared__ double dred[kThreads * VE];
  __shared__ float mred[kThreads * VE];
  const int C = a.C, HW = a.HW, HWv = HW / VE;
  const int R = (HWv + V - 1) / V, G = min(kThreads / V, C);
  const int tid = threadIdx.x, g = tid / V, vl = tid - g * V;
  const int64_t items = static_cast<int64_t>(a.N) * R;
  for (int64_t i = blockIdx.x; i < items; i += gridDim.x) {
    const int64_t m = i / R;
    const int64_t n = a.N - 1 - m;
    const int v0 = static_cast<int>(i - m * R) * V, vn = min(V, HWv - v0);
    SumAcc acc[VE];
    float mx[VE];
#pragma unroll
    for (int e = 0; e < VE; ++e) mx[e] = -INFINITY;
    if (g < G && vl < vn) {
      const int c0 = static_cast<int>(int64_t(C) * g / G), c1 = static_cast<int>(int64_t(C) * (g + 1) / G);
      const T* xp = static_cast<const T*>(a.x) + (n * C + c0) * HW + (v0 + vl) * VE;
      const float* sn = a.sbuf + n * C;
      for (int c = c0; c < c1; ++c, xp += HW) {
        float f[VE];
        if constexpr (kVec) {
          Vec<T> vx;
          vx.raw = *reinterpret_cast<const uint4*>(xp);
          vx.unpack(f);
        } else {
          f[0] = to_f(*xp);
        }
        const float s = __ldg(sn + c);
#pragma unroll
        for (int e = 0; e < VE; ++e) {
          const float q = f[e] * s;
          acc[e].add(q);
          mx[e] = max_nan(mx[e], q);
        }
      }
    }
    __syncthreads();  // the previous item's reads of dred and mred are done
#pragma unroll
    for (int e = 0; e < VE; ++e) {
      dred[tid * VE + e] = acc[e].get();  // = dred[(g * V + vl) * VE + e]
      mred[tid * VE + e] = mx[e];
    }
    __syncthreads();
    float* map_n = a.map + n * 2 * HW;
    for (int t = tid; t < vn * VE; t += kThreads) {
      double sum = 0.0;
      float mm = -INFINITY;
      for (int gg = 0; gg < G; ++gg) {
        sum += dred[gg * V * VE + t];
        mm = max_nan(mm, mred[gg * V * VE + t]);
      }
      const int p = v0 * VE + t;
      __stcg(map_n + p, static_cast<float>(sum / C));
      __stcg(map_n + HW + p, mm);
    }
  }
}

// Positions of the spatial gate a block of cbam_passes_scale holds in shared memory, and the
// largest conv whose taps it stages (2 * 9 * 9 doubles).
constexpr int kPassGate = 2048;
constexpr int kPassTapsK = 9;

// Pass 4 of CBAM, both layouts. Item i = n * B + b: positions [b * P, min(HW, (b + 1) * P)) of
// sample n (P <= kPassGate; NCHW with whole-vector planes: a multiple of VE), samples first to
// last (the maps pass read the first ones last): their spatial gates from the maps
// (cbam_gate_range's k x k conv over the map rows staged with their halo, then pad_nan_fixup),
// then y = x * (s[c] * g[p]) (+ residual, optional ReLU) over every channel of those positions
// in 16-byte vectors: the fused kernel's
// arithmetic (apply_chunk NHWC, apply_pt NCHW). kVec false (NCHW with H*W not whole vectors): an
// element a thread, the same arithmetic.
template <typename T, bool NHWC, bool WIDE, bool kVec = true>
__global__ void __launch_bounds__(kThreads) cbam_passes_scale(const FusedArgs a, int P, int B) {
  passes_begin(/*last=*/true);
  static_assert(kVec || !NHWC, "NHWC takes whole vectors of channels");
  constexpr int VE = Vec<T>::kN;
  __shared__ __align__(16) float g_sm[kPassGate];
  // the map rows and (k <= kPassTapsK) the conv's taps staged as doubles: converted once each,
  // not once a tap (cbam_gate_range; the same bits)
  __shared__ double halo[kHalo];
  __shared__ double taps_sm[2 * kPassTapsK * kPassTapsK];
  const bool staged_taps = !WIDE && a.sk <= kPassTapsK;
  if (staged_taps)
    for (int i = threadIdx.x; i < 2 * a.sk * a.sk; i += kThreads) taps_sm[i] = double(__ldg(a.aux + i));
  // (the item loop's first barrier orders these stores before any read)
  const int C = a.C;
  const int64_t HW = a.HW;
  const bool relu = a.out_relu != 0;
  const int64_t items = static_cast<int64_t>(a.N) * B;
  for (int64_t i = blockIdx.x; i < items; i += gridDim.x) {
    const int64_t n = i / B;
    const int b = static_cast<int>(i - n * B);
    const int64_t p0 = static_cast<int64_t>(b) * P, p1 = min(HW, p0 + P);
    const float* map_n = a.map + n * 2 * HW;
    __syncthreads();  // the previous item's reads of g_sm are done
    const auto put = [&](int64_t p, float g) { g_sm[p - p0] = g; };
    if constexpr (!WIDE) {
      if (staged_taps) cbam_gate_range<false, double, true>(a, map_n, p0, p1, halo, put, taps_sm);
      else cbam_gate_range<false, double, false>(a, map_n, p0, p1, halo, put);
    } else {
      cbam_gate_range<true, double, false>(a, map_n, p0, p1, halo, put);
    }
    pad_nan_fixup<WIDE>(a, p0, p1, reinterpret_cast<int*>(halo), [&](int64_t p, float g) { g_sm[p - p0] = g; });
    const int64_t base = NHWC ? (n * HW + p0) * C : n * C * HW + p0;
    const T* xn = static_cast<const T*>(a.x) + base;
    T* yn = static_cast<T*>(a.y) + base;
    const T* rn = a.res ? static_cast<const T*>(a.res) + base : nullptr;
    const float* sn = a.sbuf + n * C;
    if constexpr (NHWC) {
      const int vpp = C / VE, nvec = static_cast<int>(p1 - p0) * vpp;
      for (int q = threadIdx.x; q < nvec; q += kThreads) {
        const int pl = q / vpp, c = (q - pl * vpp) * VE;
        const int e0 = q * VE;
        const float g = g_sm[pl];
        scale_vec<T>(xn + e0, rn ? rn + e0 : nullptr, yn + e0, relu, [&](float* f) {
#pragma unroll
          for (int e = 0; e < VE; e += 4) {
            const float4 s4 = __ldg(reinterpret_cast<const float4*>(sn + c + e));
            f[e] *= s4.x * g;
            f[e + 1] *= s4.y * g;
            f[e + 2] *= s4.z * g;
            f[e + 3] *= s4.w * g;
          }
        });
      }
    } else if constexpr (!kVec) {
      // rows of np positions, one a channel: kThreads / np rows at a time (a thread keeps its
      // position), or each row strided by the block
      const int np = static_cast<int>(p1 - p0);
      const auto one = [&](int c, int pl) {
        const int64_t off = static_cast<int64_t>(c) * HW + pl;
        float f = to_f(xn[off]);
        f *= __ldg(sn + c) * g_sm[pl];  // (scale_by_sg's product)
        if (rn) f = add_residual(f, to_f(rn[off]));
        if (relu) f = relu_f(f);
        yn[off] = from_f<T>(f);
      };
      if (np <= kThreads) {
        const int rows = kThreads / np, r0 = threadIdx.x / np, pl = threadIdx.x - r0 * np;
        if (r0 < rows)
          for (int c = r0; c < C; c += rows) one(c, pl);
      } else {
        for (int c = 0; c < C; ++c)
          for (int pl = threadIdx.x; pl < np; pl += kThreads) one(c, pl);
      }
    } else {
      const int vpb = static_cast<int>(p1 - p0) / VE, nvec = C * vpb;
      for (int q = threadIdx.x; q < nvec; q += kThreads) {
        const int c = q / vpb, v = q - c * vpb;
        const int64_t off = static_cast<int64_t>(c) * HW + v * VE;
        const float s = __ldg(sn + c);
        const float* gp = g_sm + v * VE;
        scale_vec<T>(xn + off, rn ? rn + off : nullptr, yn + off, relu, [&](float* f) { scale_by_sg<VE>(f, s, gp); });
      }
    }
  }
}

}  // namespace cuda
}  // namespace sqex
