// The fused, persistent kernel shared by SE, ECA and CBAM (each op's .cu instantiates it for
// its own op only). One launch per op call; x is read from HBM once and y written once.
//
// Work split: a sample's slice is cut into T tiles of whole units (channels in NCHW, positions
// in NHWC; both contiguous in memory). Blocks take tiles in increasing order from an integer
// ticket, copy the tile into shared memory (cp.async, 16 B), reduce it, publish partials, and
// meet the other blocks of the same sample at counter barriers (integer atomics, fixed-order
// reductions: bitwise deterministic). After the excitation the block scales the tile it still
// holds and writes it. Since tickets are handed out in order and only running blocks take
// tickets, every tile of the oldest unfinished sample is held by a running block, so the
// barriers cannot deadlock as long as T <= blocks that can run at once (the host keeps
// T <= resident/2). If a tile does not fit in shared memory it is processed in chunks and
// re-read (from L2 usually) instead of held.
#pragma once
#include <type_traits>

#include "common.cuh"

namespace sqex {
namespace cuda {

// Pooling: fp32 runs of pool_run<T>() elements, fp64 across runs. fp32 storage adds every
// element in fp64 (v7): at |x| ~ 1e4 a fp32 run of 16 is off by ~1e-3, ~2e-5 in a 7x7 mean,
// which alone moved unsaturated gates by 7-9e-5 (numpy model of the kernel, NOTES v7).
// fp16/bf16 (looser bound, 2x the elements per byte) keep the runs of 16.
template <typename T> __host__ __device__ constexpr int pool_run() {
  return std::is_same<T, float>::value ? 1 : 16;
}

struct FusedArgs {
  const void* x;
  const void* res;
  void* y;
  float* scale_out;
  const float* w1;
  const float* b1;
  const float* w2;
  const float* b2;
  const float* aux;
  int N, C, H, W, HW, hidden;
  int act, gate, out_relu, two_fc, eca_k, sk;
  float sbias;
  // tiling
  int T;            // tiles per sample
  int upt;          // units per tile
  int upc;          // units per shared-memory chunk
  int total_tiles;  // N * T
  int fc1_blocks;   // blocks of a sample sharing the first FC (SE two-FC, CBAM)
  int fc1_local;    // first FC small: every block computes all of it (no barrier)
  int ct;           // NHWC, SE/ECA, small H*W: tiles are channel ranges over all positions
  int s_local;      // NHWC: every block computes all C gates itself (cheap excitation)
  int s_blocks;     // NHWC, !s_local: blocks sharing the gate computation
  int vec_ok;       // x, y, residual share their alignment mod 16: 16-byte path in apply
  int tile_area;    // bytes of shared memory reserved for a chunk (+16 alignment slack)
  int g_len;        // CBAM: floats of the spatial-gate buffer in shared memory
  int grp;          // SE sample groups: samples per barrier domain (1 = off), see se_group_tile
  int slot;         // grp > 1: bytes of the tile area per sample of the group
  // workspace (device), see plan in launch.cuh
  unsigned* cnt;     // [N] per-sample barrier counters
  unsigned* ticket;  // [2] next tile, blocks done
  // means, channel partial sums and hidden layers are fp64 end to end (v7: their fp32 rounding
  // moved unsaturated gates by up to 9e-5 at |x| ~ 1e4); maxes are exact in fp32.
  double* zmean;     // [N][C]
  float* zmax;       // [N][C] (CBAM)
  double* part;      // NHWC [N][T][C] partial sums
  float* pmax;       // NHWC CBAM [N][T][C] partial maxes
  double* hid;       // [N][hidden]
  double* hidmax;    // CBAM [N][hidden]
  float* sbuf;       // [N][C]
  float* spart;      // CBAM NCHW [N][T][2][HW]
  float* map;        // CBAM [N][2][HW] (mean map, max map)
  float* gbuf;       // CBAM NCHW [N][HW]
};

// Shared memory after the tile area, offsets in floats. z, zmax, hid, hidmax hold doubles
// (2 floats each).
struct SmemLayout {
  int z, zmax, hid, hidmax, s, g, red, total;
};
__host__ __device__ inline SmemLayout smem_layout(int op, int C, int hidden, int g_len, int grp = 1) {
  // every vector starts on a 16-byte boundary (float4 reads in apply_chunk, double2 reads in
  // the FC dots)
  auto r4 = [](int v) { return (v + 3) & ~3; };
  SmemLayout L;
  int o = 0;
  const bool cbam = op == static_cast<int>(Op::CBAM);
  L.z = o;
  o += 2 * r4(C);
  L.zmax = o;
  o += cbam ? 2 * r4(C) : 0;
  L.hid = o;
  o += (op == static_cast<int>(Op::ECA)) ? 0 : 2 * r4(hidden) * grp;
  L.hidmax = o;
  o += cbam ? 2 * r4(hidden) : 0;
  L.s = o;
  o += r4(C);
  L.g = o;
  o += cbam ? r4(g_len) : 0;
  L.red = o;  // kThreads doubles + kThreads floats (pooling); CBAM: also the conv halo
  o += cbam ? (3 * kThreads > kHalo ? 3 * kThreads : kHalo) : 3 * kThreads;
  L.total = o;
  return L;
}

// Copies ne elements at g (any alignment) into the tile area so that smem and global agree
// mod 16 (vector chunks then line up), and returns the shared address of element 0.
template <typename T>
__device__ __forceinline__ const T* load_chunk_issue(unsigned char* area, const T* g, int64_t ne) {
  const int tid = threadIdx.x;
  const int mis = static_cast<int>(reinterpret_cast<uintptr_t>(g) & 15);
  T* s = reinterpret_cast<T*>(area + mis);
  const int64_t nbytes = ne * static_cast<int64_t>(sizeof(T));
  int64_t head = mis ? (16 - mis) : 0;
  if (head > nbytes) head = nbytes;
  const int64_t nvec = (nbytes - head) / 16;
  const int64_t he = head / static_cast<int64_t>(sizeof(T));
  const int64_t tail_start = he + nvec * (16 / static_cast<int64_t>(sizeof(T)));
  const char* gb = reinterpret_cast<const char*>(g) + head;
  unsigned char* sb = area + mis + head;
  for (int64_t k = tid; k < nvec; k += kThreads) cp_async16(sb + 16 * k, gb + 16 * k);
  for (int64_t i = tid; i < he; i += kThreads) s[i] = g[i];
  for (int64_t i = tail_start + tid; i < ne; i += kThreads) s[i] = g[i];
  return s;
}
template <typename T>
__device__ __forceinline__ const T* load_chunk(unsigned char* area, const T* g, int64_t ne) {
  const T* s = load_chunk_issue<T>(area, g, ne);
  cp_async_wait_all();
  __syncthreads();
  return s;
}

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
    if (rd) v += to_f(rd[i]);
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
      if (rv) v += rf[e];
      if (relu) v = relu_f(v);
      f[e] = v;
    }
    Vec<T> vy;
    vy.pack(f);
    yv[k] = vy.raw;
  }
}

