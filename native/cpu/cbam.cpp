// CBAM forward on the CPU (timm CbamModule, BatchNorm folded), whole samples per thread (or a
// block of samples split across threads when fewer samples than threads remain):
// pool (sum + max) -> channel MLP on both pooled vectors -> per-pixel mean/max over channels
// of x * s -> k x k conv + gate -> y = (x * s) * g. x1 = x * s is never stored: the last pass
// recomputes it, which costs no more traffic than writing and re-reading it, and keeps y == x safe.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <new>
#include <vector>

#include "common.h"
#include "pipeline.h"
#include "sqex/cpu.h"
#include "pool_units.h"
#include "scratch.h"
#include "system_limits.h"
#include "thread_pool.h"

namespace sqex {
namespace cpu {
namespace {

constexpr int64_t kBytesPerTask = 96 << 10;

// The spatial maps and output from which a call asks the system what memory it has (below), and
// what it keeps for the rest of the process then.
constexpr int64_t kGuardFromBytes = int64_t(4) << 20;
constexpr int64_t kGuardMargin = int64_t(32) << 20;

// Maps and output of the CBAM calls running now (all threads), and of those made since the last
// reading of the available memory.
std::atomic<int64_t> g_running_bytes{0};
std::atomic<int64_t> g_unchecked_bytes{0};

// A call's bytes among g_running_bytes while it lives.
class GuardedBytes {
 public:
  explicit GuardedBytes(int64_t bytes) : bytes_(bytes), before_(g_running_bytes.fetch_add(bytes, std::memory_order_relaxed)) {}
  ~GuardedBytes() { g_running_bytes.fetch_sub(bytes_, std::memory_order_relaxed); }
  GuardedBytes(const GuardedBytes&) = delete;
  GuardedBytes& operator=(const GuardedBytes&) = delete;
  // The other calls' bytes when this one started.
  int64_t others() const { return before_; }

 private:
  int64_t bytes_, before_;
};

// Tasks per parallel phase: up to kTasksPerThread per thread so a descheduled thread's share
// can be taken over (each thread's home range stays contiguous and identical across phases).
constexpr int kTasksPerThread = 4;

int tasks_for(int64_t bytes, int64_t rows, int threads) {
  if (threads <= 1) return 1;
  int64_t t = std::min<int64_t>(int64_t(threads) * kTasksPerThread, std::max<int64_t>(1, bytes / kBytesPerTask));
  return int(std::max<int64_t>(1, std::min(t, rows)));
}

struct PostCtx {
  Act act;
};

void post_act(void* ctx, double* y, int64_t ldy, int64_t nb, int64_t r0, int64_t r1) {
  const Act a = static_cast<PostCtx*>(ctx)->act;
  for (int64_t n = 0; n < nb; ++n)
    for (int64_t r = r0; r < r1; ++r) y[n * ldy + r] = act_apply(a, y[n * ldy + r]);
}

// Output tiles of spatial_rows: at most this many rows and columns, so the padded copy and its
// scratch stay small whatever the map's size. Kernels that spatial_direct sends to the direct
// loop need no padded copy (their padding would be mostly zeros).
constexpr int64_t kSpatialRows = 32, kSpatialCols = 256;
constexpr int kSpatialMaxK = 63;

// Tiles across a map of width w (and down one of height h).
int64_t spatial_col_tiles(int64_t w) { return (w + kSpatialCols - 1) / kSpatialCols; }
int64_t spatial_row_tiles(int64_t h) { return (h + kSpatialRows - 1) / kSpatialRows; }

// Whether a map of width w takes the direct loop: kernels over kSpatialMaxK, and kernels so wide
// for the map that the flat conv would spend most of its work on the dropped pad columns (it
// computes cols + k - 1 outputs per tile row for cols kept; past 3x the direct loop is faster:
// CBAM 64x4x1x1, k = 63, 3.5 ms flat).
bool spatial_direct(int64_t w, int k) { return k > kSpatialMaxK || (int64_t(k) - 1) * spatial_col_tiles(w) > 2 * w; }

// Doubles of scratch one spatial_rows call needs (see below), for a map of h x w.
int64_t spatial_scratch(int64_t h, int64_t w, int k) {
  if (spatial_direct(w, k)) return w;
  const int64_t rows = std::min(h, kSpatialRows), cols = std::min(w, kSpatialCols), wp = cols + (k - 1);
  return 2 * ((rows + k - 1) * wp + k) + rows * wp + cols;
}

// Where the spatial weights that are not finite lie, for the direct loop's padding taps; built
// once per op, and only when some weight is not finite (else null). Rows are (ch, ky) pairs.
struct NonFiniteTaps {
  std::vector<int> row_first;  // [2k]: row ch * k + ky's first kx whose weight is not finite; k: none
  std::vector<int> row_last;   // [2k]: its last such kx; -1: none
  std::vector<int> next_row;   // [2 (k + 1)]: at ch * (k + 1) + ky, the first row >= ky of ch with one; k: none
  std::vector<uint64_t> bits;  // [2k][words]: bit kx of row r set when its weight is not finite
  int64_t words = 0;           // (k + 63) / 64

