// Pass 3 of SE and ECA in passes (two_pass.cuh): y = x * s[n][c] (+ residual), optional ReLU.
#pragma once
#include "apply.cuh"
#include "fused_args.cuh"

namespace sqex {
namespace cuda {

// Pass 3. Item i = m * B + b: sample n = N - 1 - m (the pooling's last samples are the likeliest
// still in L2), its 16-byte vectors b * kThreads + tid, then strided by B * kThreads. NCHW (SE):
// C * H*W is whole vectors; a vector inside one channel plane takes one gate, one across planes
// (H*W not whole vectors, e.g. 7x7) each element its own.
template <typename T, bool NHWC>
__global__ void __launch_bounds__(kThreads) two_pass_scale(const FusedArgs a, int B) {
  passes_begin(/*last=*/true);
  constexpr int VE = Vec<T>::kN;
  const int C = a.C;
  const int nvec = NHWC ? C / VE * a.HW : C * a.HW / VE;
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
      if constexpr (NHWC) {
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
      } else {
        const int HW = a.HW, c = e0 / HW, rem = e0 - c * HW;
        if (rem + VE <= HW) {
          const float s = __ldg(sn + c);
          scale_vec<T>(xn + e0, rn ? rn + e0 : nullptr, yn + e0, relu, [&](float* f) {
#pragma unroll
            for (int e = 0; e < VE; ++e) f[e] *= s;
          });
        } else {
          scale_vec<T>(xn + e0, rn ? rn + e0 : nullptr, yn + e0, relu, [&](float* f) {
            int cc = c, r = rem;
#pragma unroll
            for (int e = 0; e < VE; ++e) {
              if (r == HW) {
                ++cc;
                r = 0;
              }
              f[e] *= __ldg(sn + cc);
              ++r;
            }
          });
        }
      }
    }
  }
}

}  // namespace cuda
}  // namespace sqex
