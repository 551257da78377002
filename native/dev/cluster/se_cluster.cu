// Thread-block-cluster variants of SE / ECA for the latency-bound (batch 1) cases, with checks
// and timing in one program (llm.c dev/cuda style). Predictions and results: NOTES.md here.
//
//   build: bash native/dev/cluster/build.sh        (sm_90; -DWITH_SHIPPED links the shipped kernels)
//   run:   build-cluster/se_cluster [check|bench|all|quick|mini] [out_dir]   (GPU session: run.sh)
//   no GPU: se_cluster selftest (chunk geometry, planner on a synthetic H200);
//           se_cluster refdump DIR + ref_vs_torch.py DIR (the float64 reference against PyTorch)
//
// Variants (one kernel template, cluster_kernel<OP, T, NHWC>, configured by the host planner):
//   v1  one cluster of K = 16 CTAs (8 if 16 cannot be resident) per sample, x held in the
//       cluster's shared memory (TMA bulk loads, per-chunk mbarriers), hardware cluster
//       barriers and distributed shared memory only; samples too big for 16 x ~220 KB hold
//       what fits and re-read the rest from L2.
//   v2  as v1, nothing held: pooling reads x from global, the scale pass re-reads it (L2).
//   v3  G clusters per sample (G*K ~ the SM count; persistent over samples), x held, one global
//       spin barrier per sample among the G clusters (G arrivals).
//   v4  as v3, nothing held.
//   floor16 / floorR: the same contiguous partition over 16 / ~128 CTAs doing only the bulk load
//       and the store: what that many SMs can move, the floor of v1 / v3.
//   base   the shipped persistent kernel through sqex::cuda_forward (when built WITH_SHIPPED).
//
// Checks: float64 CPU reference with PyTorch's NaN rules (NaN and +-Inf travel through the mean,
// the FCs, relu and the sigmoid; ECA's zero padding is an operand), fresh random inputs (never
// zeros), outputs poisoned (NaN bytes) with guard elements on both sides, every CUDA call and
// every launch checked, each run twice and compared bitwise.
// Tolerance: fp32 1e-5 of max|ref|; fp16 2^-10 * max|ref| + 1e-5 (the kernels compute in fp32/fp64
// from the same rounded inputs as the reference; the final rounding of y to fp16 is at most half
// an ulp, 2^-11 relative, and we allow two). NaN must meet NaN, +-Inf the same infinity.
// Timing: CUDA events around each launch (median), and CUDA-graph replay (median per op), beside
// a same-size device-to-device cudaMemcpy timed the same ways in the same run; inputs and outputs
// rotate among enough sets to exceed 3x the L2 when a set is small. Weights stay L2-resident
// (the same weights every launch), as in the shipped benchmark.
#include <cooperative_groups.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>


#ifdef WITH_SHIPPED
#include "sqex/cuda_api.h"
#endif

// =====================================================================================================
// Device code
// =====================================================================================================
// One kernel template, cluster_kernel<OP, T, NHWC>, covers the variants (the host picks G and
// the held size):
//   - a sample is owned by G clusters of K CTAs (CTA q = g*K + r of R = G*K owns a contiguous
//     range of units: channels in NCHW, positions in NHWC);
//   - held units are fetched with cp.async.bulk into up to kMaxChunks chunks, each completing on
//     its own mbarrier; units that do not fit in shared memory are read from global in both
//     passes;
//   - G == 1: the sample's CTAs talk through distributed shared memory and hardware cluster
//     barriers only; G > 1: one global spin barrier per sample among the G clusters (rank 0 of
//     each cluster arrives once).
// Bitwise deterministic: every reduction has a fixed assignment and order, no float atomics.
// NaN rules of the PyTorch modules: sums and dots are plain IEEE (NaN / Inf travel), relu keeps
// NaN, sigmoid(NaN) = NaN, ECA's zero padding is an operand (w * 0).
namespace clu {
namespace cg = cooperative_groups;

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxChunks = 16;
constexpr unsigned kFull = 0xffffffffu;

enum { kSE = 0, kECA = 1 };

// ---- storage <-> fp32 --------------------------------------------------------------------
__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }

template <typename T> struct Vec {
  static constexpr int kN = 16 / sizeof(T);
  union {
    uint4 raw;
    T e[kN];
  };
  __device__ __forceinline__ void unpack(float* f) const {
#pragma unroll
    for (int i = 0; i < kN; ++i) f[i] = to_f(e[i]);
  }
  __device__ __forceinline__ void pack(const float* f) {
#pragma unroll
    for (int i = 0; i < kN; ++i) e[i] = from_f<T>(f[i]);
  }
};

// relu that keeps NaN (torch.relu); the fp64 hidden layer.
__device__ __forceinline__ double relu_d(double v) { return v < 0.0 ? 0.0 : v; }
// expf, not __expf (accuracy at |v| ~ 100, NOTES-cuda.md); sigmoid(NaN) = NaN, (+-inf) = 1 / 0.
__device__ __forceinline__ float sigmoid_f(float v) { return 1.f / (1.f + expf(-v)); }

__host__ __device__ __forceinline__ void split_range(int64_t total, int64_t parts, int64_t i, int64_t& lo,
                                                     int64_t& hi) {
  lo = total * i / parts;
  hi = total * (i + 1) / parts;
}
// Index of the part of split_range(total, parts, .) that holds u (0 <= u < total).
__host__ __device__ __forceinline__ int64_t owner_of(int64_t u, int64_t total, int64_t parts) {
  return ((u + 1) * parts - 1) / total;
}