  // The first non-finite kx >= from in row r; the row must hold one there (row_last[r] >= from).
  int64_t next_in_row(int64_t r, int64_t from) const {
    const uint64_t* row = bits.data() + r * words;
    int64_t i = from >> 6;
    uint64_t word = row[i] & (~uint64_t{0} << (from & 63));
    while (word == 0) word = row[++i];
    int b = 0;  // its lowest set bit (no builtin: MSVC builds this too)
    while (((word >> b) & 1) == 0) ++b;
    return i * 64 + b;
  }
};

// The first padding tap of output (oy, ox) in the direct loop's order (ch, ky, kx) whose weight is
// not finite, as a flat weight index; 2 k^2 if there is none. [ky0, ky1) x [kx0, kx1): the taps on
// the map, never empty (the centre tap always is).
int64_t first_nonfinite_padding_tap(int k, const NonFiniteTaps& nf, int64_t ky0, int64_t ky1, int64_t kx0,
                                    int64_t kx1) {
  for (int ch = 0; ch < 2; ++ch) {
    const int* first = nf.row_first.data() + ch * k;
    const int* next = nf.next_row.data() + ch * (k + 1);
    const auto at = [&](int64_t ky, int64_t kx) { return (int64_t(ch) * k + ky) * k + kx; };
    if (next[0] < ky0) return at(next[0], first[next[0]]);  // a row above the map
    const int* last = nf.row_last.data() + ch * k;
    for (int64_t ky = ky0; ky < ky1; ++ky) {
      if (first[ky] >= k) continue;
      if (first[ky] < kx0) return at(ky, first[ky]);  // left of the map
      if (last[ky] >= kx1) return at(ky, nf.next_in_row(int64_t(ch) * k + ky, std::max<int64_t>(kx1, first[ky])));  // right of it
    }
    if (next[ky1] < k) return at(next[ky1], first[next[ky1]]);  // a row below
  }
  return 2 * int64_t(k) * k;
}

// The direct loop (spatial_direct) when some weight is not finite. A padding tap adds w * 0: +-0
// for a finite w (no change: the sum starts at +0 and is never -0), NaN otherwise. So an output
// is its taps on the map summed in the loop's order up to its first non-finite padding tap, plus
// that tap's w * 0; the sum is NaN from then on, so later taps change nothing, as in ECA (eca.cpp).
// Which NaN: this scalar sum keeps the first it meets (x86 addsd returns its first NaN operand);
// the vectorised loops (the tile path, and this loop before) kept the last one added, so an
// output's NaN payload and sign may differ between paths; where NaN falls does not. Visiting every padding
// tap cost 2 k^2 per output whatever the map (an attack: 200 1x1 maps, k 1023, one NaN weight:
// 2.8 s); this costs the taps on the map plus, per row of them, O(1) or a scan of k / 64 words.
void spatial_rows_direct_nonfinite(const double* mean, const double* mx, const float* wk, int k,
                                   const NonFiniteTaps& nf, float bias, Gate gate, int64_t h, int64_t w, int64_t y0,
                                   int64_t y1, float* g) {
  const int pad = (k - 1) / 2;
  const int64_t none = 2 * int64_t(k) * k;
  for (int64_t oy = y0; oy < y1; ++oy) {
    const int64_t ky0 = std::max<int64_t>(0, pad - oy), ky1 = std::min<int64_t>(k, h + pad - oy);
    for (int64_t ox = 0; ox < w; ++ox) {
      const int64_t kx0 = std::max<int64_t>(0, pad - ox), kx1 = std::min<int64_t>(k, w + pad - ox);
      const int64_t stop = first_nonfinite_padding_tap(k, nf, ky0, ky1, kx0, kx1);
      double v = 0.0;
      for (int ch = 0; ch < 2 && (int64_t(ch) * k + ky0) * k < stop; ++ch) {
        const double* in = ch == 0 ? mean : mx;
        for (int64_t ky = ky0; ky < ky1; ++ky) {
          const int64_t base = (int64_t(ch) * k + ky) * k;
          const int64_t end = std::min(kx1, stop - base);
          if (end <= kx0) break;
          // An index, not a pointer moved before the map's start (ox - pad < 0 at the left edge).
          const int64_t src = (oy + ky - pad) * w + (ox - pad);
          for (int64_t kx = kx0; kx < end; ++kx) v += double(wk[base + kx]) * in[src + kx];
          if (end < kx1) break;
        }
      }
      if (stop < none) v += double(wk[stop]) * 0.0;
      g[oy * w + ox] = float(gate_apply(gate, v + double(bias)));
    }
  }
}

// The direct loop (spatial_direct) for finite weights: rows of outputs accumulated in acc [w];
// taps on the padding add +-0 and are skipped: only rows [ky0, ky1) meet the map, and only columns
// [kx0, kx1) meet any of its w columns (a review, 2026-12-02: walking all k x k of them for a
// 20000 x 1 map, k 1023, took 45 s for 80 KB of input).
void spatial_rows_direct(const double* mean, const double* mx, const float* wk, int k, float bias, Gate gate,
                         int64_t h, int64_t w, int64_t y0, int64_t y1, float* g, double* acc) {
  const int pad = (k - 1) / 2;
  const int64_t kx0 = std::max<int64_t>(0, pad - w + 1), kx1 = std::min<int64_t>(k, pad + w);
  for (int64_t oy = y0; oy < y1; ++oy) {
    double* out = acc;
    for (int64_t ox = 0; ox < w; ++ox) out[ox] = 0.0;
    const int64_t ky0 = std::max<int64_t>(0, pad - oy), ky1 = std::min<int64_t>(k, h + pad - oy);
    for (int ch = 0; ch < 2; ++ch) {
      const double* in = ch == 0 ? mean : mx;
      for (int64_t ky = ky0; ky < ky1; ++ky) {
        const int64_t iy = oy + ky - pad;
        const double* row = in + iy * w;
        for (int64_t kx = kx0; kx < kx1; ++kx) {
          const double wv = wk[(ch * k + ky) * k + kx];
          const int64_t dx = kx - pad;
          const int64_t lo = std::max<int64_t>(0, -dx), hi = std::min<int64_t>(w, w - dx);
          for (int64_t ox = lo; ox < hi; ++ox) out[ox] += wv * row[ox + dx];  // row + dx may precede the map
        }
      }
    }
    for (int64_t ox = 0; ox < w; ++ox) g[oy * w + ox] = float(gate_apply(gate, out[ox] + double(bias)));
  }
}

// One tile: output rows [y0, y0 + rows), columns [x0, x0 + cols). The maps' window around it is
// copied into zero-padded rows of width wp = cols + 2 pad, so every tap reads memory: zero
// padding is an operand, not a skipped tap, and a tap on it adds w * 0, which is NaN for a
// NaN/Inf weight (torch's conv2d in float64 and on its native float32 path; its oneDNN float32
// path skips them, see NOTES-cpu.md), and +-0 otherwise (which leaves the gate unchanged). The
// conv then runs over the padded rows as one flat vector (kn.conv2_flat, outputs j = r * wp + ox):
// the columns ox >= cols are computed and dropped, which keeps narrow maps (7 x 7) in full vectors.
void spatial_tile(const Kernels& kn, const double* mean, const double* mx, const float* wk, int k, float bias,
                  Gate gate, int64_t h, int64_t w, int64_t y0, int64_t rows, int64_t x0, int64_t cols, float* g,
                  double* buf) {
  const int pad = (k - 1) / 2;
  const int64_t wp = cols + 2 * pad, plen = (rows + 2 * pad) * wp + k;
  double* p0 = buf;
  double* p1 = p0 + plen;
  double* conv = p1 + plen;
  double* v = conv + rows * wp;
  std::fill(p0, p0 + 2 * plen, 0.0);
  const int64_t xa = std::max<int64_t>(0, x0 - pad), xb = std::min<int64_t>(w, x0 + cols + pad);
  for (int64_t pr = 0; pr < rows + 2 * pad; ++pr) {
    const int64_t iy = y0 - pad + pr;
    if (iy < 0 || iy >= h) continue;
    const int64_t at = pr * wp + (xa - (x0 - pad));
    std::copy(mean + iy * w + xa, mean + iy * w + xb, p0 + at);
    std::copy(mx + iy * w + xa, mx + iy * w + xb, p1 + at);
  }
  kn.conv2_flat(p0, p1, wp, wk, k, rows * wp, conv);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t ox = 0; ox < cols; ++ox) v[ox] = conv[r * wp + ox] + double(bias);
    kn.gate_rows(gate, v, g + (y0 + r) * w + x0, cols);
  }
}

// g[oy, :] = gate(conv_kxk([mean, max])[oy, :] + bias) for output rows [y0, y1) of one sample.
// buf: spatial_scratch(h, w, k) doubles; nf: where the weights that are not finite lie, null when
// all are finite (found once per op: on 1x1 maps the direct loop's own scan of the 2k^2 weights
// cost more than its conv).
void spatial_rows(const Kernels& kn, const double* mean, const double* mx, const float* wk, int k,
                  const NonFiniteTaps* nf, float bias, Gate gate, int64_t h, int64_t w, int64_t y0, int64_t y1,
                  float* g, double* buf) {
  if (spatial_direct(w, k)) {
    if (nf != nullptr) {
      spatial_rows_direct_nonfinite(mean, mx, wk, k, *nf, bias, gate, h, w, y0, y1, g);
    } else {
      spatial_rows_direct(mean, mx, wk, k, bias, gate, h, w, y0, y1, g, buf);
    }
    return;
  }
  for (int64_t y = y0; y < y1; y += kSpatialRows) {
    for (int64_t x = 0; x < w; x += kSpatialCols) {
      spatial_tile(kn, mean, mx, wk, k, bias, gate, h, w, y, std::min(kSpatialRows, y1 - y), x,
                   std::min(kSpatialCols, w - x), g, buf);
    }
  }
}

// A call's scratch. Every element is written before it is read (the pooling units fill their
// partials, the FCs, gates, maps and spatial gate write every output), so a buffer kept from an
// earlier call serves as it is (scratch.h).
struct Scratch {
  Buffer<float> s, g, pmax;
  Buffer<double> zz, h, o, mean, mx, psum;
  // Sized for the most tasks, but only the pages a task's tiles touch are faulted in.
  Buffer<double> conv_acc;
  int64_t conv_stride = 0;  // doubles of conv_acc per task: spatial_scratch(h, w, k)
  void resize(int64_t nb, int64_t cc, int64_t hidden, int64_t hh, int64_t ww, int k, int64_t tasks, bool nhwc) {
    const int64_t hw = hh * ww;
    zz.resize(2 * nb * cc);
    h.resize(2 * nb * hidden);
    o.resize(2 * nb * cc);
    s.resize(nb * cc);
    mean.resize(nb * hw);
    mx.resize(nb * hw);
    g.resize(nb * hw);
    if (nhwc) {
      // One row of C partial sums and maxes per (sample, chunk): pool_chunks.
      const int64_t units = nb * pool_chunks(hw, cc);
      psum.resize(units * cc);
      pmax.resize(units * cc);
    }
    conv_stride = spatial_scratch(hh, ww, k);
    conv_acc.resize(tasks * conv_stride);
  }
  int64_t bytes() const {
    return s.bytes() + g.bytes() + pmax.bytes() + zz.bytes() + h.bytes() + o.bytes() + mean.bytes() + mx.bytes() +
           psum.bytes() + conv_acc.bytes();
  }
};

// The scratch of the last call, kept for the next one (scratch.h): the spatial maps grow with H*W
// (20 bytes a pixel), and allocated anew each call they came as fresh pages, zeroed, even with
// `out`: CBAM 1x1x1024x1024 faulted ~5,500 pages a call (29 ms against 14 ms with the memory kept).
struct ScratchSet {
  std::vector<Scratch> slots;  // whole-sample tasks, one per participant
  Scratch block;
  int64_t bytes() const {
    int64_t b = block.bytes();
    for (const Scratch& sc : slots) b += sc.bytes();
    return b;
  }
};

// One block of nb samples, its phases split over up to `threads` threads (1: all on the caller).
// nf: the spatial weights that are not finite, null when all are (spatial_rows); stream: NCHW's
// output pass stores non-temporally (the whole call's y is at least g_stream_min_bytes, as SE's).
void run_block(const OpParams& p, const Weights& wt, const NonFiniteTaps* nf, bool stream, const float* xb, float* yb, int64_t nb,
               int threads, Scratch& sc) {
  const Kernels& kn = kernels();
  const int64_t cc = p.shape.c, hh = p.shape.h, ww = p.shape.w, hw = hh * ww;
  const int64_t hidden = p.hidden, sample = cc * hw;
  const bool nhwc = p.layout == Layout::NHWC;
  const double inv_hw = hw > 0 ? 1.0 / double(hw) : 0.0;
  PostCtx post{p.act};
  const Buffer<float>& s = sc.s;
  const Buffer<float>& g = sc.g;
  const Buffer<float>& pmax = sc.pmax;
  const Buffer<double>& zz = sc.zz;
  const Buffer<double>& h = sc.h;
  const Buffer<double>& o = sc.o;
  const Buffer<double>& mean = sc.mean;
  const Buffer<double>& mx = sc.mx;
  const Buffer<double>& psum = sc.psum;
  double* conv_acc = sc.conv_acc.data();
  const int64_t bytes = nb * sample * int64_t(sizeof(float));
  const int64_t pix = nb * hw;  // pixel rows of the block

  // 1. Pool: zz[0..nb) = mean over H*W, zz[nb..2nb) = max over H*W.
  double* avg = zz.data();
  double* cmax = zz.data() + nb * cc;
  if (!nhwc) {
    const int64_t rows = nb * cc;
    const int tasks = tasks_for(bytes, rows, threads);
    parallel_for(tasks, [&](int64_t i) {
      int64_t r0, r1;
      split_range(rows, tasks, i, &r0, &r1);
      for (int64_t r = r0; r < r1; ++r) {
        double sum;
        float m;
        kn.sum_max(xb + r * hw, hw, &sum, &m);
        avg[r] = sum * inv_hw;
        cmax[r] = m;
      }
    });
  } else {
    // As SE's (se.cpp): units of (sample, chunk) in the chunks of pool_chunks, each from zero, the
    // chunks added in chunk order, so neither the thread count nor the block changes a bit.
    const PoolUnits pu(nb, hw, cc, tasks_for(bytes, pix, threads), threads);
    const int64_t chunks = pu.chunks;
    parallel_for(pu.tasks, [&](int64_t i) {
      int64_t u0, u1, span;
      pu.task(i, sample * int64_t(sizeof(float)), &u0, &u1, &span);
      for (int64_t u = u0; u < u1; ++u) {
        const PoolUnits::Unit a = pu.at(u);
        double* ps = psum.data() + a.row * cc;
        float* pm = pmax.data() + a.row * cc;
        std::fill(ps + a.c0, ps + a.c1, 0.0);
        std::fill(pm + a.c0, pm + a.c1, -INFINITY);
        kn.accum_max_rows(xb + (a.n * hw + a.r0) * cc + a.c0, a.r1 - a.r0, a.c1 - a.c0, cc, ps + a.c0, pm + a.c0, span);
      }
    });
    // The chunks in chunk order, channels innermost (vectorised; each channel's order is k's).
    for (int64_t n = 0; n < nb; ++n) {
      double* a = avg + n * cc;
      double* m = cmax + n * cc;
      std::fill(a, a + cc, 0.0);
      std::fill(m, m + cc, double(-INFINITY));
      for (int64_t k = 0; k < chunks; ++k) {
        const double* ps = psum.data() + (n * chunks + k) * cc;
        const float* pm = pmax.data() + (n * chunks + k) * cc;
        for (int64_t c = 0; c < cc; ++c) {
          a[c] += ps[c];
          m[c] = max_nan(float(m[c]), pm[c]);
        }
      }
      for (int64_t c = 0; c < cc; ++c) a[c] *= inv_hw;
    }
  }

  // 2. Channel gate: s = gate(MLP(avg) + MLP(max)), both pooled vectors as one batch of 2nb.
  fc_rows(wt.w1, wt.b1, hidden, cc, zz.data(), 2 * nb, h.data(), post_act, &post);
  fc_rows(wt.w2, wt.b2, cc, hidden, h.data(), 2 * nb, o.data(), nullptr, nullptr);
  for (int64_t j = 0; j < nb * cc; ++j) s[size_t(j)] = float(gate_apply(p.gate, o[size_t(j)] + o[size_t(nb * cc + j)]));

  // 3. Per-pixel mean and max over channels of x * s.
  {
    const int tasks = tasks_for(bytes, pix, threads);
    parallel_for(tasks, [&](int64_t i) {
      int64_t r0, r1;
      split_range(pix, tasks, i, &r0, &r1);
      for (int64_t r = r0; r < r1;) {
        const int64_t n = r / hw, end = std::min(r1, (n + 1) * hw);
        if (nhwc) {
          kn.chan_stats_rows(xb + r * cc, s.data() + n * cc, cc, end - r, mean.data() + r, mx.data() + r);
        } else {
          kn.chan_stats_planes(xb + n * sample + (r - n * hw), s.data() + n * cc, cc, hw, end - r, mean.data() + r,
                               mx.data() + r);
        }
        r = end;
      }
    });
  }

  // 4. Spatial gate g = gate(conv(maps) + bias), split over output rows of the block.
  {
    const int64_t out_rows = nb * hh;
    const int64_t macs = pix * 2 * int64_t(p.spatial_k) * p.spatial_k;
    const int tasks = threads <= 1 ? 1
        : int(std::max<int64_t>(1, std::min<int64_t>({int64_t(threads) * kTasksPerThread, out_rows, macs / (1 << 16)})));
    parallel_for(tasks, [&](int64_t i) {
      int64_t r0, r1;
      split_range(out_rows, tasks, i, &r0, &r1);
      for (int64_t r = r0; r < r1;) {
        const int64_t n = r / hh, end = std::min(r1, (n + 1) * hh);
        spatial_rows(kn, mean.data() + n * hw, mx.data() + n * hw, wt.aux, p.spatial_k, nf, p.spatial_bias, p.gate, hh,
                     ww, r - n * hh, end - n * hh, g.data() + n * hw,
                     conv_acc + i * sc.conv_stride);
        r = end;
      }
    });
  }

  // 5. y = (x * s) * g.
  if (!nhwc) {
    const int64_t rows = nb * cc;
    const int tasks = tasks_for(bytes, rows, threads);
    parallel_for(tasks, [&](int64_t i) {
      int64_t r0, r1;
      split_range(rows, tasks, i, &r0, &r1);
      for (int64_t r = r0; r < r1; ++r)
        kn.scale_gate_plane(xb + r * hw, s[size_t(r)], g.data() + (r / cc) * hw, yb + r * hw, hw, stream);
    });
  } else {
    const int tasks = tasks_for(bytes, pix, threads);
    parallel_for(tasks, [&](int64_t i) {
      int64_t r0, r1;
      split_range(pix, tasks, i, &r0, &r1);
      for (int64_t r = r0; r < r1;) {
        const int64_t n = r / hw, end = std::min(r1, (n + 1) * hw);
        kn.scale_gate_rows(xb + r * cc, s.data() + n * cc, g.data() + r, yb + r * cc, end - r, cc, stream);
        r = end;
      }
    });
  }
}

}  // namespace