// NCHW pooling of a chunk of whole channels [cu0, cu1): complete per-channel mean (and max).
template <bool kMax, typename T>
__device__ __forceinline__ void pool_nchw(const FusedArgs& a, const T* xs, int n, int64_t cu0,
                                          int64_t cu1) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int HW = a.HW;
  const int64_t ncl = cu1 - cu0;
  if (HW >= 64) {
    // warp per channel; 16-byte shared loads over the aligned body of the row
    constexpr int VE = Vec<T>::kN;
    for (int64_t cl = warp; cl < ncl; cl += kWarps) {
      const T* row = xs + cl * HW;
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
      sum = warp_sum(sum);
      if (kMax) mx = warp_max(mx);
      if (lane == 0) {
        const int64_t c = cu0 + cl;
        __stcg(a.zmean + static_cast<int64_t>(n) * a.C + c, sum / HW);
        if (kMax) __stcg(a.zmax + static_cast<int64_t>(n) * a.C + c, mx);
      }
    }
  } else {
    // thread per channel (HW < 64): fp32 runs (pool_run), fp64 across runs
    constexpr int R = pool_run<T>();
    for (int64_t cl = tid; cl < ncl; cl += kThreads) {
      const T* row = xs + cl * HW;
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
      const int64_t c = cu0 + cl;
      __stcg(a.zmean + static_cast<int64_t>(n) * a.C + c, sum / HW);
      if (kMax) __stcg(a.zmax + static_cast<int64_t>(n) * a.C + c, mx);
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
                                       double* z_sm, double* zmax_sm) {
  const int64_t base = static_cast<int64_t>(n) * a.C;
  for (int64_t c = c0 + threadIdx.x; c < c1; c += kThreads) {
    z_sm[c] = __ldcg(a.zmean + base + c);
    if (zmax_sm) zmax_sm[c] = double(__ldcg(a.zmax + base + c));
  }
}

}  // namespace cuda
}  // namespace sqex

