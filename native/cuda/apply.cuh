// The scale phase: y = x * s[c] (* g[p]) (+ residual), optional output ReLU, over a tile held in
// shared memory, for both tile shapes.
#pragma once
#include "fused_args.cuh"

namespace sqex {
namespace cuda {

// y = x * s[c] (* g[p]) (+ residual), optional output ReLU, for one chunk.
// D = elements per unit; unit q of the chunk is absolute unit cu0 + q.
template <int OP, typename T, bool NHWC>
__device__ __forceinline__ void apply_chunk(const FusedArgs& a, const T* xs, T* yd, const T* rd,
                                            int64_t ne64, int64_t cu0, const float* s_sm,
                                            const float* g_sm, int64_t g_base) {
  constexpr bool kCbam = OP == static_cast<int>(Op::CBAM);
  const int tid = threadIdx.x;
  const int D = NHWC ? a.C : a.HW;
  const int ne = static_cast<int>(ne64);  // a chunk fits in shared memory
  const bool relu = a.out_relu != 0;
  auto scale_of = [&](int q, int r) -> float {
    const int64_t c = NHWC ? r : cu0 + q;
    float sc = s_sm[c];
    if constexpr (kCbam) {
      const int64_t p = NHWC ? cu0 + q : r;
      sc *= g_sm[p - g_base];
    }
    return sc;
  };
  auto finish = [&](float v, int i) -> T {
    if (rd) v = add_residual(v, to_f(rd[i]));
    if (relu) v = relu_f(v);
    return from_f<T>(v);
  };
  if (!a.vec_ok) {
    for (int i = tid; i < ne; i += kThreads) {
      const int q = i / D, r = i - q * D;
      yd[i] = finish(to_f(xs[i]) * scale_of(q, r), i);
    }
    return;
  }
  constexpr int VE = Vec<T>::kN;
  const int mis = static_cast<int>(reinterpret_cast<uintptr_t>(yd) & 15);
  int he = mis ? (16 - mis) / static_cast<int>(sizeof(T)) : 0;
  if (he > ne) he = ne;
  const int nvec = (ne - he) / VE;
  const int tail_start = he + nvec * VE;
  // head and tail: element by element
  for (int i = tid; i < he; i += kThreads) {
    const int q = i / D, r = i - q * D;
    yd[i] = finish(to_f(xs[i]) * scale_of(q, r), i);
  }
  for (int i = tail_start + tid; i < ne; i += kThreads) {
    const int q = i / D, r = i - q * D;
    yd[i] = finish(to_f(xs[i]) * scale_of(q, r), i);
  }
  const uint4* xv = reinterpret_cast<const uint4*>(xs + he);
  uint4* yv = reinterpret_cast<uint4*>(yd + he);
  const uint4* rv = rd ? reinterpret_cast<const uint4*>(rd + he) : nullptr;
  // (q, r) = divmod(he + k * VE, D), advanced incrementally (no division in the loop)
  const int step = kThreads * VE, step_q = step / D, step_r = step - step_q * D;
  int q0 = (he + tid * VE) / D, r0 = (he + tid * VE) - q0 * D;
  for (int k = tid; k < nvec; k += kThreads) {
    Vec<T> vx;
    vx.raw = xv[k];
    float f[VE];
    vx.unpack(f);
    int q = q0, r = r0;
    q0 += step_q;
    r0 += step_r;
    if (r0 >= D) {
      r0 -= D;
      ++q0;
    }
    float sc[VE];
    if (r + VE <= D) {
      // the whole vector lies in one unit
      if constexpr (NHWC) {
        // channel varies along the vector (s), position fixed (g)
        if ((r & 3) == 0) {
#pragma unroll
          for (int e = 0; e < VE; e += 4) {
            const float4 s4 = *reinterpret_cast<const float4*>(s_sm + r + e);
            sc[e] = s4.x; sc[e + 1] = s4.y; sc[e + 2] = s4.z; sc[e + 3] = s4.w;
          }
        } else {
#pragma unroll
          for (int e = 0; e < VE; ++e) sc[e] = s_sm[r + e];
        }
        if constexpr (kCbam) {
          const float g = g_sm[cu0 + q - g_base];
#pragma unroll
          for (int e = 0; e < VE; ++e) sc[e] *= g;
        }
      } else {
        const float s = s_sm[cu0 + q];
        if constexpr (kCbam) {
          const float* gp = g_sm + (r - g_base);
          if (((r - g_base) & 3) == 0) {
#pragma unroll
            for (int e = 0; e < VE; e += 4) {
              const float4 g4 = *reinterpret_cast<const float4*>(gp + e);
              sc[e] = s * g4.x; sc[e + 1] = s * g4.y; sc[e + 2] = s * g4.z; sc[e + 3] = s * g4.w;
            }
          } else {
#pragma unroll
            for (int e = 0; e < VE; ++e) sc[e] = s * gp[e];
          }
        } else {
#pragma unroll
          for (int e = 0; e < VE; ++e) sc[e] = s;
        }
      }
    } else {
#pragma unroll
      for (int e = 0; e < VE; ++e) {
        sc[e] = scale_of(q, r);
        if (++r == D) { r = 0; ++q; }
      }
    }
    float rf[VE];
    if (rv) {
      Vec<T> vr;
      vr.raw = rv[k];
      vr.unpack(rf);
    }
#pragma unroll
    for (int e = 0; e < VE; ++e) {
      float v = f[e] * sc[e];
      if (rv) v = add_residual(v, rf[e]);
      if (relu) v = relu_f(v);
      f[e] = v;
    }
    Vec<T> vy;
    vy.pack(f);
    yv[k] = vy.raw;
  }
}

// One 16-byte vector of y from one of x in shared memory: scale(f) multiplies the unpacked
// elements in place; then the residual (r, may be null) and the optional ReLU; the caller
// guarantees the 16-byte alignment of x, y and r. apply_ct writes the same steps out: calling
// this from it moved the SE/ECA NHWC kernels' register allocation (ptxas -v, sm_90), untimed.
template <typename T, typename S>
__device__ __forceinline__ void scale_vec(const T* xv, const T* r, T* y, bool relu, S&& scale) {
  constexpr int VE = Vec<T>::kN;
  Vec<T> vx;
  vx.raw = *reinterpret_cast<const uint4*>(xv);
  float f[VE];
  vx.unpack(f);
  float rf[VE];
  if (r) {
    Vec<T> vr;
    vr.raw = *reinterpret_cast<const uint4*>(r);
    vr.unpack(rf);
  }
  scale(f);
#pragma unroll
  for (int e = 0; e < VE; ++e) {
    if (r) f[e] = add_residual(f[e], rf[e]);
    if (relu) f[e] = relu_f(f[e]);
  }
  Vec<T> vy;
  vy.pack(f);
  *reinterpret_cast<uint4*>(y) = vy.raw;
}

template <typename T>
__device__ __forceinline__ void apply_ct(const FusedArgs& a, const T* xs, T* yn, const T* rn, int64_t c0,
                                         int w, const float* s_sm) {
  constexpr int VE = Vec<T>::kN;
  const int vpr = w / VE, total = a.HW * vpr;
  const bool relu = a.out_relu != 0;
  for (int k = threadIdx.x; k < total; k += kThreads) {
    const int p = k / vpr, v = k - p * vpr;
    const int64_t og = static_cast<int64_t>(p) * a.C + c0 + v * VE;
    Vec<T> vx;
    vx.raw = *reinterpret_cast<const uint4*>(xs + p * w + v * VE);
    float f[VE];
    vx.unpack(f);
    const float* sp = s_sm + c0 + v * VE;
    float rf[VE];
    if (rn) {
      Vec<T> vr;
      vr.raw = *reinterpret_cast<const uint4*>(rn + og);
      vr.unpack(rf);
    }
#pragma unroll
    for (int e = 0; e < VE; e += 4) {
      const float4 s4 = *reinterpret_cast<const float4*>(sp + e);
      f[e] *= s4.x;
      f[e + 1] *= s4.y;
      f[e + 2] *= s4.z;
      f[e + 3] *= s4.w;
    }
#pragma unroll
    for (int e = 0; e < VE; ++e) {
      if (rn) f[e] = add_residual(f[e], rf[e]);
      if (relu) f[e] = relu_f(f[e]);
    }
    Vec<T> vy;
    vy.pack(f);
    *reinterpret_cast<uint4*>(yn + og) = vy.raw;
  }
}

// f[e] *= s * g[e] over one unpacked vector of VE positions of one channel (g 16-byte aligned):
// CBAM NCHW's y = x * (s[c] * g[p]), as apply_chunk computes it.
template <int VE>
__device__ __forceinline__ void scale_by_sg(float* f, float s, const float* g) {
#pragma unroll
  for (int e = 0; e < VE; e += 4) {
    const float4 g4 = *reinterpret_cast<const float4*>(g + e);
    f[e] *= s * g4.x;
    f[e + 1] *= s * g4.y;
    f[e + 2] *= s * g4.z;
    f[e + 3] *= s * g4.w;
  }
}

// CBAM NCHW position tile [C][w] (cbam_pt.cuh): y[c][p0 + pl] = x * (s[c] * g[pl]) (+ residual),
// optional output ReLU; 16-byte vectors (the host guarantees alignment). g_sm[pl] is position
// p0 + pl and 16-byte aligned. Same arithmetic per element as apply_chunk's NCHW CBAM path.
template <typename T>
__device__ __forceinline__ void apply_pt(const FusedArgs& a, const T* xs, T* yn, const T* rn, int64_t p0,
                                         int w, const float* s_sm, const float* g_sm) {
  constexpr int VE = Vec<T>::kN;
  const int vpr = w / VE, total = a.C * vpr;
  const bool relu = a.out_relu != 0;
  for (int k = threadIdx.x; k < total; k += kThreads) {
    const int c = k / vpr, v = k - c * vpr;
    const int64_t og = static_cast<int64_t>(c) * a.HW + p0 + v * VE;
    const float s = s_sm[c];
    const float* gp = g_sm + v * VE;
    scale_vec<T>(xs + c * w + v * VE, rn ? rn + og : nullptr, yn + og, relu,
                 [&](float* f) { scale_by_sg<VE>(f, s, gp); });
  }
}

}  // namespace cuda
}  // namespace sqex