// ---- PTX wrappers (sm_90) ----------------------------------------------------------------
__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbar_init(uint64_t* bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void fence_mbar_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
// Generic-proxy accesses to shared memory before, async-proxy (bulk copy) writes after.
__device__ __forceinline__ void fence_proxy_async_smem() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ bool mbar_try_wait(uint64_t* bar, uint32_t parity) {
  uint32_t ok;
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
      "selp.u32 %0, 1, 0, p;\n"
      "}\n"
      : "=r"(ok)
      : "r"(smem_u32(bar)), "r"(parity)
      : "memory");
  return ok != 0;
}
// Spins are bounded (~1 s at 2 GHz): a copy that never completes or a barrier partner that never
// comes traps (a CUDA error for this process) instead of hanging the session.
constexpr long long kSpinLimit = 1ll << 31;
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  if (mbar_try_wait(bar, parity)) return;
  const long long t0 = clock64();
  while (!mbar_try_wait(bar, parity))
    if (clock64() - t0 > kSpinLimit) __trap();
}
// global -> this CTA's shared memory, completing on bar (16-byte aligned, bytes % 16 == 0).
__device__ __forceinline__ void bulk_g2s(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
          smem_u32(dst)),
      "l"(src), "r"(bytes), "r"(smem_u32(bar))
      : "memory");
}
// Ampere-style async copies for the weight slices (4 or 16 bytes, any 4/16-aligned address).
__device__ __forceinline__ void cp_async4(void* dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(smem_u32(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_u32(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;\n" ::: "memory"); }
// Hardware cluster barrier, split so that the wait can be deferred (every thread of every CTA of
// the cluster arrives; arrive and wait alternate).
// (.aligned: the warp must be converged; __syncwarp makes sure after divergent code.)
__device__ __forceinline__ void cluster_arrive() {
  __syncwarp();
  asm volatile("barrier.cluster.arrive.release.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void cluster_wait() {
  __syncwarp();
  asm volatile("barrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void cluster_sync_all() {
  cluster_arrive();
  cluster_wait();
}
__device__ __forceinline__ unsigned ld_acquire_gpu(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ void red_release_gpu_add(unsigned* p, unsigned v) {
  asm volatile("red.release.gpu.global.add.u32 [%0], %1;\n" ::"l"(p), "r"(v) : "memory");
}

// ---- arguments (all offsets computed on the host, see plan() below) -------------
struct Args {
  const void* x;
  void* y;
  const float* w1;
  const float* b1;
  const float* w2;
  const float* b2;
  const float* ew;  // ECA taps
  int N, C, HW, hidden, k;
  int K, G, groups;  // CTAs per cluster, clusters per sample, sample groups in the grid
  int hold;          // units per CTA held in shared memory (the rest is re-read from global)
  int wpre;          // weight slices prefetched into shared memory (SE)
  int vec_ok;        // x and y agree mod 16 (16-byte scale path)
  int fastpool;      // fp32 storage: fp32 runs (4 elements NCHW, 8 positions NHWC) into fp64 instead of
                     // every element in fp64 (F2F.F64.F32 issue rate); timing probe, fails |x| ~ 1e4
  // dynamic shared memory offsets in bytes
  int o_z, o_part, o_p, o_hid, o_s, o_red, o_w1, o_w2, o_area;
  long long* prof;  // optional phase probe: [gridDim.x][8] clock64 deltas of thread 0, first sample
  // G > 1: per-sample exchange in global memory, and the barrier counters (zero between launches)
  double* gx;  // [N][G][gstride]
  int gstride;
  unsigned* cnt;  // [N]
};

// ---- pooling -------------------------------------------------------------------------------
// Sum of row[i] for i = tk, tk + tpc, ... (in vector units over the 16-byte aligned body, element
// units over the ragged ends). fp32: every element added in fp64; fp16: fp32 runs of one vector.
template <typename T>
__device__ __forceinline__ double row_sum(const T* row, int len, int tk, int tpc, bool fast) {
  constexpr int VE = Vec<T>::kN;
  int head = static_cast<int>(((16 - (reinterpret_cast<uintptr_t>(row) & 15)) & 15) / sizeof(T));
  if (head > len) head = len;
  const int nvec = (len - head) / VE;
  const int tail = head + nvec * VE;
  double sum = 0.0;
  for (int i = tk; i < head; i += tpc) sum += static_cast<double>(to_f(row[i]));
  for (int i = tail + tk; i < len; i += tpc) sum += static_cast<double>(to_f(row[i]));
  const uint4* rv = reinterpret_cast<const uint4*>(row + head);
#pragma unroll 4
  for (int k = tk; k < nvec; k += tpc) {
    Vec<T> v;
    v.raw = rv[k];
    float f[VE];
    v.unpack(f);
    if (VE == 4 && !fast) {
      sum += (double(f[0]) + double(f[1])) + (double(f[2]) + double(f[3]));
    } else {
      float r = 0.f;
#pragma unroll
      for (int e = 0; e < VE; ++e) r += f[e];
      sum += r;
    }
  }
  return sum;
}

// Threads per channel row for NCHW pooling of nu rows of len elements: all rows in one pass
// when they fit, no more threads than ~len/4.
__host__ __device__ __forceinline__ int pool_tpc(int nu, int len) {
  int tpc = kThreads;
  const int rows = nu > 0 ? nu : 1;
  while (tpc > 1 && tpc * rows > kThreads) tpc >>= 1;
  while (tpc > 1 && tpc * 4 > len) tpc >>= 1;
  return tpc;
}

// Position groups for NHWC pooling (a power of two; 1 when the channel vectors fill the block).
__host__ __device__ __forceinline__ int nhwc_groups(int ncv) {
  int gp = 1;
  while (gp * 2 * ncv <= kThreads) gp <<= 1;
  return gp;
}

// ---- FC rows: dots of rows [0, nrows) of M (row stride ld, len columns) with fp64 vector v ------
// tpr lanes per row (power of two <= 32), fixed butterfly: deterministic. emit(row, dot) on the
// row's first lane. M may be global or shared memory (generic loads).
template <typename F>
__device__ __forceinline__ void rows_dot(const float* M, int ld, int nrows, int len, const double* v, F&& emit) {
  int tpr = 1;
  while (tpr < 32 && tpr < len) tpr <<= 1;
  const int rpp = kThreads / tpr;
  const int tr = threadIdx.x / tpr, tk = threadIdx.x - (threadIdx.x / tpr) * tpr;
  for (int base = 0; base < nrows; base += rpp) {
    const int row = base + tr;
    double acc = 0.0;
    if (row < nrows) {
      const float* m = M + static_cast<int64_t>(row) * ld;
#pragma unroll 4
      for (int c = tk; c < len; c += tpr) acc = fma(static_cast<double>(m[c]), v[c], acc);
    }
    for (int o = tpr >> 1; o > 0; o >>= 1) acc += __shfl_xor_sync(kFull, acc, o);
    if (row < nrows && tk == 0) emit(row, acc);
  }
}

// rows x len floats from src (row stride ld) into dst (row stride len), async (cp.async).
__device__ __forceinline__ void prefetch_rows(float* dst, const float* src, int64_t ld, int rows, int len) {
  const bool v16 = (len % 4 == 0) && (ld % 4 == 0) && ((reinterpret_cast<uintptr_t>(src) & 15) == 0) &&
                   ((reinterpret_cast<uintptr_t>(dst) & 15) == 0);
  if (v16) {
    const int vpr = len / 4, total = rows * vpr;
    for (int i = threadIdx.x; i < total; i += kThreads) {
      const int r = i / vpr, c = (i - r * vpr) * 4;
      cp_async16(dst + static_cast<int64_t>(r) * len + c, src + r * ld + c);
    }
  } else {
    const int total = rows * len;
    for (int i = threadIdx.x; i < total; i += kThreads) {
      const int r = i / len, c = i - r * len;
      cp_async4(dst + static_cast<int64_t>(r) * len + c, src + r * ld + c);
    }
  }
  cp_async_commit();
}

// ---- scale pass ----------------------------------------------------------------------------
// y[i] = x[i] * s[idx(i)] for i < ne, where (q, r) = divmod(i, D) and idx = r (NHWC: channel
// varies fastest) or q (NCHW: unit). 16-byte path when x and y agree mod 16.
template <typename T, bool kChanFast>
__device__ __forceinline__ void apply_scale(const T* xs, T* yd, int64_t ne64, int D, const float* s, bool vec_ok) {
  const int tid = threadIdx.x;
  const int ne = static_cast<int>(ne64);
  auto sc_of = [&](int i) -> float {
    const int q = i / D, r = i - q * D;
    return kChanFast ? s[r] : s[q];
  };
  if (!vec_ok) {
    for (int i = tid; i < ne; i += kThreads) yd[i] = from_f<T>(to_f(xs[i]) * sc_of(i));
    return;
  }
  constexpr int VE = Vec<T>::kN;
  const int mis = static_cast<int>(reinterpret_cast<uintptr_t>(yd) & 15);
  int he = mis ? (16 - mis) / static_cast<int>(sizeof(T)) : 0;
  if (he > ne) he = ne;
  const int nvec = (ne - he) / VE;
  const int tail = he + nvec * VE;
  for (int i = tid; i < he; i += kThreads) yd[i] = from_f<T>(to_f(xs[i]) * sc_of(i));
  for (int i = tail + tid; i < ne; i += kThreads) yd[i] = from_f<T>(to_f(xs[i]) * sc_of(i));
  const uint4* xv = reinterpret_cast<const uint4*>(xs + he);
  uint4* yv = reinterpret_cast<uint4*>(yd + he);
  const int step = kThreads * VE, step_q = step / D, step_r = step - step_q * D;
  int q0 = (he + tid * VE) / D, r0 = (he + tid * VE) - q0 * D;
#pragma unroll 2
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
    if (r + VE <= D) {
      if constexpr (kChanFast) {
        if ((r & 3) == 0) {
#pragma unroll
          for (int e = 0; e < VE; e += 4) {
            const float4 s4 = *reinterpret_cast<const float4*>(s + r + e);
            f[e] *= s4.x;
            f[e + 1] *= s4.y;
            f[e + 2] *= s4.z;
            f[e + 3] *= s4.w;
          }
        } else {
#pragma unroll
          for (int e = 0; e < VE; ++e) f[e] *= s[r + e];
        }
      } else {
        const float sv = s[q];
#pragma unroll
        for (int e = 0; e < VE; ++e) f[e] *= sv;
      }
    } else {
#pragma unroll
      for (int e = 0; e < VE; ++e) {
        f[e] *= kChanFast ? s[r] : s[q];
        if (++r == D) {
          r = 0;
          ++q;
        }
      }
    }
    Vec<T> vy;
    vy.pack(f);
    yv[k] = vy.raw;
  }
}

// ---- bulk fetch of the held part of a CTA's range ----------------------------------------------
// Held elements [0, ne) start at global g (any alignment); they land at area + (g & 15), so that
// shared and global agree mod 16. nch chunks of whole units (chunk i = units
// [nunits*i/nch, nunits*(i+1)/nch) of ue elements) each complete on mbar[i]; the <16-byte ragged
// ends of every chunk are plain loads by the block (a __syncthreads must follow before they are
// read). Chunk geometry is shared with the host self-test (mode selftest).
struct ChunkGeo {
  int64_t e0, e1;    // elements [e0, e1) of the held range
  uint64_t a0;       // first byte of the bulk copy (16-byte aligned global address)
  uint32_t bytes;    // bulk bytes (multiple of 16, may be 0)
  int hc, tc;        // ragged elements before / after the bulk part (hc + tc <= 2 * 15 / es < 32)
};
__host__ __device__ __forceinline__ ChunkGeo chunk_geo(uint64_t gbase, int es, int nunits, int64_t ue, int nch, int i) {
  ChunkGeo c;
  c.e0 = static_cast<int64_t>(nunits) * i / nch * ue;
  c.e1 = static_cast<int64_t>(nunits) * (i + 1) / nch * ue;
  const uint64_t b0 = gbase + static_cast<uint64_t>(c.e0) * es, b1 = gbase + static_cast<uint64_t>(c.e1) * es;
  const uint64_t a0 = (b0 + 15) & ~uint64_t(15), a1 = b1 & ~uint64_t(15);
  if (a1 > a0) {
    c.a0 = a0;
    c.bytes = static_cast<uint32_t>(a1 - a0);
    c.hc = static_cast<int>((a0 - b0) / es);
    c.tc = static_cast<int>((b1 - a1) / es);
  } else {
    c.a0 = a0;
    c.bytes = 0;
    c.hc = static_cast<int>(c.e1 - c.e0);
    c.tc = 0;
  }
  return c;
}

template <typename T>
__device__ __forceinline__ T* fetch_held(unsigned char* area, const T* g, int nunits, int64_t ue, int nch,
                                         uint64_t* mbar, bool first_use) {
  const uint64_t gbase = reinterpret_cast<uintptr_t>(g);
  const uint64_t abase = gbase & ~uint64_t(15);
  T* xs = reinterpret_cast<T*>(area + (gbase - abase));
  const int tid = threadIdx.x;
  if (tid == 0) {
    if (!first_use) fence_proxy_async_smem();  // previous sample's generic reads of the area
    for (int i = 0; i < nch; ++i) {
      const ChunkGeo c = chunk_geo(gbase, sizeof(T), nunits, ue, nch, i);
      mbar_arrive_expect_tx(&mbar[i], c.bytes);
      if (c.bytes) bulk_g2s(area + (c.a0 - abase), reinterpret_cast<const void*>(c.a0), c.bytes, &mbar[i]);
    }
  }
  // ragged ends: one warp per chunk (kMaxChunks * 32 == kThreads)
  static_assert(kMaxChunks * 32 == kThreads, "one warp per chunk for the ragged ends");
  const int i = tid >> 5, l = tid & 31;
  if (i < nch) {
    const ChunkGeo c = chunk_geo(gbase, sizeof(T), nunits, ue, nch, i);
    if (l < c.hc) xs[c.e0 + l] = g[c.e0 + l];
    else if (l < c.hc + c.tc) xs[c.e1 - c.tc + (l - c.hc)] = g[c.e1 - c.tc + (l - c.hc)];
  }
  return xs;
}

// One fp64 / fp32 load from the same shared-memory offset in CTA `rank` of the cluster (32-bit
// shared::cluster addresses: half the registers of map_shared_rank's generic pointers).
__device__ __forceinline__ uint32_t dsmem_addr(const void* local, int rank) {
  uint32_t ra;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(ra) : "r"(smem_u32(local)), "r"(rank));
  return ra;
}
__device__ __forceinline__ double ld_dsmem_f64(uint32_t ra) {
  double v;
  asm volatile("ld.shared::cluster.f64 %0, [%1];\n" : "=d"(v) : "r"(ra) : "memory");
  return v;
}
__device__ __forceinline__ float ld_dsmem_f32(uint32_t ra) {
  float v;
  asm volatile("ld.shared::cluster.f32 %0, [%1];\n" : "=f"(v) : "r"(ra) : "memory");
  return v;
}
// Sum over ranks 0..K-1 (K <= 16) of p[idx] in each CTA's shared memory, in rank order; the remote
// loads are issued 8 at a time before their adds (a plain loop waits out each DSMEM round trip).
__device__ __forceinline__ double sum_ranks(double* p, int64_t idx, int K) {
  double t = 0.0;
#pragma unroll
  for (int b = 0; b < 16; b += 8) {
    if (b < K) {
      double v[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) v[j] = b + j < K ? ld_dsmem_f64(dsmem_addr(p + idx, b + j)) : 0.0;
#pragma unroll
      for (int j = 0; j < 8; ++j)
        if (b + j < K) t += v[j];
    }
  }
  return t;
}
// The same over the G <= 16 cluster partials in global memory (L2), in cluster order.
__device__ __forceinline__ double sum_clusters(const double* p, int64_t stride, int G) {
  double t = 0.0;
#pragma unroll
  for (int b = 0; b < 16; b += 8) {
    double v[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) v[j] = b + j < G ? __ldcg(p + (b + j) * stride) : 0.0;
#pragma unroll
    for (int j = 0; j < 8; ++j)
      if (b + j < G) t += v[j];
  }
  return t;
}

// ---- the kernel ----------------------------------------------------------------------------
template <int OP, typename T, bool NHWC>
__global__ void __launch_bounds__(kThreads, 1) cluster_kernel(const Args a) {
  constexpr int VE = Vec<T>::kN;
  constexpr bool kSe = OP == kSE;
  extern __shared__ __align__(128) unsigned char smem[];
  cg::cluster_group cluster = cg::this_cluster();
  const int tid = threadIdx.x;
  const int K = a.K, G = a.G;
  const int r = static_cast<int>(cluster.block_rank());
  const int cid = blockIdx.x / K;
  const int g = cid % G;
  const int grp = cid / G;
  const int q = g * K + r;
  const int R = G * K;
  const int C = a.C, HW = a.HW, hidden = kSe ? a.hidden : 0;
  const int pad = kSe ? 0 : (a.k - 1) / 2;
  const int64_t U = NHWC ? HW : C;
  const int64_t ue = NHWC ? C : HW;
  int64_t u0, u1;
  split_range(U, R, q, u0, u1);
  const int nu = static_cast<int>(u1 - u0);
  const int nh = nu < a.hold ? nu : a.hold;
  const int nch = nh < kMaxChunks ? nh : kMaxChunks;
  // channel slice of this CTA for FC1 partials and gates: its own channels (NCHW) or slice r of K
  int64_t cs, ce;
  if (NHWC) split_range(C, K, r, cs, ce);
  else {
    cs = u0;
    ce = u1;
  }
  const int ns = static_cast<int>(ce - cs);

  uint64_t* mbar = reinterpret_cast<uint64_t*>(smem);
  double* zs = reinterpret_cast<double*>(smem + a.o_z);      // z of [cs - pad, ce + pad) at zs[c - cs + pad]
  double* part = reinterpret_cast<double*>(smem + a.o_part);  // NHWC: this CTA's channel sums [C]
  double* pp = reinterpret_cast<double*>(smem + a.o_p);       // SE: FC1 partial [hidden]
  double* hid = reinterpret_cast<double*>(smem + a.o_hid);    // SE: hidden layer [hidden]
  float* s = reinterpret_cast<float*>(smem + a.o_s);          // gates: NCHW own channels; NHWC all C
  double* red = reinterpret_cast<double*>(smem + a.o_red);    // pooling combine scratch
  float* w1s = reinterpret_cast<float*>(smem + a.o_w1);       // [hidden][ns]
  float* w2s = reinterpret_cast<float*>(smem + a.o_w2);       // [ns][hidden]
  unsigned char* area = smem + a.o_area;

  if (tid == 0) {
    for (int i = 0; i < kMaxChunks; ++i) mbar_init(&mbar[i], 1);
    fence_mbar_init();
  }
  // weight slices (the same for every sample of this CTA), off the critical path
  const bool wpre = kSe && a.wpre && ns > 0;
  if (wpre) {
    prefetch_rows(w1s, a.w1 + cs, C, hidden, ns);
    prefetch_rows(w2s, a.w2 + cs * hidden, hidden, ns, hidden);
  }
  __syncthreads();
  const float* W1 = wpre ? w1s : a.w1 + cs;
  const int ld1 = wpre ? ns : C;
  const float* W2 = wpre ? w2s : a.w2 + cs * hidden;
  bool waited_w = !wpre;

  const int64_t sample_elems = static_cast<int64_t>(C) * HW;
  const long long t_start = clock64();
  int it = 0;
  // phase probe (thread 0, first sample): 0 fetch issued, 1 pooled, 2 exchanged, 3 gated,
  // 4 scale stores issued, 5 guard passed
  auto stamp = [&](int k) {
    if (a.prof && it == 0 && tid == 0) a.prof[static_cast<int64_t>(blockIdx.x) * 8 + k] = clock64() - t_start;
  };
  for (int n = grp; n < a.N; n += a.groups, ++it) {
    const uint32_t parity = static_cast<uint32_t>(it & 1);
    const T* xn = static_cast<const T*>(a.x) + n * sample_elems;
    T* yn = static_cast<T*>(a.y) + n * sample_elems;
    const T* xg = xn + u0 * ue;  // this CTA's range in global
    T* yg = yn + u0 * ue;
    T* xs = nullptr;
    if (nh > 0) xs = fetch_held<T>(area, xg, nh, ue, nch, mbar, it == 0);
    __syncthreads();  // ragged ends of the held chunks are in
    stamp(0);

    // ---- pass 1: pooling ------------------------------------------------------------------
    if constexpr (!NHWC) {
      // complete channel means of the own channels into zs[pad + i]
      const int tpc = pool_tpc(nu, HW);
      const int rpp = kThreads / tpc;
      const int tr = tid / tpc, tk = tid - (tid / tpc) * tpc;
      const int lane = tid & 31, warp = tid >> 5;
      for (int base = 0; base < nu; base += rpp) {
        const int ul = base + tr;
        double sum = 0.0;
        if (ul < nu) {
          const T* row;
          if (ul < nh) {
            mbar_wait(&mbar[owner_of(ul, nh, nch)], parity);
            row = xs + static_cast<int64_t>(ul) * HW;
          } else {
            row = xg + static_cast<int64_t>(ul) * HW;
          }
          sum = row_sum<T>(row, HW, tk, tpc, a.fastpool != 0);
        }
        const int span = tpc < 32 ? tpc : 32;
        for (int o = span >> 1; o > 0; o >>= 1) sum += __shfl_xor_sync(kFull, sum, o);
        if (tpc > 32) {
          if (lane == 0) red[warp] = sum;
          __syncthreads();
          if (tk == 0) {
            sum = 0.0;
            for (int w = 0; w < tpc / 32; ++w) sum += red[warp + w];
          }
          __syncthreads();
        }
        if (tk == 0 && ul < nu) zs[pad + ul] = sum / HW;
      }
    } else {
      // this CTA's channel partial sums over its positions into part[C]. Runs of RUN positions
      // per channel in fp32, then fp64 (fp16: 16; fp32: every element, or 8 with fastpool).
      const int ncv = C / VE;
      const int RUN = sizeof(T) == 2 ? 16 : (a.fastpool ? 8 : 1);
      auto accumulate = [&](int cv, int p_first, int p_step, double* acc) {
        float run[VE];
#pragma unroll
        for (int e = 0; e < VE; ++e) {
          acc[e] = 0.0;
          run[e] = 0.f;
        }
        int waited = -1, cntr = 0;
        for (int pl = p_first; pl < nu; pl += p_step) {
          const T* src;
          if (pl < nh) {
            const int ci = static_cast<int>(owner_of(pl, nh, nch));
            if (ci != waited) {
              mbar_wait(&mbar[ci], parity);
              waited = ci;
            }
            src = xs + static_cast<int64_t>(pl) * C;
          } else {
            src = xg + static_cast<int64_t>(pl) * C;
          }
          Vec<T> v;
          v.raw = *reinterpret_cast<const uint4*>(src + cv * VE);
          float f[VE];
          v.unpack(f);
          if (RUN == 1) {
#pragma unroll
            for (int e = 0; e < VE; ++e) acc[e] += static_cast<double>(f[e]);
          } else {
#pragma unroll
            for (int e = 0; e < VE; ++e) run[e] += f[e];
            if (++cntr == RUN) {
#pragma unroll
              for (int e = 0; e < VE; ++e) {
                acc[e] += static_cast<double>(run[e]);
                run[e] = 0.f;
              }
              cntr = 0;
            }
          }
        }
#pragma unroll
        for (int e = 0; e < VE; ++e) acc[e] += static_cast<double>(run[e]);
      };
      if (ncv <= kThreads) {
        const int gp = nhwc_groups(ncv);
        const int gi = tid / ncv, cv = tid - (tid / ncv) * ncv;
        const bool act = gi < gp;
        double acc[VE];
        if (act) accumulate(cv, gi, gp, acc);
        // fixed tree over the position groups
        for (int half = gp >> 1; half >= 1; half >>= 1) {
          if (act && gi >= half && gi < 2 * half) {
#pragma unroll
            for (int e = 0; e < VE; ++e) red[(static_cast<int64_t>(gi - half) * ncv + cv) * VE + e] = acc[e];
          }
          __syncthreads();
          if (act && gi < half) {
#pragma unroll
            for (int e = 0; e < VE; ++e) acc[e] += red[(static_cast<int64_t>(gi) * ncv + cv) * VE + e];
          }
          __syncthreads();
        }
        if (act && gi == 0) {
#pragma unroll
          for (int e = 0; e < VE; ++e) part[cv * VE + e] = acc[e];
        }
      } else {
        // wide C: one position group, channel vectors over passes
        for (int cv = tid; cv < ncv; cv += kThreads) {
          double acc[VE];
          accumulate(cv, 0, 1, acc);
#pragma unroll
          for (int e = 0; e < VE; ++e) part[cv * VE + e] = acc[e];
        }
      }
    }
    __syncthreads();
    stamp(1);

    // ---- exchange: z of the slice (NHWC), FC1 partials (SE) --------------------------------
    double* gxn = a.gx ? a.gx + static_cast<int64_t>(n) * G * a.gstride : nullptr;
    auto global_barrier = [&]() {
      // rank 0 of each of the G clusters arrives once; the cluster barrier that follows releases
      // the other CTAs. The last departure resets the counter for the next launch.
      if (r == 0 && tid == 0) {
        unsigned* c = a.cnt + n;
        // release: this CTA's writes (ordered by the preceding barrier) and, cumulatively, those of
        // the cluster's writers (each fenced before the cluster barrier) are visible to acquirers
        red_release_gpu_add(c, 1u);
        if (ld_acquire_gpu(c) < static_cast<unsigned>(G)) {
          const long long t0 = clock64();
          while (ld_acquire_gpu(c) < static_cast<unsigned>(G)) {
            if (clock64() - t0 > kSpinLimit) __trap();  // co-residency broken: error, not a hang
          }
        }
        if (atomicAdd(c, 1u) == 2u * G - 1u) atomicExch(c, 0u);
      }
      __syncthreads();  // thread 0 spun alone: the CTA is converged again before the cluster barrier
    };
    if constexpr (NHWC) {
      cluster_sync_all();  // S1: every CTA's part[] is in
      // z over [cs - pad, ce + pad) clipped, summing part[] of the K CTAs in rank order
      const int64_t z0 = cs - pad > 0 ? cs - pad : 0, z1 = ce + pad < C ? ce + pad : C;
      if (G == 1) {
        for (int64_t c = z0 + tid; c < z1; c += kThreads) zs[c - cs + pad] = sum_ranks(part, c, K) / HW;
      } else {
        // the cluster's sums of the own slice go to global; after the barrier every cluster
        // sums the G clusters' values in cluster order
        for (int64_t c = cs + tid; c < ce; c += kThreads)
          __stcg(gxn + static_cast<int64_t>(g) * a.gstride + c, sum_ranks(part, c, K));
        __threadfence();
        cluster_sync_all();  // S2: the cluster's slice sums are out (and part[] reads done)
        global_barrier();
        cluster_sync_all();  // S3: all G clusters are out
        for (int64_t c = z0 + tid; c < z1; c += kThreads) zs[c - cs + pad] = sum_clusters(gxn + c, a.gstride, G) / HW;
      }
      __syncthreads();
    }
    if constexpr (kSe) {
      if (!waited_w) {
        cp_async_wait_all();
        __syncthreads();
        waited_w = true;
      }
      // FC1 partial over the slice: pp[h] = sum_{c in slice} W1[h, c] * z[c]
      if (ns > 0) {
        rows_dot(W1, ld1, hidden, ns, zs + pad, [&](int h, double v) { pp[h] = v; });
      } else {
        for (int h = tid; h < hidden; h += kThreads) pp[h] = 0.0;
      }
      const bool cross = !NHWC && G > 1;  // NCHW with G > 1: partials of all R CTAs
      if (!cross) {
        cluster_sync_all();  // every CTA's pp[] is in
        for (int h = tid; h < hidden; h += kThreads)
          hid[h] = relu_d(sum_ranks(pp, h, K) + static_cast<double>(a.b1 ? a.b1[h] : 0.f));
      } else {
        cluster_sync_all();  // S1
        if (r == 0) {
          for (int h = tid; h < hidden; h += kThreads)
            __stcg(gxn + static_cast<int64_t>(g) * a.gstride + h, sum_ranks(pp, h, K));
          __syncthreads();
        }
        global_barrier();
        cluster_sync_all();  // S2: all G clusters' partials are out
        for (int h = tid; h < hidden; h += kThreads)
          hid[h] = relu_d(sum_clusters(gxn + h, a.gstride, G) + static_cast<double>(a.b1 ? a.b1[h] : 0.f));
      }
    } else if constexpr (!NHWC) {
      // ECA, NCHW: the +-pad neighbour means of the slice ends come from their owners
      if (G == 1) {
        cluster_sync_all();
        if (tid < 2 * pad) {
          const int64_t c = tid < pad ? cs - pad + tid : ce + (tid - pad);
          if (c >= 0 && c < C) {
            const int o = static_cast<int>(owner_of(c, U, R));
            int64_t lo, hi;
            split_range(U, R, o, lo, hi);
            zs[c - cs + pad] = ld_dsmem_f64(dsmem_addr(zs + (c - lo + pad), o));
          }
        }
      } else {
        for (int i = tid; i < ns; i += kThreads) __stcg(gxn + cs + i, zs[pad + i]);
        __threadfence();
        cluster_sync_all();  // S1
        global_barrier();
        cluster_sync_all();  // S2
        if (tid < 2 * pad) {
          const int64_t c = tid < pad ? cs - pad + tid : ce + (tid - pad);
          if (c >= 0 && c < C) zs[c - cs + pad] = __ldcg(gxn + c);
        }
      }
    }
    // DSMEM reads of other CTAs are over for NCHW: the guard's arrive (its wait comes at the end)
    if constexpr (!NHWC) cluster_arrive();
    __syncthreads();
    stamp(2);

    // ---- gates of the slice -----------------------------------------------------------------
    // s is indexed by unit-local channel (NCHW) or absolute channel (NHWC)
    float* s_sl = NHWC ? s + cs : s;
    if constexpr (kSe) {
      if (ns > 0)
        rows_dot(W2, hidden, ns, hidden, hid, [&](int i, double v) {
          s_sl[i] = sigmoid_f(static_cast<float>(v + static_cast<double>(a.b2 ? a.b2[cs + i] : 0.f)));
        });
    } else {
      const int kk = a.k;
      for (int i = tid; i < ns; i += kThreads) {
        double v = 0.0;
        for (int t = 0; t < kk; ++t) {
          const int64_t c = cs + i + t - pad;
          const double zv = (c >= 0 && c < C) ? zs[i + t] : 0.0;  // padding is a zero operand
          v = fma(static_cast<double>(a.ew[t]), zv, v);
        }
        s_sl[i] = sigmoid_f(static_cast<float>(v));
      }
    }
    if constexpr (NHWC) {
      // every CTA needs all C gates: gather the other slices through DSMEM
      cluster_sync_all();
      for (int c = tid; c < C; c += kThreads) {
        if (c < cs || c >= ce) {
          const int o = static_cast<int>(owner_of(c, C, K));
          s[c] = ld_dsmem_f32(dsmem_addr(s + c, o));
        }
      }
      cluster_arrive();  // guard: our s[] / part[] / pp[] may be read until the others pass here
    }
    __syncthreads();

    // ---- pass 2: scale and write --------------------------------------------------------------
    // every thread observes every chunk's completion itself (the bulk writes are async-proxy
    // writes; phases already complete return at once)
    for (int i = 0; i < nch; ++i) mbar_wait(&mbar[i], parity);
    stamp(3);
    const bool vec = a.vec_ok != 0;
    if (nh > 0) apply_scale<T, NHWC>(xs, yg, static_cast<int64_t>(nh) * ue, NHWC ? C : HW, s, vec);
    if (nu > nh)
      apply_scale<T, NHWC>(xg + static_cast<int64_t>(nh) * ue, yg + static_cast<int64_t>(nh) * ue,
                           static_cast<int64_t>(nu - nh) * ue, NHWC ? C : HW, NHWC ? s : s + nh, vec);
    stamp(4);
    cluster_wait();  // guard: nobody reads our shared memory any more (also before exit)
    __syncthreads();
    stamp(5);
  }
  (void)VE;
}

// ---- floor: the same contiguous partition doing only the bulk load and the store ---------------
// grid = R CTAs (no cluster); CTA q copies elements [split(total, R, q)) of x to y through shared
// memory with the same fetch and 16-byte store paths. What R SMs can move, with no excitation.
template <typename T>
__global__ void __launch_bounds__(kThreads, 1) floor_kernel(const T* x, T* y, int64_t total, int64_t ue,
                                                            int o_area, int vec_ok) {
  extern __shared__ __align__(128) unsigned char smem[];
  uint64_t* mbar = reinterpret_cast<uint64_t*>(smem);
  const int R = gridDim.x, q = blockIdx.x;
  int64_t u0, u1;
  const int64_t U = total / ue;
  split_range(U, R, q, u0, u1);
  const int nu = static_cast<int>(u1 - u0);
  const int nch = nu < kMaxChunks ? nu : kMaxChunks;
  if (threadIdx.x == 0) {
    for (int i = 0; i < kMaxChunks; ++i) mbar_init(&mbar[i], 1);
    fence_mbar_init();
  }
  __syncthreads();
  if (nu == 0) return;
  T* xs = fetch_held<T>(smem + o_area, x + u0 * ue, nu, ue, nch, mbar, true);
  __syncthreads();
  for (int i = 0; i < nch; ++i) mbar_wait(&mbar[i], 0);
  const int64_t ne = static_cast<int64_t>(nu) * ue;
  T* yd = y + u0 * ue;
  const int tid = threadIdx.x;
  if (!vec_ok) {
    for (int64_t i = tid; i < ne; i += kThreads) yd[i] = xs[i];
    return;
  }
  constexpr int VE = Vec<T>::kN;
  const int mis = static_cast<int>(reinterpret_cast<uintptr_t>(yd) & 15);
  int64_t he = mis ? (16 - mis) / static_cast<int>(sizeof(T)) : 0;
  if (he > ne) he = ne;
  const int64_t nvec = (ne - he) / VE, tail = he + nvec * VE;
  for (int64_t i = tid; i < he; i += kThreads) yd[i] = xs[i];
  for (int64_t i = tail + tid; i < ne; i += kThreads) yd[i] = xs[i];
  const uint4* xv = reinterpret_cast<const uint4*>(xs + he);
  uint4* yv = reinterpret_cast<uint4*>(yd + he);
#pragma unroll 4
  for (int64_t k = tid; k < nvec; k += kThreads) yv[k] = xv[k];
}

}  // namespace clu

// =====================================================================================================
// Host: problems, float64 reference, planner, runners, checks, timing
// =====================================================================================================

#define CK(x)                                                                                  \
  do {                                                                                         \
    cudaError_t e_ = (x);                                                                      \
    if (e_ != cudaSuccess) {                                                                   \
      std::printf("CUDA error %s at %s:%d: %s (%s)\n", cudaGetErrorName(e_), __FILE__, __LINE__, \
                  cudaGetErrorString(e_), #x);                                                 \
      std::fflush(stdout);                                                                     \
      std::exit(2);                                                                            \
    }                                                                                          \
  } while (0)

static std::mt19937_64 rng;
static double urand(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }
// Bulk inputs (tens of millions of elements at batch 32): splitmix64 seeded from rng, uniform [lo, hi).
struct FastRng {
  uint64_t s;
  explicit FastRng(uint64_t seed) : s(seed) {}
  double next(double lo, double hi) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + (hi - lo) * (double(z >> 11) * (1.0 / 9007199254740992.0));
  }
};

static cudaDeviceProp g_prop;

// Time budget: BUDGET_S (seconds from start) or SIGTERM (timeout) stops the work between two
// problems; the summary of what was measured is still printed.
static volatile std::sig_atomic_t g_stop = 0;
static double g_budget_s = 0;
static const auto g_t0 = std::chrono::steady_clock::now();
static double elapsed_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - g_t0).count();
}
static bool out_of_time() {
  if (!g_stop && g_budget_s > 0 && elapsed_s() > g_budget_s) g_stop = 1;
  return g_stop != 0;
}

// ---- problem -------------------------------------------------------------------------------
struct Problem {
  int op = clu::kSE;
  int n = 1, c = 1, h = 1, w = 1;
  bool nhwc = false, f16 = false;
  int hidden = 0, k = 3;
  double xscale = 1.0;
  int x_off = 0, y_off = 0;  // elements: misalignment cases
  int inj = 0;               // NaN/Inf injection, see inject()
  int hw() const { return h * w; }
  size_t numel() const { return size_t(n) * c * h * w; }
  size_t es() const { return f16 ? 2 : 4; }
  std::string shape() const {
    char b[64];
    std::snprintf(b, sizeof b, "%dx%dx%dx%d", n, c, h, w);
    return b;
  }
  std::string label() const {
    static const char* tn[] = {"", " NaN/Inf:x", " Inf:channel", " NaN/Inf:w1", " NaN/Inf:b1",
                               " NaN/Inf:w2", " NaN/Inf:b2", " NaN/Inf:taps"};
    char b[200];
    std::snprintf(b, sizeof b, "%-3s %s %s %-14s %s", op == clu::kSE ? "SE" : "ECA", f16 ? "f16" : "f32",
                  nhwc ? "NHWC" : "NCHW", shape().c_str(),
                  op == clu::kSE ? ("hid=" + std::to_string(hidden)).c_str() : ("k=" + std::to_string(k)).c_str());
    std::string s = b;
    if (xscale != 1.0) s += " |x|~" + std::to_string(int(xscale));
    if (x_off || y_off) s += " off" + std::to_string(x_off) + "/" + std::to_string(y_off);
    s += tn[inj];
    return s;
  }
};
static Problem make_problem(int op, int n, int c, int h, int w, bool nhwc, bool f16) {
  Problem P;
  P.op = op;
  P.n = n;
  P.c = c;
  P.h = h;
  P.w = w;
  P.nhwc = nhwc;
  P.f16 = f16;
  P.hidden = std::max(8, c / 16);  // the benchmark's SE setting
  P.k = c < 512 ? 3 : 5;           // the benchmark's ECA setting
  return P;
}

// ---- host data -------------------------------------------------------------------------------
static uint16_t f2h(float f) { return __half_as_ushort(__float2half_rn(f)); }
static float h2f(uint16_t h) { return __half2float(__ushort_as_half(h)); }

struct HostX {
  std::vector<unsigned char> raw;  // storage bytes in the problem's layout
  std::vector<double> val;         // the storage-rounded values
};
static void to_storage(bool f16, const std::vector<double>& v, HostX& X) {
  const size_t n = v.size(), es = f16 ? 2 : 4;
  X.raw.assign(n * es, 0);
  X.val.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const float f = static_cast<float>(v[i]);
    if (!f16) {
      std::memcpy(&X.raw[i * 4], &f, 4);
      X.val[i] = f;
    } else {
      const uint16_t hv = f2h(f);
      std::memcpy(&X.raw[i * 2], &hv, 2);
      X.val[i] = h2f(hv);
    }
  }
}
static double from_storage(bool f16, const unsigned char* raw, size_t i) {
  if (!f16) {
    float f;
    std::memcpy(&f, raw + i * 4, 4);
    return f;
  }
  uint16_t hv;
  std::memcpy(&hv, raw + i * 2, 2);
  return h2f(hv);
}

struct HostW {
  std::vector<float> w1, b1, w2, b2, ew;
};
static HostW make_weights(const Problem& P) {
  HostW W;
  auto fill = [](std::vector<float>& v, size_t n, double a) {
    v.resize(n);
    for (auto& e : v) e = static_cast<float>(urand(-a, a));
  };
  if (P.op == clu::kSE) {
    fill(W.w1, size_t(P.hidden) * P.c, 2.0 / std::sqrt(double(P.c)));
    fill(W.b1, P.hidden, 0.5);
    fill(W.w2, size_t(P.c) * P.hidden, 2.0 / std::sqrt(double(P.hidden)));
    fill(W.b2, P.c, 0.5);
  } else {
    fill(W.ew, P.k, 1.0);
  }
  return W;
}

// Fresh random x (uniform +-2 * xscale), storage-rounded; optional NaN/Inf injection:
// 1 two elements of x (NaN / +Inf / -Inf), 2 a whole channel of one sample at +-Inf,
// 3 one w1 element, 4 one b1, 5 one w2, 6 one b2, 7 one ECA tap (NaN / +-Inf).
static void make_x(const Problem& P, HostW& W, HostX& X) {
  std::vector<double> v(P.numel());
  FastRng fr(rng());
  for (auto& e : v) e = fr.next(-2, 2) * P.xscale;
  const double sp[] = {NAN, INFINITY, -INFINITY};
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  auto any = [&]() { return sp[pick(3)]; };
  auto wput = [&](std::vector<float>& w) {
    if (!w.empty()) w[pick(w.size())] = static_cast<float>(any());
  };
  switch (P.inj) {
    case 1:
      for (int i = 0; i < 2; ++i) v[pick(v.size())] = any();
      break;
    case 2: {
      const int n = int(pick(size_t(P.n))), c = int(pick(size_t(P.c)));
      const double inf = sp[1 + pick(2)];
      for (int p = 0; p < P.hw(); ++p)
        v[P.nhwc ? (size_t(n) * P.hw() + p) * P.c + c : (size_t(n) * P.c + c) * P.hw() + p] = inf;
      break;
    }
    case 3: wput(W.w1); break;
    case 4: wput(W.b1); break;
    case 5: wput(W.w2); break;
    case 6: wput(W.b2); break;
    case 7: wput(W.ew); break;
    default: break;
  }
  to_storage(P.f16, v, X);
}

// ---- float64 reference (test/reference.ts semantics, with the NaN rules) -------------------------
// relu(v) = max(v, 0) keeping NaN (std::max(v, 0.0) returns v when v is NaN); sigmoid(NaN) = NaN;
// ECA's padding is a zero operand (w * 0 is NaN for a NaN / Inf tap).
static void reference(const Problem& P, const HostW& W, const std::vector<double>& x, std::vector<double>& y) {
  const int N = P.n, C = P.c, HW = P.hw();
  auto idx = [&](int n, int c, int p) -> size_t {
    return P.nhwc ? (size_t(n) * HW + p) * C + c : (size_t(n) * C + c) * HW + p;
  };
  y.assign(x.size(), 0.0);
  std::vector<double> z(C), s(C), hdn(std::max(P.hidden, 1));
  for (int n = 0; n < N; ++n) {
    for (int c = 0; c < C; ++c) {
      double acc = 0;
      for (int p = 0; p < HW; ++p) acc += x[idx(n, c, p)];
      z[c] = acc / HW;
    }
    if (P.op == clu::kSE) {
      for (int h = 0; h < P.hidden; ++h) {
        double a = W.b1[h];
        for (int c = 0; c < C; ++c) a += double(W.w1[size_t(h) * C + c]) * z[c];
        hdn[h] = std::max(a, 0.0);
      }
      for (int c = 0; c < C; ++c) {
        double a = W.b2[c];
        for (int h = 0; h < P.hidden; ++h) a += double(W.w2[size_t(c) * P.hidden + h]) * hdn[h];
        s[c] = 1.0 / (1.0 + std::exp(-a));
      }
    } else {
      const int pad = (P.k - 1) / 2;
      for (int c = 0; c < C; ++c) {
        double a = 0;
        for (int t = 0; t < P.k; ++t) {
          const int cc = c + t - pad;
          a += double(W.ew[t]) * (cc >= 0 && cc < C ? z[cc] : 0.0);
        }
        s[c] = 1.0 / (1.0 + std::exp(-a));
      }
    }
    for (int c = 0; c < C; ++c)
      for (int p = 0; p < HW; ++p) y[idx(n, c, p)] = x[idx(n, c, p)] * s[c];
  }
}

struct Cmp {
  bool ok = true;
  double maxerr = 0;
  std::string why;
};
static Cmp compare(const Problem& P, const unsigned char* out, const std::vector<double>& ref) {
  Cmp r;
  double maxref = 0;
  for (double v : ref)
    if (std::isfinite(v)) maxref = std::max(maxref, std::fabs(v));
  if (maxref == 0) maxref = 1;
  const double tol = P.f16 ? std::ldexp(1.0, -10) + 1e-5 : 1e-5;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double v = from_storage(P.f16, out, i), rv = ref[i];
    if (!std::isfinite(rv)) {
      if (std::isnan(rv) ? !std::isnan(v) : v != rv) {
        r.ok = false;
        r.why = "at " + std::to_string(i) + ": " + std::to_string(v) + ", reference " + std::to_string(rv);
        return r;
      }
      continue;
    }
    if (!std::isfinite(v)) {
      r.ok = false;
      r.why = "non-finite at " + std::to_string(i) + " (unwritten or wrong NaN)";
      return r;
    }
    r.maxerr = std::max(r.maxerr, std::fabs(v - rv) / maxref);
  }
  if (r.maxerr > tol) {
    r.ok = false;
    char b[96];
    std::snprintf(b, sizeof b, "error %.3e > tol %.3e", r.maxerr, tol);
    r.why = b;
  }
  return r;
}