#include "cbam.cuh"
#include "eca.cuh"
#include "se.cuh"

namespace sqex {
namespace cuda {

// ---- NHWC channel tiles (ct): a tile is channels [c0, c0 + w) at every position, held as
// [HW][w] in shared memory. Pooling is then complete per channel (no partials, no extra barrier),
// as in NCHW. The host picks it only when C and w are multiples of the vector width, x/y/residual
// are 16-byte aligned, and each row segment is >= 128 bytes.
template <typename T>
__device__ __forceinline__ const T* load_ct_issue(unsigned char* area, const T* xn, int C, int HW, int64_t c0,
                                                  int w) {
  constexpr int VE = Vec<T>::kN;
  const int vpr = w / VE, total = HW * vpr;
  T* s = reinterpret_cast<T*>(area);
  for (int k = threadIdx.x; k < total; k += kThreads) {
    const int p = k / vpr, v = k - p * vpr;
    cp_async16(s + p * w + v * VE, xn + static_cast<int64_t>(p) * C + c0 + v * VE);
  }
  return s;
}
template <typename T>
__device__ __forceinline__ const T* load_ct(unsigned char* area, const T* xn, int C, int HW, int64_t c0,
                                            int w) {
  const T* s = load_ct_issue<T>(area, xn, C, HW, c0, w);
  cp_async_wait_all();
  __syncthreads();
  return s;
}

template <typename T>
__device__ __forceinline__ void pool_ct(const FusedArgs& a, const T* xs, int n, int64_t c0, int w,
                                        float* red) {
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
      __stcg(a.zmean + zb + tid, s2 / HW);
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
      __stcg(a.zmean + zb + cl, sum / HW);
    }
  }
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
      if (rn) f[e] += rf[e];
      if (relu) f[e] = relu_f(f[e]);
    }
    Vec<T> vy;
    vy.pack(f);
    *reinterpret_cast<uint4*>(yn + og) = vy.raw;
  }
}

// Gate computation for channels [c0, c1) into s_sm (absolute channel index); also to
// sbuf (for other blocks) and/or scale_out when asked.
template <int OP, int UNR>
__device__ __forceinline__ void gates_for(const FusedArgs& a, int n, int64_t c0, int64_t c1,
                                          double* z_sm, double* zmax_sm, double* hid_sm,
                                          double* hidmax_sm, float* s_sm, bool to_sbuf,
                                          bool to_scale_out, double* scratch) {
  if constexpr (OP == static_cast<int>(Op::SE)) {
    se_gates<UNR>(a, n, c0, c1, z_sm, hid_sm, s_sm, to_sbuf, to_scale_out, scratch);
  } else if constexpr (OP == static_cast<int>(Op::ECA)) {
    eca_gates(a, n, c0, c1, z_sm, s_sm, to_sbuf, to_scale_out);
  } else {
    cbam_gates<UNR>(a, n, c0, c1, hid_sm, hidmax_sm, s_sm, to_sbuf, scratch);
  }
}