ConvWork cbam_spatial_work(int64_t h, int64_t w, int k) {
  const double k2 = double(k) * k;
  ConvWork cw;
  if (spatial_direct(w, k)) {
    cw.macs = 2 * k2 * double(h) * double(w);
    return cw;
  }
  const int64_t ty = spatial_row_tiles(h), tx = spatial_col_tiles(w);
  const double km1 = double(k) - 1;
  cw.macs = 2 * k2 * double(h) * (double(w) + km1 * double(tx));  // rows x (cols + k - 1) outputs per tile
  cw.fill_bytes = 2 * sizeof(double) * (double(h) + km1 * double(ty)) * (double(w) + km1 * double(tx));
  return cw;
}

}  // namespace cpu

Status cbam_forward_cpu(const OpParams& p, const Weights& wt, const Tensors& t) {
  using namespace cpu;
  Status st = check_common(p, t);
  if (!st.ok()) return st;
  if (wt.w1 == nullptr || wt.w2 == nullptr || wt.aux == nullptr || p.hidden < 1)
    return Status::Error(StatusCode::InvalidArgument, "CBAM needs w1, w2, the spatial weight and hidden >= 1");
  if (p.spatial_k < 1 || p.spatial_k % 2 == 0)
    return Status::Error(StatusCode::InvalidArgument, "CBAM spatial kernel size must be odd and >= 1");

  const int64_t n_total = p.shape.n, cc = p.shape.c, hw = p.shape.hw(), ww = p.shape.w;
  const int64_t sample = cc * hw, sample_bytes = sample * int64_t(sizeof(float));
  const bool nhwc = p.layout == Layout::NHWC;
  const float* x = static_cast<const float*>(t.x);
  float* y = static_cast<float*>(t.y);
  if (n_total == 0) return Status::Ok();
  const int threads = std::max(1, pool_size());
  const bool stream = n_total * sample_bytes >= g_stream_min_bytes;

  // As SE: whole samples to threads (every phase of a sample on one core, no barriers) while
  // at least `threads` samples remain; the rest in blocks split across threads.
  int64_t whole = n_total >= threads ? n_total / threads * threads : 0;
  // Tiny batches are not worth a wake-up: all on the caller.
  if (n_total * sample_bytes < int64_t(threads) * kBytesPerTask) whole = n_total;
  const int64_t rest = n_total - whole;
  int64_t nb_max = rest > 0 ? samples_per_block(rest, sample_bytes, threads) : 1;
  nb_max = bound_block_samples(nb_max, cc, p.hidden);

  // The spatial weights that are not finite, for the direct loop (null: all finite).
  const int k = p.spatial_k;
  const bool finite_w = std::all_of(wt.aux, wt.aux + 2 * int64_t(k) * k, [](float v) { return std::isfinite(v); });
  NonFiniteTaps nonfinite;
  if (!finite_w) {
    nonfinite.words = (int64_t(k) + 63) / 64;
    try {
      nonfinite.row_first.assign(size_t(2) * size_t(k), k);
      nonfinite.row_last.assign(size_t(2) * size_t(k), -1);
      nonfinite.next_row.assign(size_t(2) * size_t(k + 1), k);
      nonfinite.bits.assign(size_t(2) * size_t(k) * size_t(nonfinite.words), 0);
    } catch (const std::bad_alloc&) {
      return Status::Error(StatusCode::OutOfMemory, "the CPU scratch buffers");
    }
    for (int ch = 0; ch < 2; ++ch) {
      for (int ky = 0; ky < k; ++ky) {
        const int64_t r = int64_t(ch) * k + ky;
        for (int kx = k - 1; kx >= 0; --kx) {
          if (std::isfinite(wt.aux[r * k + kx])) continue;
          nonfinite.row_first[size_t(r)] = kx;
          if (nonfinite.row_last[size_t(r)] < 0) nonfinite.row_last[size_t(r)] = kx;
          nonfinite.bits[size_t(r * nonfinite.words + kx / 64)] |= uint64_t{1} << (kx % 64);
        }
      }
      for (int ky = k - 1; ky >= 0; --ky)
        nonfinite.next_row[size_t(ch * (k + 1) + ky)] =
            nonfinite.row_first[size_t(ch * k + ky)] < k ? ky : nonfinite.next_row[size_t(ch * (k + 1) + ky + 1)];
    }
  }
  const NonFiniteTaps* nf = finite_w ? nullptr : &nonfinite;

  // The spatial maps (mean and max in double, the gate in float: 20 bytes a pixel) of every sample
  // in flight grow with H*W, unlike the rest of the scratch: refuse a call whose maps the system
  // cannot hold, with a coded error, before the OOM killer ends the process (an attack: one
  // 1x1x32768x32768 call asked for 20 GB on a 23 GB machine and was killed).
  const int64_t in_flight = (whole > 0 ? std::min<int64_t>(threads, whole) : 0) + (rest > 0 ? nb_max : 0);
  const int64_t map_bytes = in_flight * hw * int64_t(2 * sizeof(double) + sizeof(float));
  // y counted too: a new result's pages (or out's, untouched so far) fault in as it is written.
  const int64_t y_bytes = n_total * sample_bytes;
  const int64_t need = map_bytes + y_bytes;
  // Counted among the running calls' until this one returns: each call is judged beside what the
  // others may still touch (a review: two Workers' calls each fitted alone, and together the OOM
  // killer ended the process).
  const GuardedBytes running(need);
  {
    // Read (tens of microseconds: /proc and the cgroup's files) for a call that, with the others
    // running, comes to 4 MiB or more, or once this thread's and others' smaller calls since the
    // last reading have come to that much (results kept alive add up: a review's 4 MB calls with
    // kept results were refused at call 355 when every call read, and OOM-killed when calls under
    // 4 MiB did not count); not for each small call (CBAM 1x4x1x1 took 19 us a call, 18 of them
    // this reading: NOTES-cpu.md item 80). Never a reading kept from an earlier call: memory taken
    // meanwhile let a call through that was then OOM-killed (a review of a first form).
    const int64_t others = running.others();
    const bool due = need + others >= kGuardFromBytes || g_unchecked_bytes.fetch_add(need, std::memory_order_relaxed) + need >= kGuardFromBytes;
    if (due) {
      g_unchecked_bytes.store(0, std::memory_order_relaxed);
      const int64_t available = available_memory_bytes();
      // kGuardMargin: left to the rest of the process (its scratch, the JS heap) and the kernel.
      if (available >= 0 && need + others + kGuardMargin > available) {
        char running_text[80] = "";
        if (others > 0)
          std::snprintf(running_text, sizeof running_text, " and %.0f MiB of other CBAM calls running", double(others) / 1048576.0);
        char what[320];
        std::snprintf(what, sizeof what,
                      "CBAM's spatial maps on the CPU, %.1f MiB (20 bytes a pixel), which with the output's %.1f MiB%s is more than the %.1f MiB the system has available (less %d MiB kept for the rest of the process)",
                      double(map_bytes) / 1048576.0, double(y_bytes) / 1048576.0, running_text, double(available) / 1048576.0,
                      int(kGuardMargin >> 20));
        return Status::Error(StatusCode::OutOfMemory, what);
      }
    }
  }

  ScratchLease<ScratchSet> set;
  if (!set) return Status::Error(StatusCode::OutOfMemory, "the CPU scratch buffers");
  try {
    if (whole > 0) {
      const size_t want = size_t(std::min<int64_t>(threads, whole));  // participants <= tasks
      if (set->slots.size() < want) set->slots.resize(want);
      for (size_t i = 0; i < want; ++i) set->slots[i].resize(1, cc, p.hidden, p.shape.h, ww, p.spatial_k, 1, nhwc);
    }
    if (rest > 0) set->block.resize(nb_max, cc, p.hidden, p.shape.h, ww, p.spatial_k, int64_t(threads) * kTasksPerThread, nhwc);
  } catch (const std::bad_alloc&) {
    return Status::Error(StatusCode::OutOfMemory, "the CPU scratch buffers");
  }
  std::vector<Scratch>& slots = set->slots;
  Scratch& block = set->block;

  if (whole > 0) {
    parallel_for(
        whole,
        [&](int64_t n) { run_block(p, wt, nf, stream, x + n * sample, y + n * sample, 1, 1, slots[size_t(participant_index())]); },
        int(std::min<int64_t>(threads, whole)));
  }
  for (int64_t n0 = whole; n0 < n_total; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, n_total - n0);
    run_block(p, wt, nf, stream, x + n0 * sample, y + n0 * sample, nb, threads, block);
  }
  return Status::Ok();
}

}  // namespace sqex
