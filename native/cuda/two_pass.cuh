// The two-pass path of NHWC SE and ECA over large samples (launch.cuh decides; NOTES-cuda.md,
// "NHWC SE/ECA in two passes"): three plain launches instead of the persistent fused kernel.
//   1. two_pass_pool: per-channel partial sums of each chunk of positions, part[n][k][c] (fp64),
//      a block a (chunk, channel slice);
//   2. two_pass_excite: one block per sample sums its chunks' partials in chunk order, then the
//      op's excitation (se.cuh / eca.cuh, the fused kernel's own steps) into sbuf[n][c];
//   3. two_pass_scale: y = x * s[n][c] (+ residual), optional ReLU, 16-byte vectors.
// x is read twice (the second read partly from L2: the scale pass takes the samples in the
// reverse of the pooling's order), but no block waits at a sample barrier while it holds a tile:
// the fused kernel's NHWC position tiles meet their sample's other tiles two to four times.
// Deterministic: fixed chunking per launch shape and fixed reduction orders, no float atomics.
// Needs C a multiple of the vector width, 16-byte aligned x, y and residual, and C * H*W < 2^31.
#pragma once
#include "apply.cuh"
#include "block_reduce.cuh"
#include "eca.cuh"
#include "fused_args.cuh"
#include "se.cuh"