// One tile of an SE sample group (a.grp > 1; host: SE two-FC, hidden*C large, channel-owning
// tiles that fit in shared memory). Group gidx = samples [n0, n0 + nv); the tile is channels
// [u0, u1) of each of them (NCHW: channel rows; NHWC: ct tiles), one slot of a.slot bytes each.
// The group's blocks meet at one counter per group. FC1 is split into (sample, row range)
// pairs over the group's tiles; each tile's gate rows are computed for all nv samples from one
// read of its W2 rows (the per-sample W2 reads were the uncoalesced, L2-bound part: one thread
// per 512-byte row). Gates of sample g live at s_sm[g * upt + (c - u0)].
template <int OP, typename T, bool NHWC>
__device__ __forceinline__ void se_group_tile(const FusedArgs& a, int tile, unsigned char* smem,
                                              double* z_sm, double* hid_sm, float* s_sm, float* red,
                                              double* scratch) {
  const int tid = threadIdx.x;
  const int G = a.grp, Tn = a.T;
  const int gidx = tile / Tn, j = tile - gidx * Tn;
  const int n0 = gidx * G;
  const int nv = a.N - n0 < G ? a.N - n0 : G;
  const int64_t U = a.C;
  const int64_t unit = NHWC ? a.C : a.HW;  // NHWC: ct tiles (channel range, all positions)
  const int64_t u0 = static_cast<int64_t>(j) * a.upt;
  const int64_t u1 = min(U, u0 + a.upt);
  const int w = static_cast<int>(u1 - u0);
  const int64_t sample_elems = static_cast<int64_t>(a.C) * a.HW;
  unsigned* cnt = a.cnt + gidx;
  int phase = 0;
  const T* xs[kMaxGrp];
  // ---- pass 1: load the nv slices (all copies in flight at once), then pool each
#pragma unroll
  for (int g = 0; g < kMaxGrp; ++g) {
    if (g < nv) {
      const T* xn = static_cast<const T*>(a.x) + (n0 + g) * sample_elems;
      unsigned char* area = smem + static_cast<int64_t>(g) * a.slot;
      if constexpr (NHWC) xs[g] = load_ct_issue<T>(area, xn, a.C, a.HW, u0, w);
      else xs[g] = load_chunk_issue<T>(area, xn + u0 * unit, (u1 - u0) * unit);
    } else {
      xs[g] = nullptr;
    }
  }
  cp_async_wait_all();
  __syncthreads();
  if (!NHWC && a.HW < 64) {
    // thread per channel row over all nv samples at once (pool_nchw's small-H*W path sample by
    // sample left 3/4 of the threads idle at w ~ upt/G rows); same arithmetic per channel
    const int HW = a.HW;
    for (int idx = tid; idx < nv * w; idx += kThreads) {
      const int g = idx / w, cl = idx - g * w;
      const T* src = static_cast<const T*>(a.x) + (n0 + g) * sample_elems + u0 * unit;
      const T* row = reinterpret_cast<const T*>(smem + static_cast<int64_t>(g) * a.slot +
                                                (reinterpret_cast<uintptr_t>(src) & 15)) + cl * HW;
      double sum = 0.0;
      constexpr int R = pool_run<T>();
      for (int i0 = 0; i0 < HW; i0 += R) {
        const int ie = i0 + R < HW ? i0 + R : HW;
        float run = 0.f;
        for (int i = i0; i < ie; ++i) run += to_f(row[i]);
        sum += run;
      }
      __stcg(a.zmean + static_cast<int64_t>(n0 + g) * a.C + u0 + cl, sum / HW);
    }
    __syncthreads();
  } else {
#pragma unroll
    for (int g = 0; g < kMaxGrp; ++g) {
      if (g < nv) {
        if constexpr (NHWC) pool_ct<T>(a, xs[g], n0 + g, u0, w, red);
        else pool_nchw<false>(a, xs[g], n0 + g, u0, u1);
        __syncthreads();
      }
    }
  }
  sample_sync(cnt, phase, Tn);  // A: all means of the group are in
  // ---- FC1 for the group: (sample, row range) pairs over the group's tiles, R tiles per
  // sample (measured: sharing one W1 read across the group's samples with K-chunked z made the
  // FC1 blocks 4x longer while the others waited; W1 rows are read coalesced anyway).
  {
    const int R = max(1, min(a.hidden, Tn / nv));
    if (j < nv * R) {
      const int g = j / R, r = j - g * R;
      const int n = n0 + g;
      load_z(a, n, 0, a.C, z_sm, nullptr);
      __syncthreads();
      int64_t h0, h1;
      split_range(a.hidden, R, r, h0, h1);
      fc1_rows(a, n, h0, h1, z_sm, nullptr, scratch);
    }
  }
  sample_sync(cnt, phase, Tn);  // B: hidden layers of the group are in
  // ---- gates of this tile's channels for the nv samples (one read of the W2 rows)
  const int hs = (a.hidden + 3) & ~3;
  const int upt = a.upt;
  const double* hg = a.hid + static_cast<int64_t>(n0) * a.hidden;
  for (int i = tid; i < nv * a.hidden; i += kThreads) {
    const int g = i / a.hidden;
    hid_sm[g * hs + (i - g * a.hidden)] = __ldcg(hg + i);
  }
  __syncthreads();
  block_rows_dot_grp(a.w2, u0, u1, a.hidden, nv, hid_sm, hs, scratch, [&](int64_t c, int g, double v) {
    const float s = gate_f(static_cast<float>(v + (a.b2 ? double(__ldg(a.b2 + c)) : 0.0)), a.gate);
    s_sm[g * upt + (c - u0)] = s;
    if (a.scale_out) a.scale_out[static_cast<int64_t>(n0 + g) * a.C + c] = s;
  });
  __syncthreads();
  // ---- pass 2: scale and write each slice
#pragma unroll
  for (int g = 0; g < kMaxGrp; ++g) {
    if (g < nv) {
      const int64_t off = (n0 + g) * sample_elems;
      T* yn = static_cast<T*>(a.y) + off;
      const T* rn = a.res ? static_cast<const T*>(a.res) + off : nullptr;
      const float* sg = s_sm + g * upt - u0;  // indexed by absolute channel
      if constexpr (NHWC) {
        apply_ct<T>(a, xs[g], yn, rn, u0, w, sg);
      } else {
        apply_chunk<OP, T, NHWC>(a, xs[g], yn + u0 * unit, rn ? rn + u0 * unit : nullptr,
                                 (u1 - u0) * unit, u0, sg, nullptr, 0);
      }
    }
  }
  sample_depart(cnt, phase, Tn);
}

