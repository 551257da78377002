// SE excitation pieces used by the fused kernel (fused.cuh): the first FC split over the
// sample's blocks (also used by CBAM, with its max branch), and the gate rows.
#pragma once
#include "block_reduce.cuh"
#include "common.cuh"

namespace sqex {
namespace cuda {

struct FusedArgs;

// hid[n][h] = act(W1[h,:] . z + b1[h]) for h in [h0, h1); the CBAM max branch
// (zmax_sm != nullptr) fills hidmax from the same rows. z and the hidden layer are fp64 (a
// fp32 copy of either moved unsaturated gates by up to 9e-5 at |x| ~ 1e4, C = 1024); zmax is
// fp32 (exact: maxes of fp32 values), each element widened to double in the FMA.
template <int UNR = 4>
__device__ __forceinline__ void fc1_rows(const FusedArgs& a, int n, int64_t h0, int64_t h1,
                                         const double* z_sm, const float* zmax_sm, double* scratch,
                                         double* hid_sm = nullptr, double* hidmax_sm = nullptr) {
  // hid_sm != nullptr: the block computes every row for itself (small FC, no barrier)
  const int64_t hb = static_cast<int64_t>(n) * a.hidden;
  block_rows_dot<UNR>(a.w1, h0, h1, a.C, z_sm, zmax_sm, scratch, [&](int64_t h, double v, double vm) {
    const double bias = a.b1 ? double(__ldg(a.b1 + h)) : 0.0;
    if (hid_sm) {
      hid_sm[h] = act_d(v + bias, a.act);
      if (zmax_sm) hidmax_sm[h] = act_d(vm + bias, a.act);
    } else {
      __stcg(a.hid + hb + h, act_d(v + bias, a.act));
      if (zmax_sm) __stcg(a.hidmax + hb + h, act_d(vm + bias, a.act));
    }
  });
}

// s[c] = gate(W2[c,:] . hid + b2[c]) (two FCs) or gate(W1[c,:] . z + b1[c]) (single FC); the
// pre-gate value is summed in fp64 and rounded once, for the gate.
template <int UNR = 4>
__device__ __forceinline__ void se_gates(const FusedArgs& a, int n, int64_t c0, int64_t c1,
                                         const double* z_sm, const double* hid_sm, float* s_sm,
                                         bool to_sbuf, bool to_scale_out, double* scratch) {
  const bool two = a.two_fc != 0;
  const float* B = two ? a.b2 : a.b1;
  const int64_t cb = static_cast<int64_t>(n) * a.C;
  block_rows_dot<UNR>(two ? a.w2 : a.w1, c0, c1, two ? a.hidden : a.C, two ? hid_sm : z_sm,
                 static_cast<const double*>(nullptr),
                 scratch, [&](int64_t c, double v, double) {
             const float s = gate_f(static_cast<float>(v + (B ? double(__ldg(B + c)) : 0.0)), a.gate);
             s_sm[c] = s;
             if (to_sbuf) __stcg(a.sbuf + cb + c, s);
             if (to_scale_out) a.scale_out[cb + c] = s;
           });
}

// ---- sample groups (SE two-FC, large FC; see se_group_tile): one read of a weight row serves
// nv <= kMaxGrp samples. Rows [r0, r1) of W (row-major, len floats, len % 4 == 0, W 16-byte
// aligned) dotted with nv fp64 shared-memory vectors at vsm + g * vstride (vstride % 4 == 0,
// vsm 16-byte aligned). TPR
// threads per row as in block_rows_dot; fixed assignment and combine order: deterministic.
// scratch: kMaxGrp * kWarps doubles. emit(row, dots) on one thread per row, dots[g] the fp64 dot
// with vector g < nv.
constexpr int kMaxGrp = 4;
template <typename EmitF>
__device__ __forceinline__ void block_rows_dot_grp(const float* __restrict__ W, int64_t r0, int64_t r1,
                                                   int len, int nv, const double* vsm, int vstride,
                                                   double* scratch, EmitF&& emit) {
  if (r1 <= r0) return;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t nrows = r1 - r0;
  const int units = len / 4;
  const int TPR = rows_dot_tpr(nrows, units);
  const int RP = kThreads / TPR;
  const int tr = tid / TPR, tk = tid - tr * TPR;
  for (int64_t base = r0; base < r1; base += RP) {
    const int64_t row = base + tr;
    const bool valid = row < r1;
    double acc[kMaxGrp];
#pragma unroll
    for (int g = 0; g < kMaxGrp; ++g) acc[g] = 0.0;
    if (valid) {
      const float4* w4 = reinterpret_cast<const float4*>(W + row * len);
#pragma unroll 2
      for (int i = tk; i < units; i += TPR) {
        const float4 w = __ldg(w4 + i);
        const double wx = w.x, wy = w.y, wz = w.z, ww = w.w;
#pragma unroll
        for (int g = 0; g < kMaxGrp; ++g) {
          if (g < nv) {
            const double2* x2 = reinterpret_cast<const double2*>(vsm + g * vstride) + 2 * i;
            const double2 xa = x2[0], xb = x2[1];
            acc[g] = fma(wx, xa.x, fma(wy, xa.y, fma(wz, xb.x, fma(ww, xb.y, acc[g]))));
          }
        }
      }
    }
    const int span = TPR < 32 ? TPR : 32;
#pragma unroll
    for (int g = 0; g < kMaxGrp; ++g)
      for (int o = span >> 1; o > 0; o >>= 1) acc[g] += __shfl_xor_sync(0xffffffffu, acc[g], o);
    if (TPR > 32) {
      if (lane == 0) {
#pragma unroll
        for (int g = 0; g < kMaxGrp; ++g) scratch[g * kWarps + warp] = acc[g];
      }
      __syncthreads();
      if (tk == 0) {
        const int nw = TPR / 32;
#pragma unroll
        for (int g = 0; g < kMaxGrp; ++g) {
          acc[g] = 0.0;
          for (int w = 0; w < nw; ++w) acc[g] += scratch[g * kWarps + warp + w];
        }
      }
      __syncthreads();
    }
    if (tk == 0 && valid) emit(row, static_cast<const double*>(acc));
  }
}

}  // namespace cuda
}  // namespace sqex
