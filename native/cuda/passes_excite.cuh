// Pass 2 of the passes (two_pass.cuh): the chunks' partials summed into means (and CBAM's maxes),
// then the excitation into the gates sbuf[n][c]: two_pass_excite, a block a sample, by the fused
// kernel's own steps; passes_fc, the FCs as slices of weight rows over groups of samples where the
// weights are too large for a block a sample.
#pragma once
#include "block_reduce.cuh"
#include "cbam.cuh"
#include "eca.cuh"
#include "fused_args.cuh"
#include "se.cuh"

namespace sqex {
namespace cuda {

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
  passes_begin();
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

// Pass 2, batched (SE and CBAM whose FCs are too large for one block a sample: launch_two_pass.cuh's
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
  passes_begin();
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

}  // namespace cuda
}  // namespace sqex