// Tile tickets (both persistent kernels): blocks take tiles in increasing order, one ticket per
// block at a time; s_tile is the kernel's __shared__ slot for broadcasting it.
__device__ __forceinline__ int next_tile(const FusedArgs& a, int& s_tile) {
  if (threadIdx.x == 0) s_tile = static_cast<int>(atomicAdd(a.ticket, 1u));
  __syncthreads();
  const int tile = s_tile;
  __syncthreads();
  return tile;
}

// The last block out of the grid resets the tickets for the next launch on this workspace (no
// memset per call).
__device__ __forceinline__ void release_tickets(const FusedArgs& a) {
  if (threadIdx.x == 0) {
    __threadfence();
    if (atomicAdd(a.ticket + 1, 1u) == gridDim.x - 1) {
      atomicExch(a.ticket, 0u);
      atomicExch(a.ticket + 1, 0u);
    }
  }
}

template <int OP, typename T, bool NHWC>
__global__ void __launch_bounds__(kThreads, kMinBlocks) fused_kernel(const FusedArgs a) {
  constexpr bool kCbam = OP == static_cast<int>(Op::CBAM);
  constexpr bool kEca = OP == static_cast<int>(Op::ECA);
  // unroll of the FC row dots: measured with ptxas -v (v7), 2 keeps SE NCHW spill-free
  constexpr int kDotUnroll = (OP == static_cast<int>(Op::SE) && !NHWC) ? 2 : 4;
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ int s_tile;
  const SmemLayout L = smem_layout(OP, a.C, a.hidden, a.g_len, a.grp);
  float* fx = reinterpret_cast<float*>(smem + a.tile_area);
  double* z_sm = reinterpret_cast<double*>(fx + L.z);
  double* zmax_sm = kCbam ? reinterpret_cast<double*>(fx + L.zmax) : nullptr;
  double* hid_sm = reinterpret_cast<double*>(fx + L.hid);
  double* hidmax_sm = reinterpret_cast<double*>(fx + L.hidmax);
  float* s_sm = fx + L.s;
  float* g_sm = fx + L.g;
  float* red = fx + L.red;
  double* scratch = reinterpret_cast<double*>(red);  // FC partials (2 * kWarps doubles)
  const int tid = threadIdx.x;
  const bool ct = NHWC && !kCbam && a.ct != 0;
  const int64_t U = (NHWC && !ct) ? a.HW : a.C;
  const int64_t unit = NHWC ? a.C : a.HW;
  const int64_t sample_elems = static_cast<int64_t>(a.C) * a.HW;
  const int Tn = a.T;

  for (;;) {
    const int tile = next_tile(a, s_tile);
    if (tile >= a.total_tiles) break;
    const int n = tile / Tn, j = tile - n * Tn;
    const int64_t u0 = static_cast<int64_t>(j) * a.upt;
    const int64_t u1 = min(U, u0 + a.upt);
    const int nchunks = static_cast<int>((u1 - u0 + a.upc - 1) / a.upc);
    const bool held = nchunks == 1;
    unsigned* cnt = a.cnt + n;
    int phase = 0;
    const T* xn = static_cast<const T*>(a.x) + n * sample_elems;
    T* yn = static_cast<T*>(a.y) + n * sample_elems;
    const T* rn = a.res ? static_cast<const T*>(a.res) + n * sample_elems : nullptr;
    const T* chunk_sm = nullptr;

    // ---- pass 1: pooling ------------------------------------------------------------
    if (ct) {
      chunk_sm = load_ct<T>(smem, xn, a.C, a.HW, u0, static_cast<int>(u1 - u0));
      pool_ct<T>(a, chunk_sm, n, u0, static_cast<int>(u1 - u0), red);
      __syncthreads();
    }
    for (int ch = 0; ch < (ct ? 0 : nchunks); ++ch) {
      const int64_t cu0 = u0 + static_cast<int64_t>(ch) * a.upc;
      const int64_t cu1 = min(u1, cu0 + a.upc);
      chunk_sm = load_chunk<T>(smem, xn + cu0 * unit, (cu1 - cu0) * unit);
      if constexpr (NHWC) {
        double* prow = a.part + (static_cast<int64_t>(n) * Tn + j) * a.C;
        float* mrow = kCbam ? a.pmax + (static_cast<int64_t>(n) * Tn + j) * a.C : nullptr;
        pool_nhwc<kCbam>(a, chunk_sm, cu1 - cu0, prow, mrow, ch == 0, red);
      } else {
        pool_nchw<kCbam>(a, chunk_sm, n, cu0, cu1);
      }
      __syncthreads();
    }
    sample_sync(cnt, phase, Tn);  // A: all partials of n are in
    if (NHWC && !ct) {
      // channel means from the tiles' partials, channels split over the sample's blocks
      int64_t c0, c1;
      split_range(a.C, Tn, j, c0, c1);
      const int64_t nb = static_cast<int64_t>(n) * a.C;
      const double* pp = a.part + nb * Tn;
      block_strided_reduce<kCbam>(pp, kCbam ? a.pmax + nb * Tn : nullptr, a.C, Tn, c0, c1, scratch,
                                  red + 2 * kThreads, [&](int64_t c, double sum, float mx) {
                                    __stcg(a.zmean + nb + c, sum / a.HW);
                                    if (kCbam) __stcg(a.zmax + nb + c, mx);
                                  });
      sample_sync(cnt, phase, Tn);  // A2: means of n are in
    }

    // ---- excitation: s_sm[c] for the channels this tile needs ----------------------
    if constexpr (!kEca) {
      const bool two_fc = kCbam || a.two_fc;
      if (two_fc && a.fc1_local) {
        load_z(a, n, 0, a.C, z_sm, zmax_sm);
        __syncthreads();
        fc1_rows<kDotUnroll>(a, n, 0, a.hidden, z_sm, zmax_sm, scratch, hid_sm, hidmax_sm);
      } else if (two_fc) {
        if (j < a.fc1_blocks) {
          load_z(a, n, 0, a.C, z_sm, zmax_sm);
          __syncthreads();
          int64_t h0, h1;
          split_range(a.hidden, a.fc1_blocks, j, h0, h1);
          fc1_rows<kDotUnroll>(a, n, h0, h1, z_sm, zmax_sm, scratch);
        }
        sample_sync(cnt, phase, Tn);  // B: hidden layer of n is in
        const int64_t hb = static_cast<int64_t>(n) * a.hidden;
        for (int h = tid; h < a.hidden; h += kThreads) {
          hid_sm[h] = __ldcg(a.hid + hb + h);
          if (kCbam) hidmax_sm[h] = __ldcg(a.hidmax + hb + h);
        }
      } else {
        load_z(a, n, 0, a.C, z_sm, nullptr);  // single FC needs all of z
      }
      __syncthreads();
    } else {
      // ECA: z over the channels the 1-D conv touches
      const int pad = (a.eca_k - 1) / 2;
      const int64_t c0 = (NHWC && !ct) ? 0 : (u0 - pad > 0 ? u0 - pad : int64_t(0));
      const int64_t c1 = (NHWC && !ct) ? a.C : (u1 + pad < a.C ? u1 + pad : int64_t(a.C));
      load_z(a, n, c0, c1, z_sm, nullptr);
      __syncthreads();
    }
    const bool want_scale_out = a.scale_out != nullptr && !kCbam;
    if (!NHWC || ct) {
      gates_for<OP, kDotUnroll>(a, n, u0, u1, z_sm, zmax_sm, hid_sm, hidmax_sm, s_sm, false, want_scale_out, scratch);
    } else {
      if (a.s_local) {
        gates_for<OP, kDotUnroll>(a, n, 0, a.C, z_sm, zmax_sm, hid_sm, hidmax_sm, s_sm, false,
                      want_scale_out && j == 0, scratch);
      } else {
        if (j < a.s_blocks) {
          int64_t c0, c1;
          split_range(a.C, a.s_blocks, j, c0, c1);
          gates_for<OP, kDotUnroll>(a, n, c0, c1, z_sm, zmax_sm, hid_sm, hidmax_sm, s_sm, true,
                        want_scale_out, scratch);
        }
        sample_sync(cnt, phase, Tn);  // C: all gates of n are in
        for (int c = tid; c < a.C; c += kThreads)
          s_sm[c] = __ldcg(a.sbuf + static_cast<int64_t>(n) * a.C + c);
      }
    }
    __syncthreads();

    // ---- CBAM spatial gate -----------------------------------------------------------
    int64_t g_base = 0;
    if constexpr (kCbam) {
      g_base = cbam_spatial<T, NHWC>(a, n, j, u0, u1, nchunks, held, xn, chunk_sm, smem, s_sm,
                                     g_sm, red, cnt, phase);  // red doubles as the conv halo
    }

    // ---- pass 2: scale and write ----------------------------------------------------
    if (ct) apply_ct<T>(a, chunk_sm, yn, rn, u0, static_cast<int>(u1 - u0), s_sm);
    for (int ch = 0; ch < (ct ? 0 : nchunks); ++ch) {
      const int64_t cu0 = u0 + static_cast<int64_t>(ch) * a.upc;
      const int64_t cu1 = min(u1, cu0 + a.upc);
      const int64_t ne = (cu1 - cu0) * unit;
      if (!held) chunk_sm = load_chunk<T>(smem, xn + cu0 * unit, ne);
      apply_chunk<OP, T, NHWC>(a, chunk_sm, yn + cu0 * unit, rn ? rn + cu0 * unit : nullptr, ne,
                               cu0, s_sm, g_sm, g_base);
      __syncthreads();
    }
    sample_depart(cnt, phase, Tn);
  }
  release_tickets(a);
}

// SE with sample groups (a.grp > 1): its own kernel so that the ungrouped kernel keeps its
// register allocation (inlining the group path into it made it spill).
template <typename T, bool NHWC>
__global__ void __launch_bounds__(kThreads, kMinBlocks) se_group_kernel(const FusedArgs a) {
  constexpr int OP = static_cast<int>(Op::SE);
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ int s_tile;
  const SmemLayout L = smem_layout(OP, a.C, a.hidden, a.g_len, a.grp);
  float* fx = reinterpret_cast<float*>(smem + a.tile_area);
  double* scratch = reinterpret_cast<double*>(fx + L.red);
  for (;;) {
    const int tile = next_tile(a, s_tile);
    if (tile >= a.total_tiles) break;
    se_group_tile<OP, T, NHWC>(a, tile, smem, reinterpret_cast<double*>(fx + L.z),
                               reinterpret_cast<double*>(fx + L.hid), fx + L.s, fx + L.red, scratch);
  }
  release_tickets(a);
}

}  // namespace cuda
}  // namespace sqex
