// ECA excitation used by the fused kernel (fused.cuh): a k-tap 1-D conv over the channel
// means, zero padded, no bias.
#pragma once
#include "common.cuh"

namespace sqex {
namespace cuda {

struct FusedArgs;

// z_sm must hold the (fp64) means of channels [c0 - pad, c1 + pad) clipped to [0, C).
__device__ __forceinline__ void eca_gates(const FusedArgs& a, int n, int64_t c0, int64_t c1,
                                          const double* z_sm, float* s_sm, bool to_sbuf,
                                          bool to_scale_out) {
  const int k = a.eca_k, pad = (k - 1) / 2;
  const int64_t cb = static_cast<int64_t>(n) * a.C;
  for (int64_t c = c0 + threadIdx.x; c < c1; c += kThreads) {
    double v = 0.0;
    for (int t = 0; t < k; ++t) {
      // the zero padding is an operand: w * 0 is NaN for a NaN/Inf tap (torch's conv1d)
      const int64_t cc = c + t - pad;
      v = fma(double(__ldg(a.aux + t)), (cc >= 0 && cc < a.C) ? z_sm[cc] : 0.0, v);
    }
    const float s = gate_f(static_cast<float>(v), a.gate);
    s_sm[c] = s;
    if (to_sbuf) __stcg(a.sbuf + cb + c, s);
    if (to_scale_out) a.scale_out[cb + c] = s;
  }
}

}  // namespace cuda
}  // namespace sqex