namespace sqex {
namespace cuda {

// acc[e] += element e of vector column v (channels v * VE ...) over positions first, first + G, ...
// below end: fp32 runs of pool_run<T>() positions, fp64 across runs.
template <typename T>
__device__ __forceinline__ void sum_column(const T* xn, int C, int v, int first, int end, int G,
                                           double* acc) {
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

// Every grid is at most the resident blocks, each striding over its work items (so the emulator,
// which runs every block at once, takes them too).
//
// Pass 1. Item i = (n * K + k) * S + sl sums positions [k * ppb, min(HW, (k + 1) * ppb)) of sample
// n over channel slice sl, channels [sl * cw, min(C, (sl + 1) * cw)), into part[(n * K + k) * C +
// c]; items in increasing order, so samples are pooled first to last. With vps = (the slice's
// channels) / VE vectors a position, a thread owns one vector column of one position group (G =
// kThreads / vps groups stride over the positions) when vps <= kThreads, else columns tid, tid +
// kThreads, ... over all the chunk's positions. Sums as the fused kernel's pool_nhwc: fp32 runs of
// pool_run<T>() positions, fp64 across runs, the groups combined in group order.
template <typename T>
__global__ void __launch_bounds__(kThreads) two_pass_pool(const FusedArgs a, int K, int ppb, int S, int cw) {
  constexpr int VE = Vec<T>::kN;
  __shared__ double dred[kThreads * VE];
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
    if (vps <= kThreads) {
      const int G = kThreads / vps;
      double acc[VE];
#pragma unroll
      for (int e = 0; e < VE; ++e) acc[e] = 0.0;
      if (tid < G * vps) {
        const int g = tid / vps, v = tid - g * vps;
        sum_column<T>(xs, C, v, p0 + g, p1, G, acc);
      }
      __syncthreads();  // the previous item's reads of dred are done
#pragma unroll
      for (int e = 0; e < VE; ++e) dred[tid * VE + e] = acc[e];  // = dred[g * cn + v * VE + e]
      __syncthreads();
      for (int c = tid; c < cn; c += kThreads) {
        double sum = 0.0;
        for (int g = 0; g < G; ++g) sum += dred[g * cn + c];
        __stcg(prow + c, sum);
      }
    } else {
      for (int v = tid; v < vps; v += kThreads) {
        double acc[VE];
#pragma unroll
        for (int e = 0; e < VE; ++e) acc[e] = 0.0;
        sum_column<T>(xs, C, v, p0, p1, 1, acc);
#pragma unroll
        for (int e = 0; e < VE; ++e) __stcg(prow + v * VE + e, acc[e]);
      }
    }
  }
}

// Shared memory of two_pass_excite, in bytes: z [C doubles], the hidden layer [hidden doubles; 0
// for ECA and single-FC SE], s [C floats], scratch [kThreads doubles].
__host__ __device__ inline int64_t two_pass_excite_smem(int C, int hidden) {
  const int64_t c2 = (static_cast<int64_t>(C) + 1) & ~int64_t(1);
  return (static_cast<int64_t>(C) + hidden + c2 / 2 + kThreads) * 8;
}

// Pass 2. Block n: the means z[c] = (the sum over k of part[n][k][c], in k order, or J interleaved
// sums in j order when J threads share a channel) / HW, then the
// gates of every channel into sbuf[n] (and scale_out), by the fused kernel's own excitation
// steps (fc1_rows / se_gates, eca_gates).
template <int OP, bool WIDE>
__global__ void __launch_bounds__(kThreads) two_pass_excite(const FusedArgs a, int K) {
  constexpr bool kEca = OP == static_cast<int>(Op::ECA);
  SQEX_DYNAMIC_SMEM(smem);
  double* z_sm = reinterpret_cast<double*>(smem);
  double* hid_sm = z_sm + a.C;
  // (single-FC SE: a.hidden is C, as in the fused kernel, but there is no hidden layer to hold)
  float* s_sm = reinterpret_cast<float*>(hid_sm + (kEca || !a.two_fc ? 0 : a.hidden));
  const int64_t c2 = (static_cast<int64_t>(a.C) + 1) & ~int64_t(1);
  double* scratch = reinterpret_cast<double*>(s_sm + c2);
  int2 eca_nf = int2{0, 0};
  if constexpr (kEca && WIDE) eca_nf = eca_nonfinite_taps(a.aux, a.eca_k, reinterpret_cast<int*>(scratch));
  const bool want_scale_out = a.scale_out != nullptr;
  // threads a channel for the chunks' sums: several when C < kThreads (K up to 16 a thread)
  const int J = a.C < kThreads ? min(kThreads / a.C, K) : 1;
  for (int n = blockIdx.x; n < a.N; n += gridDim.x) {
    const double* pp = a.part + static_cast<int64_t>(n) * K * a.C;
    __syncthreads();  // the previous sample's reads of z, hid, s and scratch are done
    if (J == 1) {
      for (int c = threadIdx.x; c < a.C; c += kThreads) {
        double s = 0.0;
        for (int k = 0; k < K; ++k) s += __ldcg(pp + static_cast<int64_t>(k) * a.C + c);
        z_sm[c] = s / a.HW;
      }
    } else {
      // J threads a channel, thread j summing chunks j, j + J, ...; then the J sums in j order
      const int t = threadIdx.x, j = t / a.C, c = t - j * a.C;
      if (t < J * a.C) {
        double s = 0.0;
        for (int k = j; k < K; k += J) s += __ldcg(pp + static_cast<int64_t>(k) * a.C + c);
        scratch[t] = s;
      }
      __syncthreads();
      if (t < a.C) {
        double s = 0.0;
        for (int jj = 0; jj < J; ++jj) s += scratch[jj * a.C + t];
        z_sm[t] = s / a.HW;
      }
    }
    __syncthreads();
    if constexpr (kEca) {
      eca_gates<WIDE>(a, n, 0, a.C, z_sm, s_sm, true, want_scale_out, eca_nf);
    } else {
      if (a.two_fc) {
        fc1_rows<4>(a, n, 0, a.hidden, z_sm, nullptr, scratch, hid_sm, nullptr);
        __syncthreads();
      }
      se_gates<4>(a, n, 0, a.C, z_sm, hid_sm, s_sm, true, want_scale_out, scratch);
    }
  }
}

// Pass 3. Item i = m * B + b: sample n = N - 1 - m (the pooling's last samples are the likeliest
// still in L2), its 16-byte vectors b * kThreads + tid, then strided by B * kThreads.
template <typename T>
__global__ void __launch_bounds__(kThreads) two_pass_scale(const FusedArgs a, int B) {
  constexpr int VE = Vec<T>::kN;
  const int C = a.C;
  const int nvec = C / VE * a.HW;
  const bool relu = a.out_relu != 0;
  const int64_t items = static_cast<int64_t>(a.N) * B;
  for (int64_t i = blockIdx.x; i < items; i += gridDim.x) {
    const int64_t m = i / B;
    const int b = static_cast<int>(i - m * B);
    const int64_t n = a.N - 1 - m;
    const int64_t base = n * static_cast<int64_t>(C) * a.HW;
    const T* xn = static_cast<const T*>(a.x) + base;
    T* yn = static_cast<T*>(a.y) + base;
    const T* rn = a.res ? static_cast<const T*>(a.res) + base : nullptr;
    const float* sn = a.sbuf + n * C;
    for (int q = b * kThreads + threadIdx.x; q < nvec; q += B * kThreads) {
      const int e0 = q * VE;
      const int c = e0 % C;
      scale_vec<T>(xn + e0, rn ? rn + e0 : nullptr, yn + e0, relu, [&](float* f) {
#pragma unroll
        for (int e = 0; e < VE; e += 4) {
          const float4 s4 = __ldg(reinterpret_cast<const float4*>(sn + c + e));
          f[e] *= s4.x;
          f[e + 1] *= s4.y;
          f[e + 2] *= s4.z;
          f[e + 3] *= s4.w;
        }
      });
    }
  }
}

}  // namespace cuda
}  // namespace sqex
