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
#include "apply.cuh"
#include "block_reduce.cuh"
#include "fused_args.cuh"
#include "pool.cuh"
#include "sample_barrier.cuh"
#include "tile_io.cuh"

// The excitation of each op (the FCs, ECA's conv, CBAM's spatial gate).
#include "cbam.cuh"
#include "eca.cuh"
#include "se.cuh"

namespace sqex {
namespace cuda {

// Gate computation for channels [c0, c1) into s_sm (absolute channel index); also to
// sbuf (for other blocks) and/or scale_out when asked. WIDE (ECA k > kAllTapsK): eca_nf is
// eca_nonfinite_taps (eca.cuh).
template <int OP, int UNR, bool WIDE = false>
__device__ __forceinline__ void gates_for(const FusedArgs& a, int n, int64_t c0, int64_t c1,
                                          double* z_sm, float* zmax_sm, double* hid_sm,
                                          double* hidmax_sm, float* s_sm, bool to_sbuf,
                                          bool to_scale_out, double* scratch, int2 eca_nf = int2{0, 0}) {
  if constexpr (OP == static_cast<int>(Op::SE)) {
    se_gates<UNR>(a, n, c0, c1, z_sm, hid_sm, s_sm, to_sbuf, to_scale_out, scratch);
  } else if constexpr (OP == static_cast<int>(Op::ECA)) {
    eca_gates<WIDE>(a, n, c0, c1, z_sm, s_sm, to_sbuf, to_scale_out, eca_nf);
  } else {
    cbam_gates<UNR>(a, n, c0, c1, hid_sm, hidmax_sm, s_sm, to_sbuf, scratch);
  }
}

// The excitation steps of position tiles, for cbam_pt_kernel. fused_kernel has the same steps
// written out inline: calling these from it moved the SE kernels' register allocation (ptxas -v,
// sm_90: SE f32 NHWC spill 48/68 -> 72/96 B, f16 NHWC 108/244 -> 96/120), and no GPU has timed it.
// The first FC of sample n into hid_sm (and CBAM's hidmax_sm) in every block of the sample:
// computed by each block when a.fc1_local, else split over the sample's first fc1_blocks tiles
// and shared through the workspace at barrier B. Ends before a __syncthreads the caller issues.
template <int UNR>
__device__ __forceinline__ void fc1_for_sample(const FusedArgs& a, int n, int j, double* z_sm, float* zmax_sm,
                                               double* hid_sm, double* hidmax_sm, double* scratch,
                                               unsigned* cnt, int& phase) {
  if (a.fc1_local) {
    load_z(a, n, 0, a.C, z_sm, zmax_sm);
    __syncthreads();
    fc1_rows<UNR>(a, n, 0, a.hidden, z_sm, zmax_sm, scratch, hid_sm, hidmax_sm);
  } else {
    if (j < a.fc1_blocks) {
      load_z(a, n, 0, a.C, z_sm, zmax_sm);
      __syncthreads();
      int64_t h0, h1;
      split_range(a.hidden, a.fc1_blocks, j, h0, h1);
      fc1_rows<UNR>(a, n, h0, h1, z_sm, zmax_sm, scratch);
    }
    sample_sync(cnt, phase, a.T);  // B: hidden layer of n is in
    const int64_t hb = static_cast<int64_t>(n) * a.hidden;
    for (int h = threadIdx.x; h < a.hidden; h += kThreads) {
      hid_sm[h] = __ldcg(a.hid + hb + h);
      if (zmax_sm) hidmax_sm[h] = __ldcg(a.hidmax + hb + h);
    }
  }
}

// All C gates of sample n into s_sm in every block of the sample (position tiles: NHWC, CBAM
// NCHW pt): each block computes them when a.s_local, else they are split over the first
// s_blocks tiles and shared through sbuf at barrier C.
template <int OP, int UNR>
__device__ __forceinline__ void gates_for_sample(const FusedArgs& a, int n, int j, double* z_sm, float* zmax_sm,
                                                 double* hid_sm, double* hidmax_sm, float* s_sm,
                                                 bool want_scale_out, double* scratch, unsigned* cnt,
                                                 int& phase) {
  if (a.s_local) {
    gates_for<OP, UNR>(a, n, 0, a.C, z_sm, zmax_sm, hid_sm, hidmax_sm, s_sm, false, want_scale_out && j == 0,
                       scratch);
  } else {
    if (j < a.s_blocks) {
      int64_t c0, c1;
      split_range(a.C, a.s_blocks, j, c0, c1);
      gates_for<OP, UNR>(a, n, c0, c1, z_sm, zmax_sm, hid_sm, hidmax_sm, s_sm, true, want_scale_out, scratch);
    }
    sample_sync(cnt, phase, a.T);  // C: all gates of n are in
    for (int c = threadIdx.x; c < a.C; c += kThreads)
      s_sm[c] = __ldcg(a.sbuf + static_cast<int64_t>(n) * a.C + c);
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
  block_rows_dot_grp(a.w2, u0, u1, a.hidden, nv, hid_sm, hs, scratch, [&](int64_t c, const double* v) {
    const double b = a.b2 ? double(__ldg(a.b2 + c)) : 0.0;
    for (int g = 0; g < nv; ++g) {
      const float s = gate_f(static_cast<float>(v[g] + b), a.gate);
      s_sm[g * upt + (c - u0)] = s;
      if (a.scale_out) a.scale_out[static_cast<int64_t>(n0 + g) * a.C + c] = s;
    }
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

// WIDE: ECA / CBAM with k > kAllTapsK (common.cuh); false for SE.
template <int OP, typename T, bool NHWC, bool WIDE = false>
__global__ void __launch_bounds__(kThreads, kMinBlocks) fused_kernel(const FusedArgs a) {
  constexpr bool kCbam = OP == static_cast<int>(Op::CBAM);
  constexpr bool kEca = OP == static_cast<int>(Op::ECA);
  // unroll of the FC row dots: measured with ptxas -v (v7), 2 keeps SE NCHW spill-free
  constexpr int kDotUnroll = (OP == static_cast<int>(Op::SE) && !NHWC) ? 2 : 4;
  SQEX_DYNAMIC_SMEM(smem);
  __shared__ int s_tile;
  const SmemLayout L = smem_layout(OP, a.C, a.hidden, a.g_len, a.grp);
  float* fx = reinterpret_cast<float*>(smem + a.tile_area);
  double* z_sm = reinterpret_cast<double*>(fx + L.z);
  float* zmax_sm = kCbam ? fx + L.zmax : nullptr;
  double* hid_sm = reinterpret_cast<double*>(fx + L.hid);
  double* hidmax_sm = reinterpret_cast<double*>(fx + L.hidmax);
  float* s_sm = fx + L.s;  // CBAM: s and g over z/zmax (ordering: smem_layout, fused_args.cuh)
  float* g_sm = fx + L.g;
  float* red = fx + L.red;
  double* scratch = reinterpret_cast<double*>(red);  // FC partials (2 * kWarps doubles)
  const int tid = threadIdx.x;
  const bool ct = NHWC && !kCbam && a.ct != 0;
  const int64_t U = (NHWC && !ct) ? a.HW : a.C;
  const int64_t unit = NHWC ? a.C : a.HW;
  const int64_t sample_elems = static_cast<int64_t>(a.C) * a.HW;
  const int Tn = a.T;
  // ECA WIDE: first and last non-finite tap, scanned at the block's first tile (x < 0: not yet)
  int2 eca_nf = int2{-1, -1};

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
      if constexpr (WIDE) {
        if (eca_nf.x < 0) eca_nf = eca_nonfinite_taps(a.aux, a.eca_k, reinterpret_cast<int*>(red));
      }
    }
    const bool want_scale_out = a.scale_out != nullptr && !kCbam;
    if (!NHWC || ct) {
      gates_for<OP, kDotUnroll, WIDE>(a, n, u0, u1, z_sm, zmax_sm, hid_sm, hidmax_sm, s_sm, false, want_scale_out,
                                      scratch, eca_nf);
    } else {
      if (a.s_local) {
        gates_for<OP, kDotUnroll, WIDE>(a, n, 0, a.C, z_sm, zmax_sm, hid_sm, hidmax_sm, s_sm, false,
                      want_scale_out && j == 0, scratch, eca_nf);
      } else {
        if (j < a.s_blocks) {
          int64_t c0, c1;
          split_range(a.C, a.s_blocks, j, c0, c1);
          gates_for<OP, kDotUnroll, WIDE>(a, n, c0, c1, z_sm, zmax_sm, hid_sm, hidmax_sm, s_sm, true,
                        want_scale_out, scratch, eca_nf);
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
      g_base = cbam_spatial<T, NHWC, WIDE>(a, n, j, u0, u1, nchunks, held, xn, chunk_sm, smem, s_sm,
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
  SQEX_DYNAMIC_SMEM(smem);
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
