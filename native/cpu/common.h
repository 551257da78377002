// Shared pieces of the CPU kernels: scalar activation/gate helpers, the table of vectorised
// inner loops (one instance per instruction set, chosen once at run time) and small helpers
// the op drivers share.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "sqex/params.h"

namespace sqex {
namespace cpu {

// The one NaN every NaN output and gate is written as: the quiet NaN 0x7fc00000 (0x7ff8000000000000
// in double). Where two NaNs meet, x86 keeps one operand's bits and the operand order is the
// compiler's per loop, so without this the sign and payload followed the loop an element took,
// i.e. y's address, the batch position and the thread count (NOTES-cpu.md items 51 and 59).
constexpr float kCanonicalNaNf = __builtin_nanf("");
constexpr double kCanonicalNaN = __builtin_nan("");

// NaN and +-Inf travel as in the PyTorch modules (torch 1.13, CPU, checked in
// scripts/gen_nan_fixture.py): relu(NaN) = NaN, max/amax(.., NaN) = NaN, hardsigmoid(NaN) = NaN,
// silu(-inf) = -inf / (1 + inf) = NaN, sigmoid(+-inf) = 1 / 0. So ReLU and clamps are selects that
// let NaN through (`v < 0 ? 0 : v`), never fmax/std::max(v, 0) or a `v > 0 ? v : 0` select.
inline double relu_d(double v) { return v < 0 ? 0.0 : v; }

// In double: they act on the small excitation vectors only.
// 1 / (1 + exp(-v)) saturates to 0 or 1 without NaN for any finite v (exp overflows to inf).
inline double act_apply(Act a, double v) { return a == Act::ReLU ? relu_d(v) : v / (1 + std::exp(-v)); }

// A NaN gate is the one NaN: exp(-v) of a NaN v keeps -v's flipped sign, so scaleOut's NaN gates
// had the sign bit set on the scalar paths and not on the vector ones (a helper, 2026-12-04).
inline double gate_apply(Gate g, double v) {
  double r;
  if (g == Gate::Sigmoid) {
    r = 1 / (1 + std::exp(-v));
  } else {
    // relu6(v + 3) / 6, both clamps letting NaN through (torch.nn.functional.hardsigmoid)
    double t = v + 3;
    t = t < 0 ? 0.0 : t;
    t = t > 6 ? 6.0 : t;
    r = t / 6;
  }
  return r != r ? kCanonicalNaN : r;
}

// max(a, b) that is NaN when either is (torch.amax); `a > b ? a : b` alone drops a NaN b.
inline float max_nan(float a, float b) { return (a > b || std::isnan(a)) ? a : b; }

// The vectorised inner loops. Everything that amplifies rounding error (pooled sums, the
// excitation FCs, CBAM's channel statistics and spatial conv) accumulates in double: with
// |x| ~ 1e4 and unsaturated gates, float accumulation alone misses 1e-5 against float64.
// x and y may be the same array, and r may equal y (each element is read before it is written).
struct Kernels {
  const char* name;
  // Sum of x[0..n), in double lanes.
  double (*sum)(const float* x, int64_t n);
  // The maxes below propagate NaN (torch.amax) and ReLU keeps NaN (torch.relu); see
  // kernels_impl.h for how the SIMD max (MAXPS drops NaN) is made exact.
  // Sum and max of x[0..n).
  void (*sum_max)(const float* x, int64_t n, double* sum, float* max);
  // acc[c] += sum over `rows` rows of x[row * ldx + c], c < c_count, each channel adding its rows
  // in order (the same bits whichever loop runs, and whatever channels a call covers). ldx: the
  // row stride in floats (C, or more for a block of a row's channels). span_bytes: the bytes of the
  // pass this call is part of (a sample, a task's range), which chooses the loop.
  void (*accum_rows)(const float* x, int64_t rows, int64_t c_count, int64_t ldx, double* acc, int64_t span_bytes);
  // As accum_rows, and mx[c] = max(mx[c], x[row, c]).
  void (*accum_max_rows)(const float* x, int64_t rows, int64_t c_count, int64_t ldx, double* acc, float* mx,
                         int64_t span_bytes);
  // y[p * hw + i] = x[p * hw + i] * s[p] (+ r[p * hw + i]) (then relu) for p < planes, i < hw;
  // r may be null. stream: non-temporal stores (for outputs much larger than the caches).
  void (*scale_planes)(const float* x, const float* s, const float* r, float* y, int64_t planes, int64_t hw,
                       bool relu, bool stream);
  // y[row, c] = x[row, c] * s[c] (+ r[row, c]) (relu), rows of c_count contiguous floats.
  void (*scale_rows)(const float* x, const float* s, const float* r, float* y, int64_t rows,
                     int64_t c_count, bool relu, bool stream);
  // Y[n * ldy + row] = dot(W[row, 0..k), X[n * ldx + 0..k)) (+ b[row]) for rows [r0, r1), n < nb.
  void (*fc)(const float* w, const float* b, int64_t k, const double* x, int64_t ldx, int64_t nb,
             double* y, int64_t ldy, int64_t r0, int64_t r1);
  // CBAM, NCHW: for pixels [0, n) of a sample (x points at pixel 0 of channel 0, channel stride
  // hw): mean[q] = mean_c x[c, q] * s[c], max[q] = max_c x[c, q] * s[c].
  void (*chan_stats_planes)(const float* x, const float* s, int64_t c_count, int64_t hw, int64_t n,
                            double* mean, double* max);
  // CBAM, NHWC: the same for `rows` pixel rows of c_count contiguous floats.
  void (*chan_stats_rows)(const float* x, const float* s, int64_t c_count, int64_t rows, double* mean,
                          double* max);
  // y[i] = (x[i] * s) * g[i]; stream: non-temporal stores, as scale_planes'.
  void (*scale_gate_plane)(const float* x, float s, const float* g, float* y, int64_t n, bool stream);
  // y[row, c] = (x[row, c] * s[c]) * g[row]; stream: non-temporal stores, as scale_rows'.
  void (*scale_gate_rows)(const float* x, const float* s, const float* g, float* y, int64_t rows,
                          int64_t c_count, bool stream);
  // s[i] = float(gate_apply(g, v[i])) (AVX2: a vectorised exp, within ~1 ulp of double of it).
  void (*gate_rows)(Gate g, const double* v, float* s, int64_t n);
  // CBAM's spatial conv, flattened over zero-padded maps p0 (mean), p1 (max) of row stride wp:
  // out[j] = sum over ch, ky, kx < k of wk[ch, ky, kx] * p_ch[j + ky * wp + kx], j < n, in double.
  void (*conv2_flat)(const double* p0, const double* p1, int64_t wp, const float* wk, int k, int64_t n,
                     double* out);
};

// The best table this CPU supports (decided once).
const Kernels& kernels();
// Per instruction set, for the dev harness: null when not compiled in or not supported here.
const Kernels* kernels_scalar();
const Kernels* kernels_sse2();
const Kernels* kernels_avx2();
const Kernels* kernels_avx512();
const Kernels* kernels_neon();
// Dev harness and tests only: run with `k` instead of the best table (nullptr = best again).
void force_kernels(const Kernels* k);

// NHWC pooling: a sample's H*W pixel rows are summed in pool_chunks(hw, c) chunks (split_range
// of hw), each from zero, and the chunks' sums added in chunk order. The chunks depend on the
// sample's shape alone, never on the thread count or the batch, so neither changes a bit of the
// result (a double sum of float32 values is exact unless a channel's values span more than
// ~2^29, e.g. 1e30 and -1e30 among ones, and then the order of addition shows: NOTES-cpu.md
// item 49). Chunks of at least 256 rows (a chunk's partials cost about 2.3 rows' worth of work),
// at most 64 of them and at most 2^19 / C (C doubles of partials each). The split path also
// splits a chunk's channels across tasks where it needs more units: that leaves each channel's
// order of addition as it is.
inline int64_t pool_chunks(int64_t hw, int64_t cc) {
  const int64_t cap = std::min<int64_t>(64, std::max<int64_t>(1, (int64_t(1) << 19) / std::max<int64_t>(1, cc)));
  return std::max<int64_t>(1, std::min<int64_t>(cap, hw / 256));
}

// Channel blocks of the split path's NHWC pooling units: whole vectors of at least 64 floats
// (shorter row segments at a C-float stride streamed badly on Zen 4, NOTES-cpu.md item 41).
inline void pool_channel_block(int64_t cc, int64_t blocks, int64_t b, int64_t* c0, int64_t* c1) {
  const int64_t vectors = cc / 16;
  *c0 = vectors * b / blocks * 16;
  *c1 = b == blocks - 1 ? cc : vectors * (b + 1) / blocks * 16;
}
inline int64_t pool_channel_blocks(int64_t cc, int64_t want) {
  return std::max<int64_t>(1, std::min<int64_t>(want, cc / 64));
}

// Samples handled per block: as many as fit a cache budget, but at least one.
// Pool -> excite -> scale run block by block, so a block is re-read while still cached.
inline int64_t samples_per_block(int64_t n, int64_t sample_bytes, int threads) {
  const int64_t budget = int64_t(threads) * (768 << 10);
  int64_t nb = sample_bytes > 0 ? budget / sample_bytes : n;
  nb = std::max<int64_t>(1, std::min(nb, n));
  const int64_t blocks = (n + nb - 1) / nb;
  return (n + blocks - 1) / blocks;  // even blocks
}

inline Status check_common(const OpParams& p, const Tensors& t) {
  if (p.dtype != DType::F32) return Status::Error(StatusCode::Unsupported, "the CPU backend supports float32 only");
  if (p.shape.n < 0 || p.shape.c < 1 || p.shape.h < 0 || p.shape.w < 0)
    return Status::Error(StatusCode::InvalidArgument, "invalid shape");
  if (p.layout != Layout::NCHW && p.layout != Layout::NHWC)
    return Status::Error(StatusCode::InvalidArgument, "invalid layout");
  if (p.shape.numel() > 0 && (t.x == nullptr || t.y == nullptr))
    return Status::Error(StatusCode::InvalidArgument, "x and y are required");
  return Status::Ok();
}

// A block's samples, bounded so that its per-sample vectors (C channels, `hidden` units; a few
// doubles each) stay within 2^16 values whatever N is: the scratch of a call is then bounded by
// its weights and one sample, not by N x hidden (a 0.5 MB call once asked for 22 GB).
inline int64_t bound_block_samples(int64_t nb, int64_t cc, int64_t hidden) {
  return std::max<int64_t>(1, std::min(nb, (int64_t(1) << 16) / std::max<int64_t>(1, std::max(cc, hidden))));
}

// Per sample, what CBAM's spatial conv does as cbam.cpp runs it (the tiled path computes and drops
// pad columns and zero-fills its padded copies; the direct loop is counted at its upper bound):
// multiply-adds, and bytes written to scratch. For cpu_forward_cost_bytes.
struct ConvWork {
  double macs = 0, fill_bytes = 0;
};
ConvWork cbam_spatial_work(int64_t h, int64_t w, int k);

}  // namespace cpu
}  // namespace sqex