// ---- device weights ------------------------------------------------------------------------------
struct DevW {
  float *w1 = nullptr, *b1 = nullptr, *w2 = nullptr, *b2 = nullptr, *ew = nullptr;
  void upload(const HostW& W) {
    auto up = [](const std::vector<float>& v) -> float* {
      if (v.empty()) return nullptr;
      float* d = nullptr;
      CK(cudaMalloc(&d, v.size() * 4));
      CK(cudaMemcpy(d, v.data(), v.size() * 4, cudaMemcpyHostToDevice));
      return d;
    };
    w1 = up(W.w1);
    b1 = up(W.b1);
    w2 = up(W.w2);
    b2 = up(W.b2);
    ew = up(W.ew);
  }
  void release() {
    for (float* p : {w1, b1, w2, b2, ew})
      if (p) CK(cudaFree(p));
    w1 = b1 = w2 = b2 = ew = nullptr;
  }
};

// ---- the planner for cluster_kernel ----------------------------------------------------------------
using KFn = void (*)(clu::Args);
static KFn pick_kernel(int op, bool f16, bool nhwc) {
  if (op == clu::kSE) {
    if (f16) return nhwc ? clu::cluster_kernel<clu::kSE, __half, true> : clu::cluster_kernel<clu::kSE, __half, false>;
    return nhwc ? clu::cluster_kernel<clu::kSE, float, true> : clu::cluster_kernel<clu::kSE, float, false>;
  }
  if (f16) return nhwc ? clu::cluster_kernel<clu::kECA, __half, true> : clu::cluster_kernel<clu::kECA, __half, false>;
  return nhwc ? clu::cluster_kernel<clu::kECA, float, true> : clu::cluster_kernel<clu::kECA, float, false>;
}

