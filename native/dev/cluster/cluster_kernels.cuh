// Thread-block-cluster variants of the fused SE / ECA kernel (sm_90): scratch code for
// native/dev/cluster/se_cluster.cu, not used by the addon. See NOTES.md beside this file.
//
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
#pragma once
#include <cooperative_groups.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

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
__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "WAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
      "@!p bra WAIT_%=;\n"
      "}\n" ::"r"(smem_u32(bar)),
      "r"(parity)
      : "memory");
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

// ---- arguments (all offsets computed on the host, see plan() in se_cluster.cu) -------------
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
// read). Chunk geometry is shared with the host self-test (se_cluster.cu, mode selftest).
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
  int it = 0;
  for (int n = grp; n < a.N; n += a.groups, ++it) {
    const uint32_t parity = static_cast<uint32_t>(it & 1);
    const T* xn = static_cast<const T*>(a.x) + n * sample_elems;
    T* yn = static_cast<T*>(a.y) + n * sample_elems;
    const T* xg = xn + u0 * ue;  // this CTA's range in global
    T* yg = yn + u0 * ue;
    T* xs = nullptr;
    if (nh > 0) xs = fetch_held<T>(area, xg, nh, ue, nch, mbar, it == 0);
    __syncthreads();  // ragged ends of the held chunks are in

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

    // ---- exchange: z of the slice (NHWC), FC1 partials (SE) --------------------------------
    double* gxn = a.gx ? a.gx + static_cast<int64_t>(n) * G * a.gstride : nullptr;
    auto global_barrier = [&]() {
      // rank 0 of each of the G clusters arrives once; the cluster barrier that follows releases
      // the other CTAs. The last departure resets the counter for the next launch.
      if (r == 0 && tid == 0) {
        unsigned* c = a.cnt + n;
        __threadfence();
        red_release_gpu_add(c, 1u);
        if (ld_acquire_gpu(c) < static_cast<unsigned>(G)) {
          const long long t0 = clock64();
          while (ld_acquire_gpu(c) < static_cast<unsigned>(G)) {
            if (clock64() - t0 > (1ll << 33)) __trap();  // co-residency broken: error, not a hang
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
    const bool vec = a.vec_ok != 0;
    if (nh > 0) apply_scale<T, NHWC>(xs, yg, static_cast<int64_t>(nh) * ue, NHWC ? C : HW, s, vec);
    if (nu > nh)
      apply_scale<T, NHWC>(xg + static_cast<int64_t>(nh) * ue, yg + static_cast<int64_t>(nh) * ue,
                           static_cast<int64_t>(nu - nh) * ue, NHWC ? C : HW, NHWC ? s : s + nh, vec);
    cluster_wait();  // guard: nobody reads our shared memory any more (also before exit)
    __syncthreads();
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
