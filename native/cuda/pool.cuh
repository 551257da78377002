// The squeeze phase: per-channel means (and CBAM's maxes) of a tile held in shared memory, for
// NCHW chunks, NHWC chunks (partials per tile) and NHWC channel tiles; and loading a sample's
// means back from the workspace.
#pragma once
#include "fused_args.cuh"

namespace sqex {
namespace cuda {

// One NCHW channel's sum (and max) over its HW elements at `row`, by one warp (HW >= 64). The
// order of the additions depends only on HW and on row's address mod 16, and load_chunk keeps
// shared memory aligned as global memory mod 16: a channel pooled from its tile in shared memory
// and the same channel read from global memory (ECA's halo, eca_halo_means) get the same bits.
template <bool kMax, typename T>
__device__ __forceinline__ void warp_channel_pool(const T* row, int HW, int lane, double& sum_out,
                                                  float& mx_out) {
  // 16-byte loads over the aligned body of the row
  constexpr int VE = Vec<T>::kN;
  int head = static_cast<int>(((16 - (reinterpret_cast<uintptr_t>(row) & 15)) & 15) / sizeof(T));
  if (head > HW) head = HW;
  const int nvec = (HW - head) / VE;
  const int tail = head + nvec * VE;
  double sum = 0.0;
  float mx = -INFINITY;
  float run = 0.f;
  for (int i = lane; i < head; i += 32) {
    const float v = to_f(row[i]);
    if constexpr (pool_run<T>() == 1) sum += v; else run += v;
    if (kMax) mx = max_nan(mx, v);
  }
  for (int i = tail + lane; i < HW; i += 32) {
    const float v = to_f(row[i]);
    if constexpr (pool_run<T>() == 1) sum += v; else run += v;
    if (kMax) mx = max_nan(mx, v);
  }
  sum += run;
  const uint4* rv = reinterpret_cast<const uint4*>(row + head);
  for (int k = lane; k < nvec; k += 32) {
    Vec<T> vv;
    vv.raw = rv[k];
    float f[VE];
    vv.unpack(f);
    if constexpr (pool_run<T>() == 1) {
      // fp32: pairs summed in fp64 (exact), then into the fp64 total
      sum += (double(f[0]) + double(f[1])) + (double(f[2]) + double(f[3]));
      if (kMax) mx = max_nan(mx, max_nan(max_nan(f[0], f[1]), max_nan(f[2], f[3])));
    } else {
      float r = 0.f;
#pragma unroll
      for (int e = 0; e < VE; ++e) {
        r += f[e];
        if (kMax) mx = max_nan(mx, f[e]);
      }
      sum += r;  // fp16/bf16: fp32 runs of VE elements, fp64 across them
    }
  }
  sum_out = warp_sum(sum);
  if (kMax) mx_out = warp_max(mx);
}

// One NCHW channel's sum (and max) by one thread (HW < 64): fp32 runs (pool_run), fp64 across
// runs. Alignment plays no part, so shared and global copies of a row give the same bits.
template <bool kMax, typename T>
__device__ __forceinline__ void thread_channel_pool(const T* row, int HW, double& sum_out, float& mx_out) {
  constexpr int R = pool_run<T>();
  double sum = 0.0;
  float mx = -INFINITY;
  if constexpr (R == 1) {
    for (int i = 0; i < HW; ++i) {
      const float v = to_f(row[i]);
      sum += v;
      if (kMax) mx = max_nan(mx, v);
    }
  } else {
    for (int i0 = 0; i0 < HW; i0 += R) {
      const int ie = i0 + R < HW ? i0 + R : HW;
      float run = 0.f;
      for (int i = i0; i < ie; ++i) {
        const float v = to_f(row[i]);
        run += v;
        if (kMax) mx = max_nan(mx, v);
      }
      sum += run;
    }
  }
  sum_out = sum;
  if (kMax) mx_out = mx;
}

// NCHW pooling of a chunk of whole channels [cu0, cu1): complete per-channel mean (and max).
// z_local (ECA's halo kernel, eca_halo.cuh): the means go to shared memory z_local[c] instead of
// the workspace, since no other tile reads them.
template <bool kMax, typename T>
__device__ __forceinline__ void pool_nchw(const FusedArgs& a, const T* xs, int n, int64_t cu0,
                                          int64_t cu1, double* z_local = nullptr) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int HW = a.HW;
  const int64_t ncl = cu1 - cu0;
  if (HW >= 64) {
    // warp per channel
    for (int64_t cl = warp; cl < ncl; cl += kWarps) {
      double sum;
      float mx;
      warp_channel_pool<kMax>(xs + cl * HW, HW, lane, sum, mx);
      if (lane == 0) {
        const int64_t c = cu0 + cl;
        if (z_local) {
          z_local[c] = sum / HW;
        } else {
          __stcg(a.zmean + static_cast<int64_t>(n) * a.C + c, sum / HW);
          if (kMax) __stcg(a.zmax + static_cast<int64_t>(n) * a.C + c, mx);
        }
      }
    }
  } else {
    // thread per channel (HW < 64)
    for (int64_t cl = tid; cl < ncl; cl += kThreads) {
      double sum;
      float mx;
      thread_channel_pool<kMax>(xs + cl * HW, HW, sum, mx);
      const int64_t c = cu0 + cl;
      if (z_local) {
        z_local[c] = sum / HW;
      } else {
        __stcg(a.zmean + static_cast<int64_t>(n) * a.C + c, sum / HW);
        if (kMax) __stcg(a.zmax + static_cast<int64_t>(n) * a.C + c, mx);
      }
    }
  }
}

// NHWC pooling of a chunk of positions: per-channel partial sum (and max) of this tile,
// accumulated over the tile's chunks into part[n][j][c] in a fixed order.
template <bool kMax, typename T>
__device__ __forceinline__ void pool_nhwc(const FusedArgs& a, const T* xs, int64_t npos,
                                          double* part_row, float* pmax_row, bool first,
                                          float* red) {
  const int tid = threadIdx.x;
  const int C = a.C;
  double* dred = reinterpret_cast<double*>(red);
  float* mred = red + 2 * kThreads;
  if (C < kThreads) {
    const int G = kThreads / C;  // position groups
    double sum = 0.0;
    float mx = -INFINITY;
    if (tid < G * C) {
      const int g = tid / C, c = tid - g * C;
      constexpr int R = pool_run<T>();
      for (int64_t p0 = g; p0 < npos; p0 += R * G) {  // fp32 runs (pool_run), fp64 across runs
        const int64_t pe = p0 + R * G < npos ? p0 + R * G : npos;
        float run = 0.f;
        for (int64_t p = p0; p < pe; p += G) {
          const float v = to_f(xs[p * C + c]);
          run += v;
          if (kMax) mx = max_nan(mx, v);
        }
        sum += run;
      }
    }
    dred[tid] = sum;
    if (kMax) mred[tid] = mx;
    __syncthreads();
    if (tid < C) {
      double s2 = 0.0;
      float m2 = -INFINITY;
      for (int g = 0; g < G; ++g) {
        s2 += dred[g * C + tid];
        if (kMax) m2 = max_nan(m2, mred[g * C + tid]);
      }
      if (!first) {
        s2 += __ldcg(part_row + tid);
        if (kMax) m2 = max_nan(__ldcg(pmax_row + tid), m2);
      }
      __stcg(part_row + tid, s2);
      if (kMax) __stcg(pmax_row + tid, m2);
    }
  } else {
    for (int c = tid; c < C; c += kThreads) {
      double sum = 0.0;
      float mx = -INFINITY;
      constexpr int R = pool_run<T>();
      for (int64_t p0 = 0; p0 < npos; p0 += R) {
        const int64_t pe = p0 + R < npos ? p0 + R : npos;
        float run = 0.f;
        for (int64_t p = p0; p < pe; ++p) {
          const float v = to_f(xs[p * C + c]);
          run += v;
          if (kMax) mx = max_nan(mx, v);
        }
        sum += run;
      }
      if (!first) {
        sum += __ldcg(part_row + c);
        if (kMax) mx = max_nan(__ldcg(pmax_row + c), mx);
      }
      __stcg(part_row + c, sum);
      if (kMax) __stcg(pmax_row + c, mx);
    }
  }
}

// Loads n's channel means (and maxes) [c0, c1) from the workspace into shared memory.
__device__ __forceinline__ void load_z(const FusedArgs& a, int n, int64_t c0, int64_t c1,
                                       double* z_sm, float* zmax_sm) {
  const int64_t base = static_cast<int64_t>(n) * a.C;
  for (int64_t c = c0 + threadIdx.x; c < c1; c += kThreads) {
    z_sm[c] = __ldcg(a.zmean + base + c);
    if (zmax_sm) zmax_sm[c] = __ldcg(a.zmax + base + c);
  }
}

// NHWC channel tile [c0, c0 + w) held as [HW][w]: complete per-channel means (position groups
// of kThreads / w threads when w < kThreads). z_local: as pool_nchw's.
template <typename T>
__device__ __forceinline__ void pool_ct(const FusedArgs& a, const T* xs, int n, int64_t c0, int w,
                                        float* red, double* z_local = nullptr) {
  const int tid = threadIdx.x, HW = a.HW;
  const int64_t zb = static_cast<int64_t>(n) * a.C + c0;
  if (w < kThreads) {
    double* dred = reinterpret_cast<double*>(red);
    const int G = kThreads / w;  // position groups
    double sum = 0.0;
    if (tid < G * w) {
      const int g = tid / w, cl = tid - g * w;
      constexpr int R = pool_run<T>();
      for (int p0 = g; p0 < HW; p0 += R * G) {  // fp32 runs (pool_run), fp64 across runs
        const int pe = p0 + R * G < HW ? p0 + R * G : HW;
        float run = 0.f;
        for (int p = p0; p < pe; p += G) run += to_f(xs[p * w + cl]);
        sum += run;
      }
    }
    dred[tid] = sum;
    __syncthreads();
    if (tid < w) {
      double s2 = 0.0;
      for (int g = 0; g < G; ++g) s2 += dred[g * w + tid];
      if (z_local) z_local[c0 + tid] = s2 / HW;
      else __stcg(a.zmean + zb + tid, s2 / HW);
    }
  } else {
    for (int cl = tid; cl < w; cl += kThreads) {
      double sum = 0.0;
      constexpr int R = pool_run<T>();
      for (int p0 = 0; p0 < HW; p0 += R) {
        const int pe = p0 + R < HW ? p0 + R : HW;
        float run = 0.f;
        for (int p = p0; p < pe; ++p) run += to_f(xs[p * w + cl]);
        sum += run;
      }
      if (z_local) z_local[c0 + cl] = sum / HW;
      else __stcg(a.zmean + zb + cl, sum / HW);
    }
  }
}

// CBAM NCHW position tile [C][w] (cbam_pt.cuh; w a multiple of the vector width, rows 16-byte
// aligned): each channel's partial sum and max over the tile's w positions into part_row[c] and
// pmax_row[c], reduced across the sample's tiles after barrier A as NHWC position tiles' are. L
// lanes per channel (a power of two covering the row's vectors), 16-byte loads (one 8-lane phase
// reads 128 contiguous bytes: no bank conflicts, where a thread per row of 48 fp32 conflicts
// 16-way), combined by a fixed butterfly. fp32: pairs in fp64 as in warp_channel_pool.
template <typename T>
__device__ __forceinline__ void pool_pt(const T* xs, int C, int w, double* part_row, float* pmax_row) {
  constexpr int VE = Vec<T>::kN;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nvec = w / VE;
  int L = 1;
  while (L < 32 && L < nvec) L <<= 1;
  const int cpw = 32 / L, sub = lane & (L - 1), cw = lane / L;
  for (int cb = warp * cpw; cb < C; cb += kWarps * cpw) {  // uniform per warp (shuffles below)
    const int c = cb + cw;
    double sum = 0.0;
    float mx = -INFINITY;
    if (c < C) {
      const uint4* rv = reinterpret_cast<const uint4*>(xs + static_cast<int64_t>(c) * w);
      for (int k = sub; k < nvec; k += L) {
        Vec<T> vv;
        vv.raw = rv[k];
        float f[VE];
        vv.unpack(f);
        if constexpr (pool_run<T>() == 1) {
          sum += (double(f[0]) + double(f[1])) + (double(f[2]) + double(f[3]));
        } else {
          float r = 0.f;
#pragma unroll
          for (int e = 0; e < VE; ++e) r += f[e];
          sum += r;
        }
#pragma unroll
        for (int e = 0; e < VE; ++e) mx = max_nan(mx, f[e]);
      }
    }
    for (int o = L >> 1; o > 0; o >>= 1) {
      sum += __shfl_xor_sync(0xffffffffu, sum, o);
      mx = max_nan(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    }
    if (sub == 0 && c < C) {
      __stcg(part_row + c, sum);
      __stcg(pmax_row + c, mx);
    }
  }
}

}  // namespace cuda
}  // namespace sqex