// selftest: plans on a synthetic H200 without a device (no CUDA calls; occupancy estimated)
static bool g_dry = false;

static void kernel_attrs(const void* kern) {
  if (g_dry) return;
  static std::vector<const void*> done;
  if (std::find(done.begin(), done.end(), kern) != done.end()) return;
  CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, int(g_prop.sharedMemPerBlockOptin)));
  CK(cudaFuncSetAttribute(kern, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
  done.push_back(kern);
}

static int max_active_clusters(KFn kern, int K, int smem) {
  if (g_dry) {
    // estimate: 1 CTA of 512 threads per SM (the kernels use up to 128 registers), all SMs usable
    const int per_sm = smem <= int(g_prop.sharedMemPerMultiprocessor) - 1024 ? 1 : 0;
    return per_sm * g_prop.multiProcessorCount / K;
  }
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(K);
  cfg.blockDim = dim3(clu::kThreads);
  cfg.dynamicSmemBytes = size_t(smem);
  cudaLaunchAttribute at[1];
  at[0].id = cudaLaunchAttributeClusterDimension;
  at[0].val.clusterDim.x = K;
  at[0].val.clusterDim.y = 1;
  at[0].val.clusterDim.z = 1;
  cfg.attrs = at;
  cfg.numAttrs = 1;
  int n = 0;
  cudaError_t e = cudaOccupancyMaxActiveClusters(&n, reinterpret_cast<const void*>(kern), &cfg);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

struct Plan {
  bool ok = false;
  std::string why;
  clu::Args a{};
  KFn kern = nullptr;
  int K = 0, G = 0, groups = 0, grid = 0, smem = 0, max_active = 0, R = 0, umax = 0;
  size_t gx_doubles = 0;
  std::string desc() const {
    char b[160];
    std::snprintf(b, sizeof b, "K=%d G=%d grp=%d R=%d held %d/%d units wpre=%d smem=%dK act=%d", K, G, groups, R,
                  a.hold < umax ? a.hold : umax, umax, a.wpre, smem / 1024, max_active);
    return b;
  }
};

static inline int r16(int v) { return (v + 15) & ~15; }

// gmode 0: G = 1 (one cluster per sample; grid = N clusters). gmode 1: G clusters per sample with
// G*K ~ the SM count, all clusters co-resident (persistent over samples).
static Plan plan(const Problem& P, int gmode, bool hold, const DevW& w, int kforce = 0) {
  Plan pl;
  const int es = int(P.es()), VE = 16 / es;
  const int C = P.c, HW = P.hw();
  const int U = P.nhwc ? HW : C, ue = P.nhwc ? C : HW;
  const int64_t unit_bytes = int64_t(ue) * es;
  if (P.nhwc && C % VE != 0) {
    pl.why = "NHWC needs C % " + std::to_string(VE) + " == 0";
    return pl;
  }
  const bool se = P.op == clu::kSE;
  const int pad = se ? 0 : (P.k - 1) / 2;
  const int hidden = se ? P.hidden : 0;
  const int optin = int(g_prop.sharedMemPerBlockOptin);
  pl.kern = pick_kernel(P.op, P.f16, P.nhwc);
  kernel_attrs(reinterpret_cast<const void*>(pl.kern));
  for (int K : {16, 8}) {
    if (kforce && K != kforce) continue;
    int G = 1;
    if (gmode == 1) G = std::max(1, std::min(U / K, g_prop.multiProcessorCount / K));
    for (int iter = 0; iter < 8; ++iter) {
      const int R = G * K;
      const int umax = (U + R - 1) / R;
      const int smax = P.nhwc ? (C + K - 1) / K : umax;
      int off = 128;  // mbarriers
      clu::Args a{};
      a.o_red = off;
      if (P.nhwc) {
        const int ncv = C / VE;
        const int gp = ncv <= clu::kThreads ? clu::nhwc_groups(ncv) : 1;
        off += r16((gp / 2) * C * 8);
      } else {
        off += r16(clu::kWarps * 8);
      }
      a.o_z = off;
      off += r16((smax + 2 * pad) * 8);
      a.o_part = off;
      off += P.nhwc ? r16(C * 8) : 0;
      a.o_p = off;
      off += r16(hidden * 8);
      a.o_hid = off;
      off += r16(hidden * 8);
      a.o_s = off;
      off += r16((P.nhwc ? C : umax) * 4);
      const int extras = off;
      const int wbytes = se ? 2 * r16(hidden * smax * 4) : 0;
      const int64_t full_area = umax * unit_bytes + 32;
      // weight slices are prefetched when everything fits, or when they are small (<= 16 KB: an
      // L2 round trip on the critical path costs more than the few held bytes they displace)
      int held = 0, wpre = 0;
      if (se && (extras + wbytes + full_area <= optin || wbytes <= 16 * 1024) && extras + wbytes + 32 <= optin) wpre = 1;
      if (hold) {
        const int64_t room = optin - extras - (wpre ? wbytes : 0) - 32;
        held = int(std::max<int64_t>(0, std::min<int64_t>(umax, room / unit_bytes)));
      }
      a.o_w1 = off;
      a.o_w2 = off + (wpre ? r16(hidden * smax * 4) : 0);
      off += wpre ? wbytes : 0;
      a.o_area = off;
      off += held > 0 ? int(held * unit_bytes + 32) : 0;
      if (off > optin) break;  // cannot happen by construction
      const int act = max_active_clusters(pl.kern, K, off);
      if (act <= 0) break;  // this K cannot be resident with this much shared memory
      if (gmode == 1 && (G > act || G > 16)) {  // sum_clusters takes G <= 16
        G = std::min(act, 16);
        continue;  // fewer clusters per sample: recompute the layout
      }
      a.N = P.n;
      a.C = C;
      a.HW = HW;
      a.hidden = hidden;
      a.k = P.k;
      a.K = K;
      a.G = G;
      a.hold = held;
      a.wpre = wpre;
      a.w1 = w.w1;
      a.b1 = w.b1;
      a.w2 = w.w2;
      a.b2 = w.b2;
      a.ew = w.ew;
      a.gstride = ((std::max(C, hidden) + 3) / 4) * 4;
      int groups = P.n;
      if (gmode == 1) groups = std::max(1, std::min(P.n, act / G));
      a.groups = groups;
      pl.a = a;
      pl.K = K;
      pl.G = G;
      pl.groups = groups;
      pl.R = R;
      pl.umax = umax;
      pl.grid = groups * G * K;
      pl.smem = off;
      pl.max_active = act;
      pl.gx_doubles = G > 1 ? size_t(P.n) * G * a.gstride : 0;
      pl.ok = true;
      return pl;
    }
  }
  pl.why = "no cluster size (16, 8) is resident with this shared memory";
  return pl;
}

static cudaError_t launch_plan(const Plan& pl, const void* x, void* y, cudaStream_t st) {
  clu::Args a = pl.a;
  a.x = x;
  a.y = y;
  a.vec_ok = (reinterpret_cast<uintptr_t>(x) & 15) == (reinterpret_cast<uintptr_t>(y) & 15);
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(pl.grid);
  cfg.blockDim = dim3(clu::kThreads);
  cfg.dynamicSmemBytes = size_t(pl.smem);
  cfg.stream = st;
  cudaLaunchAttribute at[1];
  at[0].id = cudaLaunchAttributeClusterDimension;
  at[0].val.clusterDim.x = pl.K;
  at[0].val.clusterDim.y = 1;
  at[0].val.clusterDim.z = 1;
  cfg.attrs = at;
  cfg.numAttrs = 1;
  return cudaLaunchKernelEx(&cfg, pl.kern, a);
}

// ---- runners -------------------------------------------------------------------------------------
struct Runner {
  std::string name, desc, why;
  virtual ~Runner() = default;
  // false: this implementation does not take the problem (why says so)
  virtual bool setup(const Problem& P, const DevW& w, const void* x, void* y) = 0;
  virtual void launch(const void* x, void* y, cudaStream_t st) = 0;
  virtual bool copy_like() const { return false; }  // floor: y must equal x
};

struct ClusterRunner : Runner {
  int gmode;
  bool hold;
  int kforce = 0;     // 8: cluster size 8 only
  bool fast = false;  // fastpool (fp32 only)
  Plan pl;
  double* gx = nullptr;
  unsigned* cnt = nullptr;
  ClusterRunner(const char* nm, int gm, bool h, int kf = 0, bool fp = false) : gmode(gm), hold(h), kforce(kf), fast(fp) {
    name = nm;
  }
  ~ClusterRunner() override {
    if (gx) cudaFree(gx);
    if (cnt) cudaFree(cnt);
  }
  bool setup(const Problem& P, const DevW& w, const void* x, void*) override {
    if (P.nhwc && (reinterpret_cast<uintptr_t>(x) & 15)) {
      why = "NHWC needs a 16-byte aligned x";
      return false;
    }
    if (fast && P.f16) {
      why = "fastpool changes fp32 only (fp16 is v1)";
      return false;
    }
    pl = plan(P, gmode, hold, w, kforce);
    pl.a.fastpool = fast ? 1 : 0;
    if (!pl.ok) {
      why = pl.why;
      return false;
    }
    if (pl.gx_doubles) {
      CK(cudaMalloc(&gx, pl.gx_doubles * 8));
      CK(cudaMalloc(&cnt, size_t(P.n) * 4));
      CK(cudaMemset(cnt, 0, size_t(P.n) * 4));  // the kernel resets what it uses
      pl.a.gx = gx;
      pl.a.cnt = cnt;
    }
    desc = pl.desc();
    return true;
  }
  void launch(const void* x, void* y, cudaStream_t st) override {
    CK(launch_plan(pl, x, y, st));
    CK(cudaGetLastError());
  }
  // Phase probe: `launches` launches over the given sets; per launch the latest CTA per phase
  // (max over CTAs), then the median over launches. Cycles of thread 0 from its kernel start.
  std::vector<double> probe(const std::vector<unsigned char*>& xs, const std::vector<unsigned char*>& ys, size_t yoff,
                            int launches, cudaStream_t st) {
    long long* d = nullptr;
    const size_t n = size_t(pl.grid) * 8;
    CK(cudaMalloc(&d, n * sizeof(long long)));
    Plan p2 = pl;
    p2.a.prof = d;
    std::vector<std::vector<double>> per(6);
    std::vector<long long> h(n);
    for (int l = 0; l < launches; ++l) {
      const int i = l % int(xs.size());
      CK(cudaMemsetAsync(d, 0, n * sizeof(long long), st));
      CK(launch_plan(p2, xs[i], ys[i] + yoff, st));
      CK(cudaGetLastError());
      CK(cudaMemcpyAsync(h.data(), d, n * sizeof(long long), cudaMemcpyDeviceToHost, st));
      CK(cudaStreamSynchronize(st));
      for (int k = 0; k < 6; ++k) {
        long long m = 0;
        for (int b = 0; b < pl.grid; ++b) m = std::max(m, h[size_t(b) * 8 + k]);
        per[k].push_back(double(m));
      }
    }
    CK(cudaFree(d));
    std::vector<double> med(6);
    for (int k = 0; k < 6; ++k) {
      std::sort(per[k].begin(), per[k].end());
      med[k] = per[k][per[k].size() / 2];
    }
    return med;
  }
};

struct FloorRunner : Runner {
  int want_R;
  int R = 0, smem = 0, vec_ok = 1;
  int64_t total = 0, ue = 1;
  bool f16 = false;
  FloorRunner(const char* nm, int r) : want_R(r) { name = nm; }
  bool setup(const Problem& P, const DevW&, const void* x, void* y) override {
    f16 = P.f16;
    total = int64_t(P.numel());
    ue = P.nhwc ? P.c : P.hw();
    const int64_t U = total / ue;
    R = int(std::min<int64_t>(want_R, U));
    const int64_t slice = (U + R - 1) / R * ue * int64_t(P.es());
    smem = int(128 + slice + 32);
    if (smem > int(g_prop.sharedMemPerBlockOptin)) {
      why = "a " + std::to_string(R) + "-way slice (" + std::to_string(slice / 1024) + " KB) exceeds shared memory";
      return false;
    }
    const void* k = f16 ? reinterpret_cast<const void*>(clu::floor_kernel<__half>)
                        : reinterpret_cast<const void*>(clu::floor_kernel<float>);
    kernel_attrs(k);
    vec_ok = (reinterpret_cast<uintptr_t>(x) & 15) == (reinterpret_cast<uintptr_t>(y) & 15);
    char b[96];
    std::snprintf(b, sizeof b, "R=%d CTAs, %lld KB each", R, (long long)(slice / 1024));
    desc = b;
    return true;
  }
  void launch(const void* x, void* y, cudaStream_t st) override {
    if (f16)
      clu::floor_kernel<__half><<<R, clu::kThreads, smem, st>>>(static_cast<const __half*>(x), static_cast<__half*>(y),
                                                               total, ue, 128, vec_ok);
    else
      clu::floor_kernel<float><<<R, clu::kThreads, smem, st>>>(static_cast<const float*>(x), static_cast<float*>(y),
                                                              total, ue, 128, vec_ok);
    CK(cudaGetLastError());
  }
  bool copy_like() const override { return true; }
};

#ifdef WITH_SHIPPED
struct BaseRunner : Runner {
  sqex::OpParams p;
  sqex::Weights w;
  BaseRunner() { name = "base"; }
  bool setup(const Problem& P, const DevW& dw, const void*, void*) override {
    p.op = P.op == clu::kSE ? sqex::Op::SE : sqex::Op::ECA;
    p.shape = sqex::Shape4{P.n, P.c, P.h, P.w};
    p.layout = P.nhwc ? sqex::Layout::NHWC : sqex::Layout::NCHW;
    p.hidden = P.hidden;
    p.two_fc = true;
    p.act = sqex::Act::ReLU;
    p.gate = sqex::Gate::Sigmoid;
    p.out_act = sqex::OutAct::None;
    p.eca_k = P.k;
    p.dtype = P.f16 ? sqex::DType::F16 : sqex::DType::F32;
    w = sqex::Weights{dw.w1, dw.b1, dw.w2, dw.b2, dw.ew};
    desc = "shipped persistent kernel (cuda_forward)";
    return true;
  }
  void launch(const void* x, void* y, cudaStream_t st) override {
    sqex::Tensors t;
    t.x = x;
    t.y = y;
    sqex::Status s = sqex::cuda_forward(p, w, t, 0, st);
    if (!s.ok()) {
      std::printf("shipped kernel failed: %s\n", s.message.c_str());
      std::exit(2);
    }
    CK(cudaGetLastError());
  }
};
#endif

// VARIANTS=v1,v3,... (env) runs only those (run.sh gives each variant its own process, so that a
// device fault in one cannot take the others' results with it); empty: all.
static std::vector<std::string> g_variants;
static bool want_variant(const std::string& n) {
  return g_variants.empty() || std::find(g_variants.begin(), g_variants.end(), n) != g_variants.end();
}

// kind 0: checks (every variant but the floors); 1: batch-1 timing (all); 2: large-batch timing
static std::vector<std::unique_ptr<Runner>> make_runners(int kind) {
  std::vector<std::unique_ptr<Runner>> v;
#ifdef WITH_SHIPPED
  v.emplace_back(new BaseRunner());
#endif
  v.emplace_back(new ClusterRunner("v1", 0, true));
  if (kind != 2) {
    v.emplace_back(new ClusterRunner("v1f", 0, true, 0, true));
    v.emplace_back(new ClusterRunner("v2", 0, false));
  }
  v.emplace_back(new ClusterRunner("v3", 1, true));
  if (kind != 2) {
    v.emplace_back(new ClusterRunner("v4", 1, false));
    v.emplace_back(new ClusterRunner("v5", 0, true, 8));
  }
  if (kind == 1) {
    v.emplace_back(new FloorRunner("floor16", 16));
    v.emplace_back(new FloorRunner("floorR", (g_prop.multiProcessorCount / 16) * 16));
  }
  std::vector<std::unique_ptr<Runner>> keep;
  for (auto& r : v)
    if (want_variant(r->name)) keep.push_back(std::move(r));
  return keep;
}

// ---- one check: poison, run twice, compare with the reference and bitwise ---------------------------
static int g_pass = 0, g_fail = 0, g_skip = 0;

struct CheckResult {
  bool ran = false, ok = false;
  double err = 0;
  std::string why;
};

// x_dev: the input already on the device (at its offset); ybuf: output buffer with guards.
static CheckResult check_one(Runner& R, const Problem& P, const HostX& X, const std::vector<double>& ref,
                             const void* x_dev, unsigned char* ybuf, size_t guard, const DevW& w) {
  CheckResult cr;
  const size_t es = P.es(), nbytes = P.numel() * es;
  unsigned char* y = ybuf + (guard + P.y_off) * es;
  if (!R.setup(P, w, x_dev, y)) {
    cr.why = R.why;
    return cr;
  }
  cr.ran = true;
  std::vector<unsigned char> out[2];
  for (int run = 0; run < 2; ++run) {
    const size_t total = (P.numel() + 2 * guard + 8) * es;
    CK(cudaMemset(ybuf, 0xFF, total));  // NaN poison, guards included
    R.launch(x_dev, y, nullptr);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::vector<unsigned char> all(total);
    CK(cudaMemcpy(all.data(), ybuf, total, cudaMemcpyDeviceToHost));
    const size_t y0 = (guard + P.y_off) * es;
    for (size_t i = 0; i < y0; ++i)
      if (all[i] != 0xFF) {
        cr.why = "wrote before y";
        return cr;
      }
    for (size_t i = y0 + nbytes; i < total; ++i)
      if (all[i] != 0xFF) {
        cr.why = "wrote past y";
        return cr;
      }
    out[run].assign(all.begin() + y0, all.begin() + y0 + nbytes);
  }
  if (R.copy_like()) {
    cr.ok = std::memcmp(out[0].data(), X.raw.data(), nbytes) == 0;
    if (!cr.ok) cr.why = "copy differs from x";
  } else {
    Cmp c = compare(P, out[0].data(), ref);
    cr.err = c.maxerr;
    cr.ok = c.ok;
    cr.why = c.why;
  }
  if (cr.ok && out[0] != out[1]) {
    cr.ok = false;
    cr.why = "not bitwise deterministic";
  }
  return cr;
}

static void run_check_problem(const Problem& P, bool with_base) {
  if (out_of_time()) return;
  auto all = make_runners(0);
  std::vector<std::unique_ptr<Runner>> runners;
  for (auto& R : all) {
    if (R->name == "base" && (!with_base || P.inj)) continue;
    if (R->name == "v1f" && P.xscale != 1.0) continue;  // a timing probe: fp32 runs fail |x| ~ 1e4 by design
    runners.push_back(std::move(R));
  }
  if (runners.empty()) return;
  HostW W = make_weights(P);
  HostX X;
  make_x(P, W, X);
  std::vector<double> ref;
  reference(P, W, X.val, ref);
  DevW dw;
  dw.upload(W);
  const size_t es = P.es(), guard = 64;
  unsigned char *xbuf = nullptr, *ybuf = nullptr;
  CK(cudaMalloc(&xbuf, (P.numel() + 2 * guard + 8) * es));
  CK(cudaMalloc(&ybuf, (P.numel() + 2 * guard + 8) * es));
  unsigned char* x = xbuf + (guard + P.x_off) * es;
  CK(cudaMemcpy(x, X.raw.data(), P.numel() * es, cudaMemcpyHostToDevice));
  for (auto& R : runners) {
    CheckResult cr = check_one(*R, P, X, ref, x, ybuf, guard, dw);
    if (!cr.ran) {
      ++g_skip;
      std::printf("SKIP %-5s %s (%s)\n", R->name.c_str(), P.label().c_str(), cr.why.c_str());
      continue;
    }
    (cr.ok ? g_pass : g_fail)++;
    std::printf("%s %-5s %-60s err %.2e  [%s]%s%s\n", cr.ok ? "PASS" : "FAIL", R->name.c_str(), P.label().c_str(), cr.err,
                R->desc.c_str(), cr.ok ? "" : "  <- ", cr.ok ? "" : cr.why.c_str());
    std::fflush(stdout);
  }
  CK(cudaFree(xbuf));
  CK(cudaFree(ybuf));
  dw.release();
}

// A few small problems on every path (for compute-sanitizer, or a smoke test).
static void run_mini() {
  for (bool f16 : {false, true})
    for (bool nhwc : {false, true})
      for (int op : {clu::kSE, clu::kECA}) {
        Problem P = make_problem(op, 3, 40, 7, 9, nhwc, f16);
        P.hidden = 10;
        run_check_problem(P, true);
        Problem Q = make_problem(op, 1, 64, 28, 28, nhwc, f16);
        run_check_problem(Q, true);
      }
}

static void run_checks() {
  struct S {
    int n, c, h, w;
  };
  // odd and edge shapes: ragged chunk ends (H*W*es % 16 != 0), one-element rows, more CTAs than
  // units, persistent loops (N > resident groups), wide C, one big and one tiny H*W
  const S shapes[] = {{2, 24, 9, 11}, {3, 40, 7, 7},   {2, 13, 5, 5},   {5, 32, 1, 1},    {2, 8, 1, 31},
                      {20, 64, 7, 7}, {3, 1024, 14, 14}, {1, 2048, 7, 7}, {2, 16, 112, 112}, {40, 24, 3, 3}};
  for (bool f16 : {false, true})
    for (bool nhwc : {false, true})
      for (const S& s : shapes)
        for (int op : {clu::kSE, clu::kECA}) {
          Problem P = make_problem(op, s.n, s.c, s.h, s.w, nhwc, f16);
          if (s.c < 64) P.hidden = std::max(2, s.c / 4);
          if (op == clu::kECA && (s.c % 3) == 1) P.k = 5;
          run_check_problem(P, true);
        }
  // misaligned x and y (NCHW: bulk-copy ragged ends everywhere; y misaligned: scalar scale path)
  for (bool f16 : {false, true})
    for (int op : {clu::kSE, clu::kECA}) {
      Problem P = make_problem(op, 2, 48, 13, 13, false, f16);
      P.x_off = 1;
      P.y_off = 3;
      run_check_problem(P, true);
      P.x_off = 0;
      P.y_off = 1;
      P.nhwc = true;
      run_check_problem(P, true);
    }
  // |x| ~ 1e4 (fp32): the accuracy cases of NOTES-cuda.md v7 (fp64 pooling and hidden layer)
  for (bool nhwc : {false, true}) {
    Problem P = make_problem(clu::kSE, 2, 64, 56, 56, nhwc, false);
    P.hidden = 16;
    P.xscale = 1e4;
    run_check_problem(P, true);
    Problem Q = make_problem(clu::kSE, 2, 1024, 7, 7, nhwc, false);
    Q.hidden = 64;
    Q.xscale = 1e4;
    run_check_problem(Q, true);
    Problem E = make_problem(clu::kECA, 2, 64, 56, 56, nhwc, false);
    E.xscale = 1e4;
    run_check_problem(E, true);
  }
  // NaN / Inf on every path (held and re-read, G = 1 and G > 1, both layouts)
  const S nshape[] = {{2, 32, 7, 7}, {1, 256, 14, 14}, {3, 40, 9, 9}};
  for (bool f16 : {false, true})
    for (bool nhwc : {false, true})
      for (const S& s : nshape)
        for (int op : {clu::kSE, clu::kECA})
          for (int inj = 1; inj <= 7; ++inj) {
            if (op == clu::kSE && inj == 7) continue;
            if (op == clu::kECA && inj >= 3 && inj <= 6) continue;
            Problem P = make_problem(op, s.n, s.c, s.h, s.w, nhwc, f16);
            P.inj = inj;
            run_check_problem(P, false);
          }
}

// ---- timing ------------------------------------------------------------------------------------
static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

struct Timing {
  double us = 0, us_graph = 0;
};

template <typename F>
static Timing time_fn(F&& fn, int sets, int iters, int graph_len, int replays, cudaStream_t st) {
  Timing t;
  std::vector<cudaEvent_t> ev(2 * size_t(iters));
  for (auto& e : ev) CK(cudaEventCreate(&e));
  for (int i = 0; i < std::max(3, sets); ++i) fn(i);  // warm-up, touches every set once
  CK(cudaStreamSynchronize(st));
  std::vector<double> us(iters);
  for (int i = 0; i < iters; ++i) {
    CK(cudaEventRecord(ev[2 * i], st));
    fn(i);
    CK(cudaEventRecord(ev[2 * i + 1], st));
  }
  CK(cudaStreamSynchronize(st));
  for (int i = 0; i < iters; ++i) {
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, ev[2 * i], ev[2 * i + 1]));
    us[i] = ms * 1000.0;
  }
  t.us = median(us);
  // graph of graph_len launches (rotating sets), replayed
  cudaGraph_t g = nullptr;
  cudaGraphExec_t ge = nullptr;
  CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < graph_len; ++i) fn(i);
  CK(cudaStreamEndCapture(st, &g));
  CK(cudaGraphInstantiate(&ge, g, 0));
  CK(cudaGraphLaunch(ge, st));
  CK(cudaStreamSynchronize(st));
  std::vector<double> per;
  for (int r = 0; r < replays; ++r) {
    CK(cudaEventRecord(ev[0], st));
    CK(cudaGraphLaunch(ge, st));
    CK(cudaEventRecord(ev[1], st));
    CK(cudaEventSynchronize(ev[1]));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, ev[0], ev[1]));
    per.push_back(ms * 1000.0 / graph_len);
  }
  t.us_graph = median(per);
  CK(cudaGraphExecDestroy(ge));
  CK(cudaGraphDestroy(g));
  for (auto& e : ev) CK(cudaEventDestroy(e));
  return t;
}

