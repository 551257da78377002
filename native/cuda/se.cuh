// SE excitation pieces used by the fused kernel (fused.cuh): the first FC split over the
// sample's blocks (also used by CBAM, with its max branch), and the gate rows.
#pragma once
#include "common.cuh"

namespace sqex {
namespace cuda {

struct FusedArgs;

// hid[n][h] = act(W1[h,:] . z + b1[h]) for h in [h0, h1); the CBAM max branch
// (zmax_sm != nullptr) fills hidmax from the same rows.
__device__ __forceinline__ void fc1_rows(const FusedArgs& a, int n, int64_t h0, int64_t h1,
                                         const float* z_sm, const float* zmax_sm, double* scratch,
                                         float* hid_sm = nullptr, float* hidmax_sm = nullptr) {
  // hid_sm != nullptr: the block computes every row for itself (small FC, no barrier)
  const int64_t hb = static_cast<int64_t>(n) * a.hidden;
  block_rows_dot(a.w1, h0, h1, a.C, z_sm, zmax_sm, scratch, [&](int64_t h, float v, float vm) {
    const float bias = a.b1 ? __ldg(a.b1 + h) : 0.f;
    if (hid_sm) {
      hid_sm[h] = act_f(v + bias, a.act);
      if (zmax_sm) hidmax_sm[h] = act_f(vm + bias, a.act);
    } else {
      __stcg(a.hid + hb + h, act_f(v + bias, a.act));
      if (zmax_sm) __stcg(a.hidmax + hb + h, act_f(vm + bias, a.act));
    }
  });
}

// s[c] = gate(W2[c,:] . hid + b2[c]) (two FCs) or gate(W1[c,:] . z + b1[c]) (single FC).
__device__ __forceinline__ void se_gates(const FusedArgs& a, int n, int64_t c0, int64_t c1,
                                         const float* z_sm, const float* hid_sm, float* s_sm,
                                         bool to_sbuf, bool to_scale_out, double* scratch) {
  const bool two = a.two_fc != 0;
  const float* B = two ? a.b2 : a.b1;
  const int64_t cb = static_cast<int64_t>(n) * a.C;
  block_rows_dot(two ? a.w2 : a.w1, c0, c1, two ? a.hidden : a.C, two ? hid_sm : z_sm, nullptr,
                 scratch, [&](int64_t c, float v, float) {
             const float s = gate_f(v + (B ? __ldg(B + c) : 0.f), a.gate);
             s_sm[c] = s;
             if (to_sbuf) __stcg(a.sbuf + cb + c, s);
             if (to_scale_out) a.scale_out[cb + c] = s;
           });
}

}  // namespace cuda
}  // namespace sqex
