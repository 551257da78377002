// The two-pass path of NHWC SE and ECA over large samples, and CBAM's four passes in either
// layout (launch.cuh decides; NOTES-cuda.md, "NHWC SE/ECA in two passes", "CBAM in passes"):
// plain launches instead of the persistent fused kernel.
//   1. two_pass_pool: per-channel partial sums (CBAM: and maxes) of each chunk of positions,
//      part[n][k][c] (fp64), a block a (chunk, channel slice); NCHW (SE, CBAM): passes_pool_nchw,
//      a warp a chunk of a channel plane;
//   2. two_pass_excite: one block per sample sums its chunks' partials in chunk order, then the
//      op's excitation (se.cuh / eca.cuh / cbam.cuh, the fused kernel's own steps) into sbuf[n][c];
//   3. SE / ECA: two_pass_scale, y = x * s[n][c] (+ residual), optional ReLU, 16-byte vectors.
//      CBAM: cbam_passes_maps(_nchw), the spatial maps of x * s; then cbam_passes_scale, bands of
//      positions computing their spatial gates and y = x * (s[c] * g[p]).
// x is read twice (CBAM three times; the later reads partly from L2: each pass takes the samples
// in the reverse of the previous one's order), but no block waits at a sample barrier while it
// holds a tile: the fused kernel's tiles meet their sample's other tiles two to five times.
// Deterministic: fixed chunking per launch shape and fixed reduction orders, no float atomics.
// Needs C (NHWC) or C * H*W (SE NCHW) a multiple of the vector width (CBAM NCHW: none; its maps
// and scale passes load elements where H*W is not whole vectors), 16-byte aligned x, y and
// residual, and C * H*W < 2^31.
#pragma once
#include "apply.cuh"
#include "block_reduce.cuh"
#include "cbam.cuh"
#include "eca.cuh"
#include "fused_args.cuh"
#include "pool.cuh"
#include "se.cuh"