static FILE* g_md = nullptr;   // the table, appended row by row (a timeout keeps what was done)
static FILE* g_csv = nullptr;  // the same rows, tab-separated, for `se_cluster summary DIR`
struct Row;
static void md_row(const Row& r);

struct Row {
  std::string variant, op, shape, dtype, layout, desc, note;
  double us = 0, us_g = 0, copy = 0, copy_g = 0, err = 0;
  bool ran = false, ok = false;
};
static std::vector<Row> g_rows;
static std::vector<std::string> g_probes;

static void bench_problem(const Problem& P, bool quick) {
  if (out_of_time()) return;
  auto runners = make_runners(P.n == 1 ? 1 : 2);
  if (runners.empty()) return;  // none of this process's variants times this shape
  HostW W = make_weights(P);
  HostX X;
  make_x(P, W, X);
  std::vector<double> ref;
  reference(P, W, X.val, ref);
  DevW dw;
  dw.upload(W);
  const size_t xb = P.numel() * P.es();
  const size_t l2 = size_t(g_prop.l2CacheSize);
  int sets = 1;
  if (2 * xb < 3 * l2) sets = int(std::min<size_t>(1024, 3 * l2 / (2 * xb) + 1));
  const bool b1 = P.n == 1;
  const int iters = b1 ? (quick ? 50 : 100) : (quick ? 10 : 30);
  const int graph_len = std::max(b1 ? 100 : 20, sets);
  const int replays = 5;
  std::vector<unsigned char*> xs(sets), ys(sets);
  const size_t guard = 64;
  for (int i = 0; i < sets; ++i) {
    CK(cudaMalloc(&xs[i], xb));
    CK(cudaMalloc(&ys[i], xb + 2 * guard * P.es() + 64));
  }
  CK(cudaMemcpy(xs[0], X.raw.data(), xb, cudaMemcpyHostToDevice));
  for (int i = 1; i < sets; ++i) CK(cudaMemcpy(xs[i], xs[0], xb, cudaMemcpyDeviceToDevice));
  cudaStream_t st;
  CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  auto yat = [&](int i) { return ys[i] + guard * P.es(); };
  auto copy = [&](int i) { CK(cudaMemcpyAsync(yat(i % sets), xs[i % sets], xb, cudaMemcpyDeviceToDevice, st)); };
  for (auto& R : runners) {
    if (out_of_time()) break;
    Row row;
    row.variant = R->name;
    row.op = P.op == clu::kSE ? "SE" : "ECA";
    row.shape = P.shape();
    row.dtype = P.f16 ? "f16" : "f32";
    row.layout = P.nhwc ? "NHWC" : "NCHW";
    // correctness on this very input (poisoned output, guards, twice, bitwise)
    CheckResult cr = check_one(*R, P, X, ref, xs[0], ys[0], guard, dw);
    if (!cr.ran) {
      row.note = cr.why;
      g_rows.push_back(row);
      md_row(row);
      std::printf("%-7s %-3s %-14s %s %s  skipped: %s\n", row.variant.c_str(), row.op.c_str(), row.shape.c_str(),
                  row.dtype.c_str(), row.layout.c_str(), cr.why.c_str());
      continue;
    }
    row.ran = true;
    row.ok = cr.ok;
    row.err = cr.err;
    row.desc = R->desc;
    if (!cr.ok) row.note = cr.why;
    (cr.ok ? g_pass : g_fail)++;
    auto op = [&](int i) { R->launch(xs[i % sets], yat(i % sets), st); };
    // interleaved copy, op, copy, op: drift hits both alike; min of the two medians
    Timing c1 = time_fn(copy, sets, iters, graph_len, replays, st);
    Timing o1 = time_fn(op, sets, iters, graph_len, replays, st);
    Timing c2 = time_fn(copy, sets, iters, graph_len, replays, st);
    Timing o2 = time_fn(op, sets, iters, graph_len, replays, st);
    row.copy = std::min(c1.us, c2.us);
    row.copy_g = std::min(c1.us_graph, c2.us_graph);
    row.us = std::min(o1.us, o2.us);
    row.us_g = std::min(o1.us_graph, o2.us_graph);
    g_rows.push_back(row);
    md_row(row);
    if (auto* cr2 = dynamic_cast<ClusterRunner*>(R.get())) {
      const bool want = b1 && (R->name == "v1" || R->name == "v3") && !P.nhwc &&
                        ((P.op == clu::kSE && ((P.c == 256 && !P.f16) || (P.c == 2048 && P.f16) || (P.c == 96 && !P.f16))) ||
                         (P.op == clu::kECA && P.c == 256 && !P.f16));
      const bool want_nhwc = b1 && R->name == "v1" && P.nhwc && P.op == clu::kSE && P.c == 256 && !P.f16;
      if (want || want_nhwc) {
        const std::vector<double> m = cr2->probe(xs, ys, guard * P.es(), 21, st);
        int clk = 0;
        CK(cudaDeviceGetAttribute(&clk, cudaDevAttrClockRate, 0));
        const double us = 1e3 / clk;  // cycles -> µs at the reported (max) SM clock
        char b[400];
        std::snprintf(b, sizeof b,
                      "probe %-4s %-3s %-14s %s %s: issued %.2f | pooled %.2f | exchanged %.2f | gated %.2f | stored %.2f | "
                      "end %.2f µs (latest CTA, median of 21; [%s])",
                      R->name.c_str(), row.op.c_str(), row.shape.c_str(), row.dtype.c_str(), row.layout.c_str(), m[0] * us,
                      m[1] * us, m[2] * us, m[3] * us, m[4] * us, m[5] * us, R->desc.c_str());
        g_probes.push_back(b);
        std::printf("%s\n", b);
      }
    }
    std::printf("%-7s %-3s %-14s %s %s %8.2f %8.2f | copy %7.2f %7.2f | %5.2fx %5.2fx | err %.1e %s [%s] (o %.2f/%.2f)%s%s\n",
                row.variant.c_str(), row.op.c_str(), row.shape.c_str(), row.dtype.c_str(), row.layout.c_str(), row.us,
                row.us_g, row.copy, row.copy_g, row.us / row.copy, row.us_g / row.copy_g, row.err,
                row.ok ? "PASS" : "FAIL", row.desc.c_str(), o1.us_graph, o2.us_graph, row.ok ? "" : " <- ",
                row.note.c_str());
    std::fflush(stdout);
  }
  CK(cudaStreamSynchronize(st));
  CK(cudaStreamDestroy(st));
  for (int i = 0; i < sets; ++i) {
    CK(cudaFree(xs[i]));
    CK(cudaFree(ys[i]));
  }
  dw.release();
}

