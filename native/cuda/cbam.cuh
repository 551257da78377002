// CBAM pieces used by the fused kernel (fused.cuh): the channel gate from the shared MLP of
// the avg and max branches, and the spatial gate (mean/max over channels of x*s, k x k conv,
// folded-BN bias, gate).
#pragma once
#include "block_reduce.cuh"
#include "common.cuh"
#include "sample_barrier.cuh"
#include "tile_io.cuh"

namespace sqex {
namespace cuda {

struct FusedArgs;

// s[c] = gate((W2[c,:] . hid_avg + b2[c]) + (W2[c,:] . hid_max + b2[c]))
template <int UNR = 4>
__device__ __forceinline__ void cbam_gates(const FusedArgs& a, int n, int64_t c0, int64_t c1,
                                           const double* hid_sm, const double* hidmax_sm,
                                           float* s_sm, bool to_sbuf, double* scratch) {
  const int64_t cb = static_cast<int64_t>(n) * a.C;
  block_rows_dot<UNR>(a.w2, c0, c1, a.hidden, hid_sm, hidmax_sm, scratch, [&](int64_t c, double va, double vm) {
    const double b = a.b2 ? double(__ldg(a.b2 + c)) : 0.0;  // fp64 up to the gate
    const float s = gate_f(static_cast<float>((va + b) + (vm + b)), a.gate);
    s_sm[c] = s;
    if (to_sbuf) __stcg(a.sbuf + cb + c, s);
  });
}

// The conv's taps on the map for output (r, col): kernel rows [dy0, dy1), columns [dx0, dx1)
// (a k x k kernel, zero padding (k - 1) / 2). The WIDE conv loops (k > kAllTapsK, common.cuh)
// walk only these: a padding tap with a finite w adds w * 0 = +-0, which changes a sum at most
// in the sign of a zero (acc starts at the bias, which may be -0), and gate(+0) = gate(-0);
// NaN/Inf ones are pad_nan_fixup's, which sets the output to NaN whatever the sum.
struct TapBox {
  int dy0, dy1, dx0, dx1;
};
// (min(k, H + pad - r) without forming H + pad, which passes 2^31 - 1 when H does not fit with
// the pad: H and W go up to 2^31 - 1 (lib/args.ts MAX_ELEMENTS), pad to 2047. H - r >= 1; when
// H - r > pad the bound is k (k = 2 pad + 1), else H - r + pad <= 2 pad.)
__device__ __forceinline__ TapBox cbam_taps_on_map(int k, int H, int W, int r, int col) {
  const int pad = (k - 1) / 2;
  return TapBox{max(0, pad - r), H - r > pad ? k : H - r + pad, max(0, pad - col),
                W - col > pad ? k : W - col + pad};
}

// Spatial gate at position p straight from the sample's [2][HW] maps in the workspace (L2).
template <bool WIDE>
__device__ __forceinline__ float cbam_spatial_gate(const FusedArgs& a, const float* map_n,
                                                   int64_t p) {
  const int k = a.sk, pad = (k - 1) / 2;
  const int r = static_cast<int>(p / a.W), col = static_cast<int>(p - static_cast<int64_t>(r) * a.W);
  double acc = a.sbias;
  if constexpr (WIDE) {
    const TapBox b = cbam_taps_on_map(k, a.H, a.W, r, col);
    for (int ci = 0; ci < 2; ++ci) {
      const float* m = map_n + static_cast<int64_t>(ci) * a.HW;
      for (int dy = b.dy0; dy < b.dy1; ++dy) {
        const int rr = r + (dy - pad);  // (r + dy may pass 2^31 - 1 on a map that tall)
        for (int dx = b.dx0; dx < b.dx1; ++dx) {
          const int cc = col + (dx - pad);
          acc = fma(double(__ldg(a.aux + (ci * k + dy) * k + dx)),
                    double(__ldcg(m + static_cast<int64_t>(rr) * a.W + cc)), acc);
        }
      }
    }
  } else {
    for (int ci = 0; ci < 2; ++ci) {
      const float* m = map_n + static_cast<int64_t>(ci) * a.HW;
      for (int dy = 0; dy < k; ++dy) {
        const int rr = r + dy - pad;
        if (rr < 0 || rr >= a.H) continue;
        for (int dx = 0; dx < k; ++dx) {
          const int cc = col + dx - pad;
          if (cc < 0 || cc >= a.W) continue;
          acc = fma(double(__ldg(a.aux + (ci * k + dy) * k + dx)),
                    double(__ldcg(m + static_cast<int64_t>(rr) * a.W + cc)), acc);
        }
      }
    }
  }
  return gate_f(static_cast<float>(acc), a.gate);
}

// Spatial gate for positions [p0, p1) of sample n from its [2][HW] maps in the workspace:
// the map rows a batch of output rows touches are staged in shared memory (halo, kHalo
// elements), then each position's 2*k*k taps (WIDE: its taps on the map, cbam_taps_on_map) read
// shared memory. emit(p, g). Ends with a barrier. Taps on the zero padding may be skipped here:
// pad_nan_fixup handles NaN/Inf ones. HaloT double (CBAM's passes): the map values widened once
// as they are staged, not once a tap; kTaps: the 2*k*k weights read from taps (already widened,
// in shared memory) instead of a.aux. Either way each tap's fma gets the same two doubles: the
// same bits.
template <bool WIDE, typename HaloT = float, bool kTaps = false, typename F>
__device__ __forceinline__ void cbam_gate_range(const FusedArgs& a, const float* map_n, int64_t p0,
                                                int64_t p1, HaloT* halo, F&& emit, const double* taps = nullptr) {
  if (p0 >= p1) return;
  const int k = a.sk, pad = (k - 1) / 2, W = a.W, H = a.H;
  const int64_t HW = a.HW;
  const int rows_cap = kHalo / (2 * W) - 2 * pad;
  const int tid = threadIdx.x;
  const int r_first = static_cast<int>(p0 / W), r_last = static_cast<int>((p1 - 1) / W);
  if (rows_cap < 1) {  // very wide maps: taps straight from L2
    for (int64_t p = p0 + tid; p < p1; p += kThreads) emit(p, cbam_spatial_gate<WIDE>(a, map_n, p));
    __syncthreads();  // NHWC reads g_sm written by other threads next
    return;
  }
  // Batches of output rows [rb, re), counted in unsigned: rb + rows_cap passes 2^31 - 1 on an
  // H x 1 map with H near it (in int the loop wrapped to negative rows and ran ~2^32 / rows_cap
  // batches), never 2^32 - 1. The halo row h0 + q (>= -pad, < H + pad) is taken mod 2^32 too: it
  // is on the map exactly when that is below H.
  for (unsigned rbu = r_first; rbu <= static_cast<unsigned>(r_last); rbu += rows_cap) {
    const int rb = static_cast<int>(rbu);
    const int re = static_cast<int>(min(static_cast<unsigned>(r_last) + 1u, rbu + rows_cap));
    const int h0 = rb - pad, nrows = re - rb + 2 * pad;
    const int span = nrows * W;
    __syncthreads();
    for (int i = tid; i < 2 * span; i += kThreads) {
      const int ci = i / span, rem = i - ci * span;
      const unsigned rr = static_cast<unsigned>(h0) + static_cast<unsigned>(rem / W);  // < H: on the map
      halo[i] = rr < static_cast<unsigned>(H) ? HaloT(__ldcg(map_n + ci * HW + static_cast<int64_t>(rr) * W + rem % W))
                                              : HaloT(0);
    }
    __syncthreads();
    const int64_t q0 = max(p0, static_cast<int64_t>(rb) * W), q1 = min(p1, static_cast<int64_t>(re) * W);
    for (int64_t p = q0 + tid; p < q1; p += kThreads) {
      const int r = static_cast<int>(p / W), col = static_cast<int>(p - static_cast<int64_t>(r) * W);
      double acc = a.sbias;  // fp64: the taps of large maps cancel
      if constexpr (WIDE) {
        const TapBox b = cbam_taps_on_map(k, H, W, r, col);
        for (int ci = 0; ci < 2; ++ci)
          for (int dy = b.dy0; dy < b.dy1; ++dy) {
            const HaloT* hrow = halo + ci * span + (r - h0 + dy - pad) * W;
            for (int dx = b.dx0; dx < b.dx1; ++dx) {
              const int cc = col + dx - pad;
              if constexpr (kTaps) acc = fma(taps[(ci * k + dy) * k + dx], double(hrow[cc]), acc);
              else acc = fma(double(__ldg(a.aux + (ci * k + dy) * k + dx)), double(hrow[cc]), acc);
            }
          }
      } else {
        for (int ci = 0; ci < 2; ++ci)
          for (int dy = 0; dy < k; ++dy) {
            const HaloT* hrow = halo + ci * span + (r - h0 + dy - pad) * W;  // zero rows outside H
            for (int dx = 0; dx < k; ++dx) {
              const int cc = col + dx - pad;
              if (cc < 0 || cc >= W) continue;
              if constexpr (kTaps) acc = fma(taps[(ci * k + dy) * k + dx], double(hrow[cc]), acc);
              else acc = fma(double(__ldg(a.aux + (ci * k + dy) * k + dx)), double(hrow[cc]), acc);
            }
          }
      }
      emit(p, gate_f(static_cast<float>(acc), a.gate));
    }
  }
  __syncthreads();
}

// Taps on the zero padding: torch's conv2d multiplies them in float64 (and in float32 where it
// does not hand the conv to oneDNN, which skips them; NOTES-cuda.md): w * 0, NaN for a NaN/Inf
// tap and +-0 (no change to any sum) for a finite one. cbam_gate_range skips padded taps; when
// the weights hold a NaN/Inf tap, this sets the gate of each position in [p0, p1) that has one
// on its padding to gate(NaN) = NaN. Data-independent and apart from the conv loops (whose
// register allocation it would otherwise disturb). Whole block (uniform); ends with a barrier.
// k <= kAllTapsK: each position checks its 2k^2 taps. WIDE: a position's taps on the map are a
// rectangle of kernel rows and columns (cbam_taps_on_map), so some non-finite tap is on its
// padding exactly when the bounding box of the non-finite taps (rows and columns, both maps) is
// not inside it: O(1) a position (2k^2 is 33M at k 4095). scr (WIDE): 2 * kWarps ints of free
// shared memory.
template <bool WIDE, typename F>
__device__ __forceinline__ void pad_nan_fixup(const FusedArgs& a, int64_t p0, int64_t p1, int* scr, F&& emit) {
  const int k = a.sk, pad = (k - 1) / 2, W = a.W, H = a.H;
  if constexpr (WIDE) {
    int ylo = k, yhi = -1, xlo = k, xhi = -1;  // bounding box of the non-finite taps
    for (int i = threadIdx.x; i < 2 * k * k; i += kThreads)
      if (!isfinite(__ldg(a.aux + i))) {
        const int q = i / k, dy = q < k ? q : q - k, dx = i - q * k;
        ylo = min(ylo, dy);
        yhi = max(yhi, dy);
        xlo = min(xlo, dx);
        xhi = max(xhi, dx);
      }
    if (!__syncthreads_or(yhi >= 0)) return;
    block_min_max(ylo, yhi, scr);
    block_min_max(xlo, xhi, scr);
    for (int64_t p = p0 + threadIdx.x; p < p1; p += kThreads) {
      const int r = static_cast<int>(p / W), col = static_cast<int>(p - static_cast<int64_t>(r) * W);
      const TapBox b = cbam_taps_on_map(k, H, W, r, col);
      if (ylo < b.dy0 || yhi >= b.dy1 || xlo < b.dx0 || xhi >= b.dx1) emit(p, NAN);
    }
  } else {
    (void)scr;
    int bad_tap = 0;
    for (int i = threadIdx.x; i < 2 * k * k; i += kThreads) bad_tap |= !isfinite(__ldg(a.aux + i));
    if (!__syncthreads_or(bad_tap)) return;
    for (int64_t p = p0 + threadIdx.x; p < p1; p += kThreads) {
      const int r = static_cast<int>(p / W), col = static_cast<int>(p - static_cast<int64_t>(r) * W);
      bool nan_on_pad = false;
      const float* w = a.aux;
#pragma unroll 1
      for (int t = 0; t < 2 * k; ++t) {  // tap rows of both maps
        const int rr = r + (t < k ? t : t - k) - pad;
        const bool row_out = rr < 0 || rr >= H;
#pragma unroll 1
        for (int dx = 0; dx < k; ++dx, ++w) {
          const int cc = col + dx - pad;
          if ((row_out || cc < 0 || cc >= W) && !isfinite(__ldg(w))) nan_on_pad = true;
        }
      }
      if (nan_on_pad) emit(p, NAN);
    }
  }
  __syncthreads();
}

// Fills g_sm with the spatial gate for the positions this tile scales and returns the
// position g_sm[0] stands for. NCHW tiles hold channel ranges, so per-position partials
// go through the workspace and three more barriers; NHWC tiles hold whole positions.
template <typename T, bool NHWC, bool WIDE>
__device__ int64_t cbam_spatial(const FusedArgs& a, int n, int j, int64_t u0, int64_t u1,
                                int nchunks, bool held, const T* xn, const T* chunk_sm,
                                unsigned char* area, const float* s_sm, float* g_sm, float* halo,
                                unsigned* cnt, int& phase) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int T_ = a.T;
  const int64_t HW = a.HW;
  float* map_n = a.map + static_cast<int64_t>(n) * 2 * HW;
  if constexpr (!NHWC) {
    float* sp = a.spart + (static_cast<int64_t>(n) * T_ + j) * 2 * HW;
    for (int ch = 0; ch < nchunks; ++ch) {
      const int64_t cu0 = u0 + static_cast<int64_t>(ch) * a.upc;
      const int64_t cu1 = min(u1, cu0 + a.upc);
      if (!held) chunk_sm = load_chunk<T>(area, xn + cu0 * HW, (cu1 - cu0) * HW);
      for (int64_t p = tid; p < HW; p += kThreads) {
        SumAcc sacc;
        float mx = -INFINITY;
        for (int64_t cl = 0; cl < cu1 - cu0; ++cl) {
          const float v = to_f(chunk_sm[cl * HW + p]) * s_sm[cu0 + cl];
          sacc.add(v);
          mx = max_nan(mx, v);
        }
        double sum = sacc.get();
        if (ch > 0) {
          sum += __ldcg(sp + p);
          mx = max_nan(__ldcg(sp + HW + p), mx);
        }
        __stcg(sp + p, static_cast<float>(sum));
        __stcg(sp + HW + p, mx);
      }
      __syncthreads();
    }
    sample_sync(cnt, phase, T_);  // D: per-tile position partials in
    int64_t p0, p1;
    split_range(HW, T_, j, p0, p1);
    {
      const float* sp0 = a.spart + static_cast<int64_t>(n) * T_ * 2 * HW;
      double* dscr = reinterpret_cast<double*>(halo);
      block_strided_reduce<true>(sp0, sp0 + HW, 2 * HW, T_, p0, p1, dscr, halo + 2 * kThreads,
                                 [&](int64_t p, double sum, float mx) {
                                   __stcg(map_n + p, static_cast<float>(sum / a.C));
                                   __stcg(map_n + HW + p, mx);
                                 });
    }
    sample_sync(cnt, phase, T_);  // E: maps in
    float* gb = a.gbuf + static_cast<int64_t>(n) * HW;
    cbam_gate_range<WIDE>(a, map_n, p0, p1, halo, [&](int64_t p, float g) { __stcg(gb + p, g); });
    sample_sync(cnt, phase, T_);  // F: spatial gate in
    for (int64_t p = tid; p < HW; p += kThreads) g_sm[p] = __ldcg(a.gbuf + static_cast<int64_t>(n) * HW + p);
    __syncthreads();
    pad_nan_fixup<WIDE>(a, 0, HW, reinterpret_cast<int*>(halo), [&](int64_t p, float g) { g_sm[p] = g; });
    return 0;
  } else {
    const int C = a.C;
    for (int ch = 0; ch < nchunks; ++ch) {
      const int64_t cu0 = u0 + static_cast<int64_t>(ch) * a.upc;
      const int64_t cu1 = min(u1, cu0 + a.upc);
      if (!held) chunk_sm = load_chunk<T>(area, xn + cu0 * C, (cu1 - cu0) * C);
      const int64_t np = cu1 - cu0;
      if (C >= 32) {
        for (int64_t pl = warp; pl < np; pl += kWarps) {
          const T* row = chunk_sm + pl * C;
          SumAcc sacc;
          float mx = -INFINITY;
          for (int c = lane; c < C; c += 32) {
            const float v = to_f(row[c]) * s_sm[c];
            sacc.add(v);
            mx = max_nan(mx, v);
          }
          double sum = sacc.get();
          sum = warp_sum(sum);
          mx = warp_max(mx);
          if (lane == 0) {
            __stcg(map_n + cu0 + pl, static_cast<float>(sum / C));
            __stcg(map_n + HW + cu0 + pl, mx);
          }
        }
      } else {
        for (int64_t pl = tid; pl < np; pl += kThreads) {
          const T* row = chunk_sm + pl * C;
          SumAcc sacc;
          float mx = -INFINITY;
          for (int c = 0; c < C; ++c) {
            const float v = to_f(row[c]) * s_sm[c];
            sacc.add(v);
            mx = max_nan(mx, v);
          }
          double sum = sacc.get();
          __stcg(map_n + cu0 + pl, static_cast<float>(sum / C));
          __stcg(map_n + HW + cu0 + pl, mx);
        }
      }
      __syncthreads();
    }
    sample_sync(cnt, phase, T_);  // D: maps of n in
    cbam_gate_range<WIDE>(a, map_n, u0, u1, halo, [&](int64_t p, float g) { g_sm[p - u0] = g; });
    pad_nan_fixup<WIDE>(a, u0, u1, reinterpret_cast<int*>(halo), [&](int64_t p, float g) { g_sm[p - u0] = g; });
    return u0;
  }
}

// CBAM NCHW position tile [C][w] (cbam_pt.cuh), channel gates s_sm: the spatial maps at its
// positions, mean and max over channels of x*s, to map_n[p0 + pl] and map_n[HW + p0 + pl]. All C
// channels of a position are in this block, so the maps need no partials in the workspace. G
// contiguous channel groups per position when w is small (all threads busy; consecutive threads
// read consecutive positions of a row), combined in group order in `red` (3 * kThreads floats).
template <typename T>
__device__ __forceinline__ void cbam_pt_maps(const T* xs, int C, int64_t HW, int64_t p0, int w,
                                             const float* s_sm, float* map_n, float* red) {
  const int tid = threadIdx.x;
  int G = kThreads / w;
  if (G > C) G = C;
  if (G <= 1) {
    for (int pl = tid; pl < w; pl += kThreads) {
      SumAcc sacc;
      float mx = -INFINITY;
      for (int c = 0; c < C; ++c) {
        const float v = to_f(xs[c * w + pl]) * s_sm[c];
        sacc.add(v);
        mx = max_nan(mx, v);
      }
      __stcg(map_n + p0 + pl, static_cast<float>(sacc.get() / C));
      __stcg(map_n + HW + p0 + pl, mx);
    }
    return;
  }
  double* dred = reinterpret_cast<double*>(red);
  float* mred = red + 2 * kThreads;
  if (tid < G * w) {
    const int g = tid / w, pl = tid - g * w;
    const int c0 = static_cast<int>(int64_t(C) * g / G), c1 = static_cast<int>(int64_t(C) * (g + 1) / G);
    SumAcc sacc;
    float mx = -INFINITY;
    for (int c = c0; c < c1; ++c) {
      const float v = to_f(xs[c * w + pl]) * s_sm[c];
      sacc.add(v);
      mx = max_nan(mx, v);
    }
    dred[tid] = sacc.get();
    mred[tid] = mx;
  }
  __syncthreads();
  if (tid < w) {
    double sum = 0.0;
    float mx = -INFINITY;
    for (int g = 0; g < G; ++g) {
      sum += dred[g * w + tid];
      mx = max_nan(mx, mred[g * w + tid]);
    }
    __stcg(map_n + p0 + tid, static_cast<float>(sum / C));
    __stcg(map_n + HW + p0 + tid, mx);
  }
}

}  // namespace cuda
}  // namespace sqex