namespace sqex {
namespace cuda {

// acc[e] += element e of vector column v (channels v * VE ...) over positions first, first + G, ...
// below end: fp32 runs of pool_run<T>() positions, fp64 across runs; kMax (CBAM): also
// mx[e] = max_nan(mx[e], that element).
template <typename T, bool kMax = false>
__device__ __forceinline__ void sum_column(const T* xn, int C, int v, int first, int end, int G,
                                           double* acc, float* mx = nullptr) {
  constexpr int VE = Vec<T>::kN;
  constexpr int R = pool_run<T>();
  for (int q0 = first; q0 < end; q0 += R * G) {
    const int qe = q0 + R * G < end ? q0 + R * G : end;
    float run[VE];
#pragma unroll
    for (int e = 0; e < VE; ++e) run[e] = 0.f;
#pragma unroll 4
    for (int q = q0; q < qe; q += G) {
      Vec<T> vx;
      vx.raw = *reinterpret_cast<const uint4*>(xn + static_cast<int64_t>(q) * C + v * VE);
      float f[VE];
      vx.unpack(f);
      if constexpr (kMax) {
#pragma unroll
        for (int e = 0; e < VE; ++e) mx[e] = max_nan(mx[e], f[e]);
      }
      if constexpr (R == 1) {
#pragma unroll
        for (int e = 0; e < VE; ++e) acc[e] += f[e];
      } else {
#pragma unroll
        for (int e = 0; e < VE; ++e) run[e] += f[e];
      }
    }
    if constexpr (R != 1) {
#pragma unroll
      for (int e = 0; e < VE; ++e) acc[e] += run[e];
    }
  }
}

// Every grid is at most the resident blocks, each striding over its work items (so the emulator,
// which runs every block at once, takes them too).
//
// Pass 1. Item i = (n * K + k) * S + sl sums positions [k * ppb, min(HW, (k + 1) * ppb)) of sample
// n over channel slice sl, channels [sl * cw, min(C, (sl + 1) * cw)), into part[(n * K + k) * C +
// c]; items in increasing order, so samples are pooled first to last. With vps = (the slice's
// channels) / VE vectors a position, a thread owns one vector column of one position group (G =
// kThreads / vps groups stride over the positions) when vps <= kThreads, else columns tid, tid +
// kThreads, ... over all the chunk's positions. Sums as the fused kernel's pool_nhwc: fp32 runs of
// pool_run<T>() positions, fp64 across runs, the groups combined in group order. kMax (CBAM):
// the maxes too, into pmax[(n * K + k) * C + c].
template <typename T, bool kMax = false>
__global__ void __launch_bounds__(kThreads) two_pass_pool(const FusedArgs a, int K, int ppb, int S, int cw) {
  constexpr int VE = Vec<T>::kN;
  __shared__ double dred[kThreads * VE];
  __shared__ float mred[kMax ? kThreads * VE : 1];
  const int tid = threadIdx.x, C = a.C;
  const int64_t items = static_cast<int64_t>(a.N) * K * S;
  for (int64_t i = blockIdx.x; i < items; i += gridDim.x) {
    const int64_t nk = i / S;
    const int sl = static_cast<int>(i - nk * S);
    const int64_t n = nk / K;
    const int k = static_cast<int>(nk - n * K);
    const int p0 = k * ppb, p1 = min(a.HW, p0 + ppb);
    const int c0 = sl * cw, cn = min(cw, C - c0), vps = cn / VE;
    const T* xs = static_cast<const T*>(a.x) + n * static_cast<int64_t>(C) * a.HW + c0;
    double* prow = a.part + nk * C + c0;
    float* mrow = kMax ? a.pmax + nk * C + c0 : nullptr;
    if (vps <= kThreads) {
      const int G = kThreads / vps;
      double acc[VE];
      float mx[VE];
#pragma unroll
      for (int e = 0; e < VE; ++e) {
        acc[e] = 0.0;
        mx[e] = -INFINITY;
      }
      if (tid < G * vps) {
        const int g = tid / vps, v = tid - g * vps;
        sum_column<T, kMax>(xs, C, v, p0 + g, p1, G, acc, mx);
      }
      __syncthreads();  // the previous item's reads of dred are done
#pragma unroll
      for (int e = 0; e < VE; ++e) {
        dred[tid * VE + e] = acc[e];  // = dred[g * cn + v * VE + e]
        if constexpr (kMax) mred[tid * VE + e] = mx[e];
      }
      __syncthreads();
      for (int c = tid; c < cn; c += kThreads) {
        double sum = 0.0;
        float m = -INFINITY;
        for (int g = 0; g < G; ++g) {
          sum += dred[g * cn + c];
          if constexpr (kMax) m = max_nan(m, mred[g * cn + c]);
        }
        __stcg(prow + c, sum);
        if constexpr (kMax) __stcg(mrow + c, m);
      }
    } else {
      for (int v = tid; v < vps; v += kThreads) {
        double acc[VE];
        float mx[VE];
#pragma unroll
        for (int e = 0; e < VE; ++e) {
          acc[e] = 0.0;
          mx[e] = -INFINITY;
        }
        sum_column<T, kMax>(xs, C, v, p0, p1, 1, acc, mx);
#pragma unroll
        for (int e = 0; e < VE; ++e) {
          __stcg(prow + v * VE + e, acc[e]);
          if constexpr (kMax) __stcg(mrow + v * VE + e, mx[e]);
        }
      }
    }
  }
}

// Shared memory of two_pass_excite, in bytes. SE / ECA: z [C doubles, rounded up to an even count:
// the hidden layer's double2 reads in se_gates need 16 bytes; odd C reaches it from NCHW], the
// hidden layer [hidden doubles; 0 for ECA and single-FC SE], s [C floats], scratch [kThreads
// doubles]. CBAM (every
// vector on a 16-byte boundary: the FC dots read double2 / float4): z [C doubles], zmax [C
// floats], hid and hidmax [hidden doubles each], s [C floats], scratch [kThreads doubles, then
// kThreads floats].
__host__ __device__ inline int64_t two_pass_excite_smem(int C, int hidden, bool cbam = false) {
  if (cbam) {
    const int64_t c4 = (static_cast<int64_t>(C) + 3) & ~int64_t(3), h4 = (static_cast<int64_t>(hidden) + 3) & ~int64_t(3);
    return c4 * 8 + c4 * 4 + h4 * 16 + c4 * 4 + kThreads * 12;
  }
  const int64_t c2 = (static_cast<int64_t>(C) + 1) & ~int64_t(1);
  return (c2 + hidden + c2 / 2 + kThreads) * 8;
}

// z[c] = (the sum over k of part[n][k][c], in k order, or J interleaved sums in j order when J
// threads share a channel) / HW for sample n's K chunk partials pp = part + n * K * C; zmax
// (CBAM, may be null) the max_nan of pmax's likewise, from pm. scratch: kThreads doubles, then
// kThreads floats. Ends with a barrier.
__device__ __forceinline__ void means_of_chunks(const FusedArgs& a, const double* pp, const float* pm,
                                                int K, double* z_sm, float* zmax_sm, double* scratch) {
  const int J = a.C < kThreads ? min(kThreads / a.C, K) : 1;
  if (J == 1) {
    for (int c = threadIdx.x; c < a.C; c += kThreads) {
      double s = 0.0;
      float m = -INFINITY;
      for (int k = 0; k < K; ++k) {
        s += __ldcg(pp + static_cast<int64_t>(k) * a.C + c);
        if (zmax_sm) m = max_nan(m, __ldcg(pm + static_cast<int64_t>(k) * a.C + c));
      }
      z_sm[c] = s / a.HW;
      if (zmax_sm) zmax_sm[c] = m;
    }
  } else {
    // J threads a channel, thread j summing chunks j, j + J, ...; then the J sums in j order
    float* mscr = reinterpret_cast<float*>(scratch + kThreads);
    const int t = threadIdx.x, j = t / a.C, c = t - j * a.C;
    if (t < J * a.C) {
      double s = 0.0;
      float m = -INFINITY;
      for (int k = j; k < K; k += J) {
        s += __ldcg(pp + static_cast<int64_t>(k) * a.C + c);
        if (zmax_sm) m = max_nan(m, __ldcg(pm + static_cast<int64_t>(k) * a.C + c));
      }
      scratch[t] = s;
      if (zmax_sm) mscr[t] = m;
    }
    __syncthreads();
    if (t < a.C) {
      double s = 0.0;
      float m = -INFINITY;
      for (int jj = 0; jj < J; ++jj) {
        s += scratch[jj * a.C + t];
        if (zmax_sm) m = max_nan(m, mscr[jj * a.C + t]);
      }
      z_sm[t] = s / a.HW;
      if (zmax_sm) zmax_sm[t] = m;
    }
  }
  __syncthreads();
}

// Pass 2. Block n: the means (and CBAM's maxes) of its chunks (means_of_chunks), then the gates of
// every channel into sbuf[n] (and scale_out), by the fused kernel's own excitation steps
// (fc1_rows / se_gates, eca_gates, fc1_rows with the max branch / cbam_gates).
template <int OP, bool WIDE>
__global__ void __launch_bounds__(kThreads) two_pass_excite(const FusedArgs a, int K) {
  constexpr bool kEca = OP == static_cast<int>(Op::ECA);
  constexpr bool kCbam = OP == static_cast<int>(Op::CBAM);
  SQEX_DYNAMIC_SMEM(smem);
  double* z_sm = reinterpret_cast<double*>(smem);
  double* hid_sm;
  float* zmax_sm = nullptr;
  double* hidmax_sm = nullptr;
  float* s_sm;
  double* scratch;
  if constexpr (kCbam) {
    const int c4 = (a.C + 3) & ~3, h4 = (a.hidden + 3) & ~3;
    zmax_sm = reinterpret_cast<float*>(z_sm + c4);
    hid_sm = reinterpret_cast<double*>(zmax_sm + c4);
    hidmax_sm = hid_sm + h4;
    s_sm = reinterpret_cast<float*>(hidmax_sm + h4);
    scratch = reinterpret_cast<double*>(s_sm + c4);
  } else {
    hid_sm = z_sm + ((a.C + 1) & ~1);
    // (single-FC SE: a.hidden is C, as in the fused kernel, but there is no hidden layer to hold)
    s_sm = reinterpret_cast<float*>(hid_sm + (kEca || !a.two_fc ? 0 : a.hidden));
    const int64_t c2 = (static_cast<int64_t>(a.C) + 1) & ~int64_t(1);
    scratch = reinterpret_cast<double*>(s_sm + c2);
  }
  int2 eca_nf = int2{0, 0};
  if constexpr (kEca && WIDE) eca_nf = eca_nonfinite_taps(a.aux, a.eca_k, reinterpret_cast<int*>(scratch));
  const bool want_scale_out = a.scale_out != nullptr;
  for (int n = blockIdx.x; n < a.N; n += gridDim.x) {
    const int64_t nkc = static_cast<int64_t>(n) * K * a.C;
    __syncthreads();  // the previous sample's reads of z, hid, s and scratch are done
    means_of_chunks(a, a.part + nkc, kCbam ? a.pmax + nkc : nullptr, K, z_sm, zmax_sm, scratch);
    if constexpr (kEca) {
      eca_gates<WIDE>(a, n, 0, a.C, z_sm, s_sm, true, want_scale_out, eca_nf);
    } else if constexpr (kCbam) {
      fc1_rows<4>(a, n, 0, a.hidden, z_sm, zmax_sm, scratch, hid_sm, hidmax_sm);
      __syncthreads();
      cbam_gates<4>(a, n, 0, a.C, hid_sm, hidmax_sm, s_sm, true, scratch);
    } else {
      if (a.two_fc) {
        fc1_rows<4>(a, n, 0, a.hidden, z_sm, nullptr, scratch, hid_sm, nullptr);
        __syncthreads();
      }
      se_gates<4>(a, n, 0, a.C, z_sm, hid_sm, s_sm, true, want_scale_out, scratch);
    }
  }
}

// Pass 2, batched (SE and CBAM whose FCs are too large for one block a sample: launch.cuh's
// kPassesBatchedFc): the FCs as slices of weight rows over groups of gs samples, so that one read
// of a weight row serves the group (block_rows_dot_rb: kMaxGrp vectors, SE 4 samples, CBAM 2 with
// their mean and max vectors). Item i = grp * S + sl: rows [sl * rows, min(R, (sl + 1) * rows)) for
// the samples [grp * gs, min(N, (grp + 1) * gs)).
//   kFcHidden: the group's means (CBAM: and maxes, widened to double: exact) from the chunk
//     partials (means_of_chunks), rows of W1 -> hid[n][h] = act(W1[h,:] . z + b1[h]) (CBAM: and
//     hidmax from the maxes), fp64, as fc1_rows;
//   kFcGates: rows of W2 over the group's hidden layers (CBAM: both), or of W1 over the means
//     (single-FC SE) -> sbuf[n][c] (SE: and scale_out), the gate of the fp64 dot + bias rounded
//     once, as se_gates / cbam_gates.
// Each item of a means stage reads its group's K * C partials: the planner gives such items at
// least 8 K rows, so that the weights they read outweigh them. Dynamic shared memory:
// passes_fc_smem.
enum : int { kFcHidden = 0, kFcGates = 1 };

// Rows [r0, r1) of W (row-major, len floats, len % 4 == 0, W 16-byte aligned) dotted with nv <=
// kMaxGrp fp64 shared-memory vectors at vsm + g * vstride (vstride % 4 == 0), kRB consecutive rows
// a thread: the thread's rows share its reads of the vectors, so a product costs kRB times fewer
// shared-memory bytes than in block_rows_dot_grp (where 4 vectors' 128 bytes a float4 of weights
// made the dot shared-memory bound: NOTES-cuda.md, "SE in passes with batched FCs"). Row blocks of
// kRB take TPR threads each (rows_dot_tpr over the blocks), thread tk over the float4s tk, tk + TPR,
// ...; partials combined by xor shuffles and, past a warp, in shared memory in warp order: a fixed
// order per launch shape. scratch: kRB * kMaxGrp * kWarps doubles. emit(row, dots) on one thread a
// row, dots[g] its fp64 dot with vector g < nv.
template <int kRB, typename EmitF>
__device__ __forceinline__ void block_rows_dot_rb(const float* __restrict__ W, int64_t r0, int64_t r1, int len,
                                                  int nv, const double* vsm, int vstride, double* scratch,
                                                  EmitF&& emit) {
  if (r1 <= r0) return;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t nb = (r1 - r0 + kRB - 1) / kRB;  // row blocks
  const int units = len / 4;
  const int TPR = rows_dot_tpr(nb, units);
  const int BP = kThreads / TPR;
  const int tb = tid / TPR, tk = tid - tb * TPR;
  for (int64_t base = 0; base < nb; base += BP) {
    const int64_t b = base + tb;
    const int64_t row0 = r0 + b * kRB;
    double acc[kRB][kMaxGrp];
#pragma unroll
    for (int j = 0; j < kRB; ++j)
#pragma unroll
      for (int g = 0; g < kMaxGrp; ++g) acc[j][g] = 0.0;
    if (b < nb) {
      const float4* w4 = reinterpret_cast<const float4*>(W + row0 * len);
      const int nr = r1 - row0 < kRB ? static_cast<int>(r1 - row0) : kRB;  // rows of this block
      for (int i = tk; i < units; i += TPR) {
        double2 xa[kMaxGrp], xb[kMaxGrp];
#pragma unroll
        for (int g = 0; g < kMaxGrp; ++g) {
          if (g < nv) {
            const double2* x2 = reinterpret_cast<const double2*>(vsm + g * vstride) + 2 * i;
            xa[g] = x2[0];
            xb[g] = x2[1];
          }
        }
#pragma unroll
        for (int j = 0; j < kRB; ++j) {
          if (j < nr) {
            const float4 w = __ldg(w4 + static_cast<int64_t>(j) * units + i);
            const double wx = w.x, wy = w.y, wz = w.z, ww = w.w;
#pragma unroll
            for (int g = 0; g < kMaxGrp; ++g)
              if (g < nv) acc[j][g] = fma(wx, xa[g].x, fma(wy, xa[g].y, fma(wz, xb[g].x, fma(ww, xb[g].y, acc[j][g]))));
          }
        }
      }
    }
    const int span = TPR < 32 ? TPR : 32;
#pragma unroll
    for (int j = 0; j < kRB; ++j)
#pragma unroll
      for (int g = 0; g < kMaxGrp; ++g)
        for (int o = span >> 1; o > 0; o >>= 1) acc[j][g] += __shfl_xor_sync(0xffffffffu, acc[j][g], o);
    if (TPR > 32) {
      if (lane == 0) {
#pragma unroll
        for (int j = 0; j < kRB; ++j)
#pragma unroll
          for (int g = 0; g < kMaxGrp; ++g) scratch[(j * kMaxGrp + g) * kWarps + warp] = acc[j][g];
      }
      __syncthreads();
      if (tk == 0) {
        const int nw = TPR / 32;
#pragma unroll
        for (int j = 0; j < kRB; ++j)
#pragma unroll
          for (int g = 0; g < kMaxGrp; ++g) {
            acc[j][g] = 0.0;
            for (int w = 0; w < nw; ++w) acc[j][g] += scratch[(j * kMaxGrp + g) * kWarps + warp + w];
          }
      }
      __syncthreads();
    }
    if (tk == 0 && b < nb) {
#pragma unroll
      for (int j = 0; j < kRB; ++j) {
        if (row0 + j < r1) {
          double dots[kMaxGrp];  // (a copy: acc's address taken would put it in local memory)
#pragma unroll
          for (int g = 0; g < kMaxGrp; ++g) dots[g] = acc[j][g];
          emit(row0 + j, static_cast<const double*>(dots));
        }
      }
    }
  }
}

// Rows a thread in passes_fc's dots.
constexpr int kFcRowsPerThread = 2;
static_assert(kFcRowsPerThread * kMaxGrp * kWarps <= kThreads, "passes_fc's scratch holds the dots' partials");

// Shared memory of passes_fc, in bytes: nvec vectors of len doubles (rows of 4: 16-byte aligned for
// the row dots), CBAM's maxes as floats before widening (cbam_means), scratch (kThreads doubles,
// then kThreads floats: means_of_chunks; block_rows_dot_rb uses kFcRowsPerThread * kMaxGrp *
// kWarps doubles of it).
__host__ __device__ inline int64_t passes_fc_smem(int64_t len, int nvec, bool cbam_means) {
  const int64_t vs = (len + 3) & ~int64_t(3);
  return nvec * vs * 8 + (cbam_means ? vs * 4 : 0) + int64_t(kThreads) * 12;
}

template <int OP, int STAGE>
__global__ void __launch_bounds__(kThreads) passes_fc(const FusedArgs a, int K, int gs, int S, int rows) {
  constexpr bool kCbam = OP == static_cast<int>(Op::CBAM);
  constexpr int VPS = kCbam ? 2 : 1;  // vectors a sample
  SQEX_DYNAMIC_SMEM(smem);
  const bool from_means = STAGE == kFcHidden || !a.two_fc;  // (CBAM: a.two_fc is 1)
  const int len = from_means ? a.C : a.hidden;
  const int vs = (len + 3) & ~3;
  double* v_sm = reinterpret_cast<double*>(smem);  // vector g * VPS + j at v_sm + (g * VPS + j) * vs
  float* fmax_sm = reinterpret_cast<float*>(v_sm + static_cast<int64_t>(gs) * VPS * vs);
  double* scratch = reinterpret_cast<double*>(fmax_sm + (kCbam && from_means ? vs : 0));
  const int64_t R = STAGE == kFcHidden ? a.hidden : a.C;
  const float* W = STAGE == kFcHidden || !a.two_fc ? a.w1 : a.w2;
  const float* B = STAGE == kFcHidden || !a.two_fc ? a.b1 : a.b2;
  const int64_t items = static_cast<int64_t>((a.N + gs - 1) / gs) * S;
  for (int64_t i = blockIdx.x; i < items; i += gridDim.x) {
    const int grp = static_cast<int>(i / S), sl = static_cast<int>(i - static_cast<int64_t>(grp) * S);
    const int n0 = grp * gs, nv = min(gs, a.N - n0);
    const int64_t r0 = static_cast<int64_t>(sl) * rows, r1 = min(R, r0 + rows);
    __syncthreads();  // the previous item's reads of the vectors and the scratch are done
    if (from_means) {
      for (int g = 0; g < nv; ++g) {
        const int64_t nkc = static_cast<int64_t>(n0 + g) * K * a.C;
        means_of_chunks(a, a.part + nkc, kCbam ? a.pmax + nkc : nullptr, K, v_sm + static_cast<int64_t>(g) * VPS * vs,
                        kCbam ? fmax_sm : nullptr, scratch);
        if constexpr (kCbam) {
          double* zm = v_sm + (static_cast<int64_t>(g) * 2 + 1) * vs;
          for (int c = threadIdx.x; c < a.C; c += kThreads) zm[c] = double(fmax_sm[c]);
          __syncthreads();
        }
      }
    } else {
      const int64_t hb = static_cast<int64_t>(n0) * a.hidden;
      for (int idx = threadIdx.x; idx < nv * a.hidden; idx += kThreads) {
        const int g = idx / a.hidden, h = idx - g * a.hidden;
        v_sm[static_cast<int64_t>(g) * VPS * vs + h] = __ldcg(a.hid + hb + idx);
        if constexpr (kCbam) v_sm[(static_cast<int64_t>(g) * 2 + 1) * vs + h] = __ldcg(a.hidmax + hb + idx);
      }
      __syncthreads();
    }
    block_rows_dot_rb<kFcRowsPerThread>(W, r0, r1, len, nv * VPS, v_sm, vs, scratch, [&](int64_t r, const double* v) {
      const double b = B ? double(__ldg(B + r)) : 0.0;
      for (int g = 0; g < nv; ++g) {
        const int64_t n = n0 + g;
        if constexpr (STAGE == kFcHidden) {
          __stcg(a.hid + n * a.hidden + r, act_d(v[g * VPS] + b, a.act));
          if constexpr (kCbam) __stcg(a.hidmax + n * a.hidden + r, act_d(v[g * 2 + 1] + b, a.act));
        } else {
          // fp64 up to the gate; CBAM: the MLP of the mean plus the MLP of the max (cbam_gates)
          const double pre = kCbam ? (v[g * 2] + b) + (v[g * 2 + 1] + b) : v[g] + b;
          const float s = gate_f(static_cast<float>(pre), a.gate);
          __stcg(a.sbuf + n * a.C + r, s);
          if (!kCbam && a.scale_out) a.scale_out[n * a.C + r] = s;
        }
      }
    });
  }
}

// Pass 3. Item i = m * B + b: sample n = N - 1 - m (the pooling's last samples are the likeliest
// still in L2), its 16-byte vectors b * kThreads + tid, then strided by B * kThreads. NCHW (SE):
// C * H*W is whole vectors; a vector inside one channel plane takes one gate, one across planes
// (H*W not whole vectors, e.g. 7x7) each element its own.
template <typename T, bool NHWC>
__global__ void __launch_bounds__(kThreads) two_pass_scale(const FusedArgs a, int B) {
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

// ---- CBAM (NHWC): pass 1 with the maxes (two_pass_pool<T, true>), pass 2 with the shared MLP
// and the channel gates (two_pass_excite<CBAM>), then the two passes below.

// Pass 3 of CBAM. The spatial maps: for each position p of sample n, the mean and the max over
// channels of x * s[n][c], into map[n][0][p] and map[n][1][p]. L lanes a position (a power of two,
// at most 32 and at most C / VE), each over vectors lane, lane + L, ... in order (SumAcc: fp32
// runs of 16, fp64 across), then combined across the L lanes by xor shuffles (a fixed order).
// Positions of the last sample first: the pooling read them last, so they are the likeliest in L2.
template <typename T>
__global__ void __launch_bounds__(kThreads) cbam_passes_maps(const FusedArgs a, int L) {
  constexpr int VE = Vec<T>::kN;
  const int C = a.C, vpp = C / VE;
  const int G = kThreads / L, lane = threadIdx.x % L, grp = threadIdx.x / L;
  const int64_t HW = a.HW, total = static_cast<int64_t>(a.N) * HW;
  // i0 is the same in the whole block, so every lane of a warp reaches the shuffles together
  for (int64_t i0 = static_cast<int64_t>(blockIdx.x) * G; i0 < total; i0 += static_cast<int64_t>(gridDim.x) * G) {
    const int64_t i = i0 + grp;
    const bool valid = i < total;
    const int64_t m = valid ? i / HW : 0;
    const int64_t n = a.N - 1 - m, p = valid ? i - m * HW : 0;
    SumAcc sacc;
    float mx = -INFINITY;
    if (valid) {
      const T* xp = static_cast<const T*>(a.x) + (n * HW + p) * C;
      const float* sn = a.sbuf + n * C;
      for (int v = lane; v < vpp; v += L) {
        Vec<T> vx;
        vx.raw = *reinterpret_cast<const uint4*>(xp + v * VE);
        float f[VE];
        vx.unpack(f);
#pragma unroll
        for (int e = 0; e < VE; e += 4) {
          const float4 s4 = __ldg(reinterpret_cast<const float4*>(sn + v * VE + e));
          const float q[4] = {f[e] * s4.x, f[e + 1] * s4.y, f[e + 2] * s4.z, f[e + 3] * s4.w};
#pragma unroll
          for (int u = 0; u < 4; ++u) {
            sacc.add(q[u]);
            mx = max_nan(mx, q[u]);
          }
        }
      }
    }
    double sum = sacc.get();
    for (int o = L >> 1; o > 0; o >>= 1) {
      sum += __shfl_xor_sync(0xffffffffu, sum, o);
      mx = max_nan(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    }
    if (valid && lane == 0) {
      float* map_n = a.map + n * 2 * HW;
      __stcg(map_n + p, static_cast<float>(sum / C));
      __stcg(map_n + HW + p, mx);
    }
  }
}

// ---- NCHW: CBAM's four passes over channel planes, and SE's (pooling, passes_fc, two_pass_scale).
// Pass 1 pools chunks of each plane as the fused kernel's NCHW tiles pool a channel, into part (and
// CBAM's pmax); CBAM's pass 2 is two_pass_excite<CBAM> or passes_fc.

// Pass 1 (NCHW). Item q = (n * C + c) * K + k: chunk k of channel plane (n, c), positions
// [k * ppk, min(HW, (k + 1) * ppk)), by one warp (H*W >= 64; ppk a multiple of VE, so every chunk
// starts 16-byte aligned where H*W is whole vectors, and at least 64 positions) or one thread (H*W < 64, K = 1), as the fused
// kernel pools a channel (warp_channel_pool / thread_channel_pool: with K = 1 its bits), its sum
// into part[n][k][c] and (kMax, CBAM) its max into pmax. K > 1 where the planes alone are too few
// warps for the GPU (batch 1, small C, large maps).
template <typename T, bool kMax>
__global__ void __launch_bounds__(kThreads) passes_pool_nchw(const FusedArgs a, int K, int ppk) {
  const int64_t items = static_cast<int64_t>(a.N) * a.C * K;
  const int HW = a.HW;
  const T* x = static_cast<const T*>(a.x);
  double sum;
  float mx;
  if (HW >= 64) {
    const int lane = threadIdx.x & 31;  // q is the same in the whole warp (its shuffles)
    for (int64_t q = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5); q < items;
         q += static_cast<int64_t>(gridDim.x) * kWarps) {
      const int64_t plane = q / K;
      const int k = static_cast<int>(q - plane * K);
      const int p0 = k * ppk, len = min(ppk, HW - p0);
      warp_channel_pool<kMax>(x + plane * HW + p0, len, lane, sum, mx);
      if (lane == 0) {
        const int64_t n = plane / a.C;
        const int64_t o = (n * K + k) * a.C + (plane - n * a.C);  // part[n][k][c]
        __stcg(a.part + o, sum);
        if constexpr (kMax) __stcg(a.pmax + o, mx);
      }
    }
  } else {
    for (int64_t q = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; q < items;
         q += static_cast<int64_t>(gridDim.x) * kThreads) {
      thread_channel_pool<kMax>(x + q * HW, HW, sum, mx);  // (K = 1: item q is plane q)
      __stcg(a.part + q, sum);
      if constexpr (kMax) __stcg(a.pmax + q, mx);
    }
  }
}

// Pass 3 (NCHW). Item i: sample n = N - 1 - i / R (the last pooled first, as NHWC), position
// vectors [v0, v0 + V) of its H*W / VE. G = min(kThreads / V, C) channel groups, group g over
// channels [C g / G, C (g + 1) / G) in order (SumAcc per position), the groups combined in order:
// cbam_pt_maps' scheme, reading x from global memory. kVec false (H*W not whole 16-byte vectors,
// e.g. 7x7): "vectors" of one position, element loads (the same sums: each position's channels
// in the same order).
template <typename T, bool kVec>
__global__ void __launch_bounds__(kThreads) cbam_passes_maps_nchw(const FusedArgs a, int V) {
  constexpr int VE = kVec ? Vec<T>::kN : 1;
  __shared__ double dred[kThreads * VE];
  __shared__ float mred[kThreads * VE];
  const int C = a.C, HW = a.HW, HWv = HW / VE;
  const int R = (HWv + V - 1) / V, G = min(kThreads / V, C);
  const int tid = threadIdx.x, g = tid / V, vl = tid - g * V;
  const int64_t items = static_cast<int64_t>(a.N) * R;
  for (int64_t i = blockIdx.x; i < items; i += gridDim.x) {
    const int64_t m = i / R;
    const int64_t n = a.N - 1 - m;
    const int v0 = static_cast<int>(i - m * R) * V, vn = min(V, HWv - v0);
    SumAcc acc[VE];
    float mx[VE];
#pragma unroll
    for (int e = 0; e < VE; ++e) mx[e] = -INFINITY;
    if (g < G && vl < vn) {
      const int c0 = static_cast<int>(int64_t(C) * g / G), c1 = static_cast<int>(int64_t(C) * (g + 1) / G);
      const T* xp = static_cast<const T*>(a.x) + (n * C + c0) * HW + (v0 + vl) * VE;
      const float* sn = a.sbuf + n * C;
      for (int c = c0; c < c1; ++c, xp += HW) {
        float f[VE];
        if constexpr (kVec) {
          Vec<T> vx;
          vx.raw = *reinterpret_cast<const uint4*>(xp);
          vx.unpack(f);
        } else {
          f[0] = to_f(*xp);
        }
        const float s = __ldg(sn + c);
#pragma unroll
        for (int e = 0; e < VE; ++e) {
          const float q = f[e] * s;
          acc[e].add(q);
          mx[e] = max_nan(mx[e], q);
        }
      }
    }
    __syncthreads();  // the previous item's reads of dred and mred are done
#pragma unroll
    for (int e = 0; e < VE; ++e) {
      dred[tid * VE + e] = acc[e].get();  // = dred[(g * V + vl) * VE + e]
      mred[tid * VE + e] = mx[e];
    }
    __syncthreads();
    float* map_n = a.map + n * 2 * HW;
    for (int t = tid; t < vn * VE; t += kThreads) {
      double sum = 0.0;
      float mm = -INFINITY;
      for (int gg = 0; gg < G; ++gg) {
        sum += dred[gg * V * VE + t];
        mm = max_nan(mm, mred[gg * V * VE + t]);
      }
      const int p = v0 * VE + t;
      __stcg(map_n + p, static_cast<float>(sum / C));
      __stcg(map_n + HW + p, mm);
    }
  }
}

// Positions of the spatial gate a block of cbam_passes_scale holds in shared memory, and the
// largest conv whose taps it stages (2 * 9 * 9 doubles).
constexpr int kPassGate = 2048;
constexpr int kPassTapsK = 9;

// Pass 4 of CBAM, both layouts. Item i = n * B + b: positions [b * P, min(HW, (b + 1) * P)) of
// sample n (P <= kPassGate; NCHW with whole-vector planes: a multiple of VE), samples first to
// last (the maps pass read the first ones last): their spatial gates from the maps
// (cbam_gate_range's k x k conv over the map rows staged with their halo, then pad_nan_fixup),
// then y = x * (s[c] * g[p]) (+ residual, optional ReLU) over every channel of those positions
// in 16-byte vectors: the fused kernel's
// arithmetic (apply_chunk NHWC, apply_pt NCHW). kVec false (NCHW with H*W not whole vectors): an
// element a thread, the same arithmetic.
template <typename T, bool NHWC, bool WIDE, bool kVec = true>
__global__ void __launch_bounds__(kThreads) cbam_passes_scale(const FusedArgs a, int P, int B) {
  static_assert(kVec || !NHWC, "NHWC takes whole vectors of channels");
  constexpr int VE = Vec<T>::kN;
  __shared__ __align__(16) float g_sm[kPassGate];
  // the map rows and (k <= kPassTapsK) the conv's taps staged as doubles: converted once each,
  // not once a tap (cbam_gate_range; the same bits)
  __shared__ double halo[kHalo];
  __shared__ double taps_sm[2 * kPassTapsK * kPassTapsK];
  const bool staged_taps = !WIDE && a.sk <= kPassTapsK;
  if (staged_taps)
    for (int i = threadIdx.x; i < 2 * a.sk * a.sk; i += kThreads) taps_sm[i] = double(__ldg(a.aux + i));
  // (the item loop's first barrier orders these stores before any read)
  const int C = a.C;
  const int64_t HW = a.HW;
  const bool relu = a.out_relu != 0;
  const int64_t items = static_cast<int64_t>(a.N) * B;
  for (int64_t i = blockIdx.x; i < items; i += gridDim.x) {
    const int64_t n = i / B;
    const int b = static_cast<int>(i - n * B);
    const int64_t p0 = static_cast<int64_t>(b) * P, p1 = min(HW, p0 + P);
    const float* map_n = a.map + n * 2 * HW;
    __syncthreads();  // the previous item's reads of g_sm are done
    const auto put = [&](int64_t p, float g) { g_sm[p - p0] = g; };
    if constexpr (!WIDE) {
      if (staged_taps) cbam_gate_range<false, double, true>(a, map_n, p0, p1, halo, put, taps_sm);
      else cbam_gate_range<false, double, false>(a, map_n, p0, p1, halo, put);
    } else {
      cbam_gate_range<true, double, false>(a, map_n, p0, p1, halo, put);
    }
    pad_nan_fixup<WIDE>(a, p0, p1, reinterpret_cast<int*>(halo), [&](int64_t p, float g) { g_sm[p - p0] = g; });
    const int64_t base = NHWC ? (n * HW + p0) * C : n * C * HW + p0;
    const T* xn = static_cast<const T*>(a.x) + base;
    T* yn = static_cast<T*>(a.y) + base;
    const T* rn = a.res ? static_cast<const T*>(a.res) + base : nullptr;
    const float* sn = a.sbuf + n * C;
    if constexpr (NHWC) {
      const int vpp = C / VE, nvec = static_cast<int>(p1 - p0) * vpp;
      for (int q = threadIdx.x; q < nvec; q += kThreads) {
        const int pl = q / vpp, c = (q - pl * vpp) * VE;
        const int e0 = q * VE;
        const float g = g_sm[pl];
        scale_vec<T>(xn + e0, rn ? rn + e0 : nullptr, yn + e0, relu, [&](float* f) {
#pragma unroll
          for (int e = 0; e < VE; e += 4) {
            const float4 s4 = __ldg(reinterpret_cast<const float4*>(sn + c + e));
            f[e] *= s4.x * g;
            f[e + 1] *= s4.y * g;
            f[e + 2] *= s4.z * g;
            f[e + 3] *= s4.w * g;
          }
        });
      }
    } else if constexpr (!kVec) {
      // rows of np positions, one a channel: kThreads / np rows at a time (a thread keeps its
      // position), or each row strided by the block
      const int np = static_cast<int>(p1 - p0);
      const auto one = [&](int c, int pl) {
        const int64_t off = static_cast<int64_t>(c) * HW + pl;
        float f = to_f(xn[off]);
        f *= __ldg(sn + c) * g_sm[pl];  // (scale_by_sg's product)
        if (rn) f += to_f(rn[off]);
        if (relu) f = relu_f(f);
        yn[off] = from_f<T>(f);
      };
      if (np <= kThreads) {
        const int rows = kThreads / np, r0 = threadIdx.x / np, pl = threadIdx.x - r0 * np;
        if (r0 < rows)
          for (int c = r0; c < C; c += rows) one(c, pl);
      } else {
        for (int c = 0; c < C; ++c)
          for (int pl = threadIdx.x; pl < np; pl += kThreads) one(c, pl);
      }
    } else {
      const int vpb = static_cast<int>(p1 - p0) / VE, nvec = C * vpb;
      for (int q = threadIdx.x; q < nvec; q += kThreads) {
        const int c = q / vpb, v = q - c * vpb;
        const int64_t off = static_cast<int64_t>(c) * HW + v * VE;
        const float s = __ldg(sn + c);
        const float* gp = g_sm + v * VE;
        scale_vec<T>(xn + off, rn ? rn + off : nullptr, yn + off, relu, [&](float* f) { scale_by_sg<VE>(f, s, gp); });
      }
    }
  }
}

}  // namespace cuda
}  // namespace sqex