static void open_table(const char* dir) {
  if (!dir) return;
  std::string path = std::string(dir) + "/cluster-table.md";
  g_md = std::fopen(path.c_str(), "a");
  g_csv = std::fopen((std::string(dir) + "/rows.tsv").c_str(), "a");
  if (!g_md) return;
  std::fseek(g_md, 0, SEEK_END);
  if (std::ftell(g_md) == 0) {
    char date[64];
    std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
    std::fprintf(g_md,
                 "# native/dev/cluster/se_cluster.cu timings\n\n- date: %s\n- GPU: %s (%d SMs, L2 %d MB, smem/block opt-in %zu KB)\n"
                 "- µs: CUDA events around each launch, median; graph: per op from CUDA-graph replays of the launches, median;"
                 " copy: same-size D2D cudaMemcpy timed the same ways in the same run; ratio = µs / copy µs, ratio g = graph / copy graph\n"
                 "- SE hidden = max(8, C/16), ReLU, sigmoid, biases; ECA k = 3 (C < 512) else 5; weights fp32, L2-resident\n"
                 "- rows come from one process per variant (run.sh), in the order they ran\n\n"
                 "| variant | op | N×C×H×W | dtype | layout | µs | µs graph | copy µs | copy graph µs | ratio | ratio g | max rel err | pass | config |\n"
                 "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
                 date, g_prop.name, g_prop.multiProcessorCount, g_prop.l2CacheSize >> 20,
                 size_t(g_prop.sharedMemPerBlockOptin) / 1024);
  }
  std::fflush(g_md);
  std::printf("table: %s\n", path.c_str());
}

static void md_row(const Row& r) {
  if (g_csv) {
    std::fprintf(g_csv, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%.3e\t%s\t%s\n", r.variant.c_str(),
                 r.op.c_str(), r.shape.c_str(), r.dtype.c_str(), r.layout.c_str(), int(r.ran), int(r.ok), r.us, r.us_g, r.copy,
                 r.copy_g, r.err, r.desc.empty() ? "-" : r.desc.c_str(), r.note.empty() ? "-" : r.note.c_str());
    std::fflush(g_csv);
  }
  if (!g_md) return;
  if (!r.ran) {
    std::fprintf(g_md, "| %s | %s | %s | %s | %s | – | – | – | – | – | – | – | skip | %s |\n", r.variant.c_str(), r.op.c_str(),
                 r.shape.c_str(), r.dtype.c_str(), r.layout.c_str(), r.note.c_str());
  } else {
    std::fprintf(g_md, "| %s | %s | %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.1e | %s | %s%s%s |\n",
                 r.variant.c_str(), r.op.c_str(), r.shape.c_str(), r.dtype.c_str(), r.layout.c_str(), r.us, r.us_g, r.copy,
                 r.copy_g, r.us / r.copy, r.us_g / r.copy_g, r.err, r.ok ? "pass" : "FAIL", r.desc.c_str(),
                 r.ok ? "" : "; ", r.note.c_str());
  }
  std::fflush(g_md);
}

// Compact summary, printed last (the device tool returns the end of the output): graph µs per
// variant for each configuration; '!' marks a failed check, '-' a skipped variant.
static void print_summary() {
  if (!g_probes.empty()) {
    std::printf("\n== phase probes (thread 0 clock64 from its kernel start, at the reported max SM clock)\n");
    for (auto& p : g_probes) std::printf("%s\n", p.c_str());
  }
  std::vector<std::string> names;
  for (const char* n : {"base", "v1", "v1f", "v2", "v3", "v4", "v5", "floor16", "floorR"})
    for (const Row& r : g_rows)
      if (r.variant == n) {
        names.push_back(n);
        break;
      }
  std::printf("\n== graph-replay µs per op (copy = D2D copy, graph); '!' failed check, '-' skipped\n");
  std::printf("%-3s %-13s %-3s %-4s %6s", "op", "shape", "dt", "lay", "copy");
  for (auto& n : names) std::printf(" %7s", n.c_str());
  std::printf("\n");
  std::vector<std::string> seen;
  for (const Row& r0 : g_rows) {
    const std::string key = r0.op + r0.shape + r0.dtype + r0.layout;
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(key);
    double copy_g = 0;
    for (const Row& r : g_rows)
      if (r.op + r.shape + r.dtype + r.layout == key && r.ran) copy_g = r.copy_g;
    std::printf("%-3s %-13s %-3s %-4s %6.2f", r0.op.c_str(), r0.shape.c_str(), r0.dtype.c_str(), r0.layout.c_str(), copy_g);
    for (auto& n : names) {
      const Row* f = nullptr;
      for (const Row& r : g_rows)
        if (r.op + r.shape + r.dtype + r.layout == key && r.variant == n) f = &r;
      if (!f) std::printf(" %7s", "");
      else if (!f->ran) std::printf(" %7s", "-");
      else std::printf(" %6.2f%s", f->us_g, f->ok ? " " : "!");
    }
    std::printf("\n");
  }
}

// Order: the reference shapes first (a stop at the budget keeps the most informative rows), SE
// and ECA side by side; batch 32 last.
static void run_bench(bool quick) {
  struct S {
    int n, c, h, w;
  };
  const S b1[] = {{1, 256, 56, 56}, {1, 2048, 7, 7}, {1, 96, 112, 112}, {1, 512, 28, 28}, {1, 1024, 14, 14}, {1, 240, 28, 28}};
  const S b32[] = {{32, 256, 56, 56}, {32, 2048, 7, 7}};
  std::printf("\n%-7s %-3s %-14s %s %s %8s %8s | %12s %7s | %6s %6s |\n", "variant", "op", "shape", "dt", "lay", "us",
              "graph", "copy", "graph", "ratio", "ratio_g");
  for (const S& s : b1)
    for (int op : {clu::kSE, clu::kECA})
      for (bool f16 : {false, true})
        for (bool nhwc : {false, true}) bench_problem(make_problem(op, s.n, s.c, s.h, s.w, nhwc, f16), quick);
  if (!quick)
    for (const S& s : b32)
      for (int op : {clu::kSE, clu::kECA})
        for (bool f16 : {false, true})
          for (bool nhwc : {false, true}) bench_problem(make_problem(op, s.n, s.c, s.h, s.w, nhwc, f16), quick);
}

// ---- selftest (no GPU): chunk geometry coverage, split/owner, plans on a synthetic H200 --------------
static int selftest() {
  int bad = 0;
  // 1. bulk granules + ragged ends cover every element of a held range exactly once, bulk copies
  //    are 16-byte aligned, inside the range, and ragged counts fit one warp
  for (int es : {2, 4})
    for (uint64_t off = 0; off < 16; off += es)
      for (int nunits = 1; nunits <= 40; ++nunits)
        for (int64_t ue : {1, 2, 3, 7, 8, 13, 49, 196, 784, 3136}) {
          const int nch = nunits < clu::kMaxChunks ? nunits : clu::kMaxChunks;
          const uint64_t g = 0x10000 + off;
          const int64_t ne = nunits * ue;
          std::vector<int> cov(size_t(ne), 0);
          for (int i = 0; i < nch; ++i) {
            const clu::ChunkGeo c = clu::chunk_geo(g, es, nunits, ue, nch, i);
            if (c.bytes % 16 || (c.bytes && c.a0 % 16) || c.hc + c.tc >= 32 || c.hc < 0 || c.tc < 0) ++bad;
            if (c.bytes) {
              const int64_t f0 = int64_t(c.a0 - g) / es, f1 = f0 + c.bytes / es;
              if (f0 < c.e0 || f1 > c.e1) ++bad;
              for (int64_t e = f0; e < f1; ++e) cov[size_t(e)]++;
            }
            for (int l = 0; l < c.hc; ++l) cov[size_t(c.e0 + l)]++;
            for (int l = 0; l < c.tc; ++l) cov[size_t(c.e1 - c.tc + l)]++;
          }
          for (int v : cov)
            if (v != 1) {
              ++bad;
              break;
            }
        }
  std::printf("selftest chunk geometry: %s\n", bad ? "FAIL" : "ok");
  int bad2 = 0;
  for (int64_t total = 1; total < 300; total += 7)
    for (int64_t parts = 1; parts < 140; parts += 3)
      for (int64_t u = 0; u < total; ++u) {
        const int64_t o = clu::owner_of(u, total, parts);
        int64_t lo, hi;
        clu::split_range(total, parts, o, lo, hi);
        if (!(lo <= u && u < hi)) ++bad2;
      }
  std::printf("selftest owner_of: %s\n", bad2 ? "FAIL" : "ok");
  // 2. plans for the bench shapes on a synthetic H200 (132 SMs, 228 KB/SM, 227 KB opt-in, 60 MB L2)
  g_dry = true;
  std::memset(&g_prop, 0, sizeof g_prop);
  std::snprintf(g_prop.name, sizeof g_prop.name, "synthetic H200");
  g_prop.major = 9;
  g_prop.multiProcessorCount = 132;
  g_prop.sharedMemPerMultiprocessor = 228 * 1024;
  g_prop.sharedMemPerBlockOptin = 227 * 1024;
  g_prop.l2CacheSize = 60 * 1024 * 1024;
  struct S {
    int n, c, h, w;
  };
  const S shapes[] = {{1, 256, 56, 56}, {1, 512, 28, 28}, {1, 1024, 14, 14}, {1, 2048, 7, 7},   {1, 96, 112, 112},
                      {1, 240, 28, 28}, {32, 256, 56, 56}, {32, 1024, 14, 14}, {32, 2048, 7, 7}};
  DevW none;
  for (int op : {clu::kSE, clu::kECA})
    for (const S& sh : shapes)
      for (bool f16 : {false, true})
        for (bool nhwc : {false, true}) {
          Problem P = make_problem(op, sh.n, sh.c, sh.h, sh.w, nhwc, f16);
          for (int v = 0; v < 4; ++v) {
            Plan pl = plan(P, v >= 2 ? 1 : 0, (v % 2) == 0, none);
            std::printf("plan %-3s %-14s %s %s v%d: %s\n", op == clu::kSE ? "SE" : "ECA", P.shape().c_str(),
                        f16 ? "f16" : "f32", nhwc ? "NHWC" : "NCHW", v + 1, pl.ok ? pl.desc().c_str() : pl.why.c_str());
            if (!pl.ok) ++bad;
          }
        }
  return bad || bad2 ? 1 : 0;
}

// refdump DIR (no GPU): problems with fresh inputs (and NaN/Inf injections), their weights and the
// float64 reference y as raw little-endian files, for ref_vs_torch.py to recompute with PyTorch.
static int refdump(const char* dir) {
  FILE* idx = std::fopen((std::string(dir) + "/index.txt").c_str(), "w");
  if (!idx) return 1;
  int id = 0;
  auto dump = [&](const std::string& name, const void* p, size_t bytes) {
    FILE* f = std::fopen((std::string(dir) + "/" + name).c_str(), "wb");
    if (bytes) std::fwrite(p, 1, bytes, f);
    std::fclose(f);
  };
  for (int op : {clu::kSE, clu::kECA})
    for (bool nhwc : {false, true})
      for (bool f16 : {false, true})
        for (int inj = 0; inj <= 7; ++inj) {
          if (op == clu::kSE && inj == 7) continue;
          if (op == clu::kECA && inj >= 3 && inj <= 6) continue;
          for (int rep = 0; rep < (inj ? 3 : 1); ++rep) {
            Problem P = make_problem(op, 2, op == clu::kECA ? 11 : 24, 5, 7, nhwc, f16);
            P.hidden = 6;
            P.k = op == clu::kECA ? 5 : 3;
            P.inj = inj;
            HostW W = make_weights(P);
            HostX X;
            make_x(P, W, X);
            std::vector<double> ref;
            reference(P, W, X.val, ref);
            const std::string pre = "p" + std::to_string(id);
            dump(pre + ".x", X.val.data(), X.val.size() * 8);
            dump(pre + ".y", ref.data(), ref.size() * 8);
            dump(pre + ".w1", W.w1.data(), W.w1.size() * 4);
            dump(pre + ".b1", W.b1.data(), W.b1.size() * 4);
            dump(pre + ".w2", W.w2.data(), W.w2.size() * 4);
            dump(pre + ".b2", W.b2.data(), W.b2.size() * 4);
            dump(pre + ".ew", W.ew.data(), W.ew.size() * 4);
            std::fprintf(idx, "%s %s %d %d %d %d %s %d %d %d\n", pre.c_str(), op == clu::kSE ? "SE" : "ECA", P.n, P.c, P.h,
                         P.w, nhwc ? "NHWC" : "NCHW", P.hidden, P.k, inj);
            ++id;
          }
        }
  std::fclose(idx);
  std::printf("refdump: %d problems in %s\n", id, dir);
  return 0;
}

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "all";
  if (mode == "selftest") return selftest();
  if (mode == "summary") {
    // merges the rows of every process of a run.sh step: se_cluster summary DIR
    const std::string path = std::string(argc > 2 ? argv[2] : ".") + "/rows.tsv";
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f) {
      std::printf("no %s\n", path.c_str());
      return 1;
    }
    char line[2048];
    int npass = 0, nfail = 0;
    while (std::fgets(line, sizeof line, f)) {
      std::vector<std::string> c;
      std::string cur;
      for (char* p = line; *p && *p != '\n'; ++p) {
        if (*p == '\t') {
          c.push_back(cur);
          cur.clear();
        } else {
          cur += *p;
        }
      }
      c.push_back(cur);
      if (c.size() < 14) continue;
      Row r;
      r.variant = c[0];
      r.op = c[1];
      r.shape = c[2];
      r.dtype = c[3];
      r.layout = c[4];
      r.ran = c[5] == "1";
      r.ok = c[6] == "1";
      r.us = std::atof(c[7].c_str());
      r.us_g = std::atof(c[8].c_str());
      r.copy = std::atof(c[9].c_str());
      r.copy_g = std::atof(c[10].c_str());
      r.err = std::atof(c[11].c_str());
      r.desc = c[12];
      r.note = c[13];
      if (r.ran) (r.ok ? npass : nfail)++;
      g_rows.push_back(r);
    }
    std::fclose(f);
    print_summary();
    std::printf("timed rows: %d passed their check, %d failed\n", npass, nfail);
    for (const Row& r : g_rows)
      if (r.ran && !r.ok)
        std::printf("FAIL %s %s %s %s %s: %s\n", r.variant.c_str(), r.op.c_str(), r.shape.c_str(), r.dtype.c_str(),
                    r.layout.c_str(), r.note.c_str());
    return nfail ? 1 : 0;
  }
  if (mode == "refdump") {
    rng.seed(std::getenv("SEED") ? std::strtoull(std::getenv("SEED"), nullptr, 10) : uint64_t(std::time(nullptr)));
    return refdump(argc > 2 ? argv[2] : ".");
  }
  const char* dir = argc > 2 ? argv[2] : std::getenv("OUT");
  uint64_t seed = std::getenv("SEED") ? std::strtoull(std::getenv("SEED"), nullptr, 10)
                                      : (uint64_t(std::time(nullptr)) ^ 0x5eed5eedull);
  rng.seed(seed);
  int dev_count = 0;
  CK(cudaGetDeviceCount(&dev_count));
  CK(cudaGetDeviceProperties(&g_prop, 0));
  int clk = 0, mclk = 0;
  cudaDeviceGetAttribute(&clk, cudaDevAttrClockRate, 0);
  cudaDeviceGetAttribute(&mclk, cudaDevAttrMemoryClockRate, 0);
  int drv = 0, rt = 0;
  cudaDriverGetVersion(&drv);
  cudaRuntimeGetVersion(&rt);
  if (!g_variants.empty()) {
    std::printf("variants:");
    for (auto& v : g_variants) std::printf(" %s", v.c_str());
    std::printf("\n");
  }
  std::printf("device: %s cc %d.%d, %d SMs, L2 %d MB, smem/SM %zu KB, smem/block opt-in %zu KB, clock %d MHz, mem %d MHz; "
              "driver %d runtime %d; seed %llu%s\n",
              g_prop.name, g_prop.major, g_prop.minor, g_prop.multiProcessorCount, g_prop.l2CacheSize >> 20,
              size_t(g_prop.sharedMemPerMultiprocessor) / 1024, size_t(g_prop.sharedMemPerBlockOptin) / 1024, clk / 1000,
              mclk / 1000, drv, rt, (unsigned long long)seed,
#ifdef WITH_SHIPPED
              "; base = shipped kernel"
#else
              "; built without the shipped kernel (no base rows)"
#endif
  );
  if (g_prop.major < 9) {
    std::printf("needs sm_90 (thread-block clusters, cp.async.bulk)\n");
    return 1;
  }
  {
    // how many 16-CTA clusters fit at one CTA per SM (the v1 shape at 1x256x56^2 fp32)
    KFn k = pick_kernel(clu::kSE, false, false);
    kernel_attrs(reinterpret_cast<const void*>(k));
    std::printf("max active clusters, 512 threads, 200 KB smem: K=16 %d, K=8 %d; 48 KB: K=16 %d, K=8 %d\n",
                max_active_clusters(k, 16, 200 * 1024), max_active_clusters(k, 8, 200 * 1024),
                max_active_clusters(k, 16, 48 * 1024), max_active_clusters(k, 8, 48 * 1024));
  }
  if (mode == "mini") run_mini();
  if (mode == "check" || mode == "all") {
    run_checks();
    std::string vt;
    for (auto& v : g_variants) vt += (vt.empty() ? "" : ",") + v;
    std::printf("checks (%s): %d passed, %d failed, %d skipped (variant does not take the shape)\n",
                vt.empty() ? "all variants" : vt.c_str(), g_pass, g_fail, g_skip);
  }
  if (mode == "bench" || mode == "all" || mode == "quick") {
    open_table(dir);
    run_bench(mode == "quick");
    if (g_md) std::fclose(g_md);
    if (g_csv) std::fclose(g_csv);
    print_summary();
  }
  std::printf("total: %d passed, %d failed%s (%.0f s)\n", g_pass, g_fail,
              g_stop ? "; STOPPED EARLY by the time budget (partial results)" : "", elapsed_s());
  return g_fail ? 1 : 0;
}
