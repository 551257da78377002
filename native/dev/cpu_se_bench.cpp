// CPU squeeze-excite dev harness (llm.c dev/cuda style): validates the native/cpu kernels and
// the variants below against a float64 reference, then times SE variants against a
// same-size single-threaded memcpy measured in the same run.
//
// Build (from the repo root):
//   g++ -O3 -std=c++17 -ffp-contract=off -pthread -Inative/include -Inative/cpu native/dev/cpu_se_bench.cpp
//       native/cpu/*.cpp -o /tmp/cpu_se_bench
// Run:  /tmp/cpu_se_bench [check|nan|bench|all] [threads]   (nan: the NaN/Inf checks alone)
//
// Variants (SE only; ECA and CBAM are validated, and timed in production form):
//   1 two-pass: pool the whole batch, excite, then scale the whole batch (x read twice from DRAM)
//   2 sample-per-task: each thread takes whole samples (pool, excite, scale) in turn
//   3 production: native/cpu se_forward_cpu (per block of samples: pool, excite, scale, channels
//     or pixels split across threads with the same partition in both passes)
#include <algorithm>
#include <atomic>
#include <thread>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common.h"
#include "pipeline.h"
#include "sqex/cpu.h"
#include "thread_pool.h"

using namespace sqex;

// ---------------------------------------------------------------- float64 reference
// NaN rules of the PyTorch modules (test/reference.ts): relu(NaN) = NaN, max with a NaN is NaN,
// hardsigmoid(NaN) = NaN, silu(-inf) = NaN; the zero padding of the ECA / CBAM convs is an
// operand (w * 0 = NaN for a NaN/Inf tap). std::max(v, 0.0) keeps a NaN v (it returns its first
// argument unless that is less than the second); maxnan is for the reductions.
static double act_d(Act a, double v) { return a == Act::ReLU ? std::max(v, 0.0) : v / (1.0 + std::exp(-v)); }
static double gate_d(Gate g, double v) {
  return g == Gate::Sigmoid ? 1.0 / (1.0 + std::exp(-v)) : std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0;
}
static double maxnan(double m, double v) { return std::isnan(m) || std::isnan(v) ? NAN : std::max(m, v); }

struct Idx {
  int64_t C, HW;
  bool nhwc;
  int64_t operator()(int64_t n, int64_t c, int64_t q) const {
    return nhwc ? (n * HW + q) * C + c : (n * C + c) * HW + q;
  }
};

// mlp: o = W2 act(W1 z + b1) + b2 (two FC) or W1 z + b1 (single FC).
static std::vector<double> mlp_d(const OpParams& p, const Weights& w, const std::vector<double>& z, bool two) {
  const int64_t C = p.shape.c, H = p.hidden;
  std::vector<double> o(C);
  if (!two) {
    for (int64_t r = 0; r < C; ++r) {
      double v = w.b1 ? w.b1[r] : 0;
      for (int64_t k = 0; k < C; ++k) v += double(w.w1[r * C + k]) * z[k];
      o[r] = v;
    }
    return o;
  }
  std::vector<double> h(H);
  for (int64_t r = 0; r < H; ++r) {
    double v = w.b1 ? w.b1[r] : 0;
    for (int64_t k = 0; k < C; ++k) v += double(w.w1[r * C + k]) * z[k];
    h[r] = act_d(p.act, v);
  }
  for (int64_t r = 0; r < C; ++r) {
    double v = w.b2 ? w.b2[r] : 0;
    for (int64_t k = 0; k < H; ++k) v += double(w.w2[r * H + k]) * h[k];
    o[r] = v;
  }
  return o;
}

static void reference(const OpParams& p, const Weights& w, const float* x, const float* res, std::vector<double>& y,
                      std::vector<double>& sc) {
  const int64_t N = p.shape.n, C = p.shape.c, Hh = p.shape.h, Ww = p.shape.w, HW = Hh * Ww;
  Idx I{C, HW, p.layout == Layout::NHWC};
  y.assign(size_t(N * C * HW), 0);
  sc.assign(size_t(N * C), 0);
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> z(C), zmax(C, -INFINITY), s(C);
    for (int64_t c = 0; c < C; ++c) {
      double acc = 0;
      for (int64_t q = 0; q < HW; ++q) {
        acc += x[I(n, c, q)];
        zmax[c] = maxnan(zmax[c], double(x[I(n, c, q)]));
      }
      z[c] = acc / double(HW);
    }
    if (p.op == Op::SE) {
      auto o = mlp_d(p, w, z, p.two_fc);
      for (int64_t c = 0; c < C; ++c) s[c] = gate_d(p.gate, o[c]);
    } else if (p.op == Op::ECA) {
      const int k = p.eca_k, pad = (k - 1) / 2;
      for (int64_t c = 0; c < C; ++c) {
        double v = 0;
        for (int j = 0; j < k; ++j) {
          int64_t src = c + j - pad;
          v += double(w.aux[j]) * (src >= 0 && src < C ? z[src] : 0.0);
        }
        s[c] = gate_d(p.gate, v);
      }
    } else {
      auto oa = mlp_d(p, w, z, true), om = mlp_d(p, w, zmax, true);
      for (int64_t c = 0; c < C; ++c) s[c] = gate_d(p.gate, oa[c] + om[c]);
    }
    for (int64_t c = 0; c < C; ++c) sc[n * C + c] = s[c];
    if (p.op != Op::CBAM) {
      for (int64_t c = 0; c < C; ++c)
        for (int64_t q = 0; q < HW; ++q) {
          double v = double(x[I(n, c, q)]) * s[c];
          if (res) v += res[I(n, c, q)];
          if (p.out_act == OutAct::ReLU) v = std::max(v, 0.0);
          y[I(n, c, q)] = v;
        }
    } else {
      std::vector<double> mean(HW, 0), mx(HW, -INFINITY), g(HW);
      for (int64_t q = 0; q < HW; ++q)
        for (int64_t c = 0; c < C; ++c) {
          double v = double(x[I(n, c, q)]) * s[c];
          mean[q] += v / double(C);
          mx[q] = maxnan(mx[q], v);
        }
      const int k = p.spatial_k, pad = (k - 1) / 2;
      for (int64_t oy = 0; oy < Hh; ++oy)
        for (int64_t ox = 0; ox < Ww; ++ox) {
          double v = p.spatial_bias;
          for (int ch = 0; ch < 2; ++ch)
            for (int ky = 0; ky < k; ++ky)
              for (int kx = 0; kx < k; ++kx) {
                int64_t iy = oy + ky - pad, ix = ox + kx - pad;
                const bool in = iy >= 0 && iy < Hh && ix >= 0 && ix < Ww;
                v += double(w.aux[(ch * k + ky) * k + kx]) * (in ? (ch ? mx : mean)[iy * Ww + ix] : 0.0);
              }
          g[oy * Ww + ox] = gate_d(p.gate, v);
        }
      for (int64_t c = 0; c < C; ++c)
        for (int64_t q = 0; q < HW; ++q) y[I(n, c, q)] = double(x[I(n, c, q)]) * s[c] * g[q];
    }
  }
}

// ---------------------------------------------------------------- problem setup
struct Problem {
  OpParams p;
  std::vector<float> x, res, w1, b1, w2, b2, aux;
  Weights w;
  bool has_res = false, has_b = true;
};

static std::mt19937_64 rng(12345);
static void fill(std::vector<float>& v, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  v.resize(n);
  for (auto& e : v) e = d(rng);
}

static Problem make_problem(Op op, int64_t n, int64_t c, int64_t h, int64_t w, Layout layout, int64_t hidden,
                            bool two_fc, bool biases, bool residual, float xscale) {
  Problem P;
  OpParams& p = P.p;
  p.op = op;
  p.shape = {n, c, h, w};
  p.layout = layout;
  p.hidden = op == Op::ECA ? 0 : (two_fc || op == Op::CBAM ? hidden : c);
  p.two_fc = op == Op::SE ? two_fc : true;
  p.eca_k = 5;
  p.spatial_k = 7;
  p.spatial_bias = 0.1f;
  const size_t numel = size_t(n * c * h * w);
  fill(P.x, numel, -xscale, xscale);
  // Per-channel offsets so pooled means are not all ~0.
  std::vector<float> off;
  fill(off, size_t(c), -0.5f * xscale, 0.5f * xscale);
  Idx I{c, h * w, layout == Layout::NHWC};
  for (int64_t a = 0; a < n; ++a)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t q = 0; q < h * w; ++q) P.x[I(a, ch, q)] += off[ch];
  if (residual) fill(P.res, numel, -1, 1), P.has_res = true;
  const int64_t hid = p.hidden;
  const float s1 = 2.f / std::sqrt(float(c)), s2 = 2.f / std::sqrt(float(std::max<int64_t>(hid, 1)));
  if (op != Op::ECA) {
    fill(P.w1, size_t(hid * c), -s1, s1);
    if (biases) fill(P.b1, size_t(hid), -0.5f, 0.5f);
    if (p.two_fc) {
      fill(P.w2, size_t(c * hid), -s2, s2);
      if (biases) fill(P.b2, size_t(c), -0.5f, 0.5f);
    }
  }
  if (op == Op::ECA) fill(P.aux, 5, -0.6f, 0.6f);
  if (op == Op::CBAM) fill(P.aux, 2 * 49, -0.2f, 0.2f);
  P.has_b = biases;
  P.w.w1 = P.w1.empty() ? nullptr : P.w1.data();
  P.w.b1 = P.b1.empty() ? nullptr : P.b1.data();
  P.w.w2 = P.w2.empty() ? nullptr : P.w2.data();
  P.w.b2 = P.b2.empty() ? nullptr : P.b2.data();
  P.w.aux = P.aux.empty() ? nullptr : P.aux.data();
  return P;
}

// ---------------------------------------------------------------- variants (SE)
typedef Status (*Variant)(const OpParams&, const Weights&, const Tensors&);

static void excite_serial(const OpParams& p, const Weights& w, const double* z, int64_t nb, float* s) {
  const cpu::Kernels& kn = cpu::kernels();
  const int64_t C = p.shape.c, H = p.hidden;
  std::vector<double> h(nb * std::max<int64_t>(H, 1)), o(nb * C);
  if (p.two_fc) {
    kn.fc(w.w1, w.b1, C, z, C, nb, h.data(), H, 0, H);
    for (int64_t i = 0; i < nb * H; ++i) h[i] = cpu::act_apply(p.act, h[i]);
    kn.fc(w.w2, w.b2, H, h.data(), H, nb, o.data(), C, 0, C);
  } else {
    kn.fc(w.w1, w.b1, C, z, C, nb, o.data(), C, 0, C);
  }
  for (int64_t i = 0; i < nb * C; ++i) s[i] = float(cpu::gate_apply(p.gate, o[i]));
}

// 1: two-pass over the whole batch.
static Status se_two_pass(const OpParams& p, const Weights& w, const Tensors& t) {
  const cpu::Kernels& kn = cpu::kernels();
  const int64_t N = p.shape.n, C = p.shape.c, HW = p.shape.hw();
  const float* x = (const float*)t.x;
  const float* r = (const float*)t.residual;
  float* y = (float*)t.y;
  const int T = cpu::pool_size();
  std::vector<double> z(N * C);
  std::vector<float> s(N * C);
  const bool relu = p.out_act == OutAct::ReLU;
  if (p.layout == Layout::NCHW) {
    cpu::parallel_for(T, [&](int64_t i) {
      int64_t a, b;
      cpu::split_range(N * C, T, i, &a, &b);
      for (int64_t row = a; row < b; ++row) z[row] = kn.sum(x + row * HW, HW) / double(HW);
    });
    excite_serial(p, w, z.data(), N, s.data());
    cpu::parallel_for(T, [&](int64_t i) {
      int64_t a, b;
      cpu::split_range(N * C, T, i, &a, &b);
      kn.scale_planes(x + a * HW, s.data() + a, r ? r + a * HW : nullptr, y + a * HW, b - a, HW, relu, false);
    });
  } else {
    std::vector<double> acc(N * C, 0.0);
    cpu::parallel_for(T, [&](int64_t i) {
      int64_t a, b;
      cpu::split_range(N, T, i, &a, &b);  // samples across threads for NHWC pooling
      for (int64_t n = a; n < b; ++n) kn.accum_rows(x + n * C * HW, HW, C, C, acc.data() + n * C, 0);
    });
    for (int64_t j = 0; j < N * C; ++j) z[j] = acc[j] / double(HW);
    excite_serial(p, w, z.data(), N, s.data());
    cpu::parallel_for(T, [&](int64_t i) {
      int64_t a, b;
      cpu::split_range(N * HW, T, i, &a, &b);
      for (int64_t q = a; q < b; ++q) {
        int64_t n = q / HW;
        kn.scale_rows(x + q * C, s.data() + n * C, r ? r + q * C : nullptr, y + q * C, 1, C, relu, false);
      }
    });
  }
  return Status::Ok();
}

// 2: each task one whole sample.
static Status se_sample_per_task(const OpParams& p, const Weights& w, const Tensors& t) {
  const cpu::Kernels& kn = cpu::kernels();
  const int64_t N = p.shape.n, C = p.shape.c, HW = p.shape.hw(), S = C * HW;
  const float* x = (const float*)t.x;
  const float* r = (const float*)t.residual;
  float* y = (float*)t.y;
  const bool relu = p.out_act == OutAct::ReLU;
  cpu::parallel_for(N, [&](int64_t n) {
    std::vector<double> z(C);
    std::vector<float> s(C);
    const float* xs = x + n * S;
    if (p.layout == Layout::NCHW) {
      for (int64_t c = 0; c < C; ++c) z[c] = kn.sum(xs + c * HW, HW) / double(HW);
    } else {
      kn.accum_rows(xs, HW, C, C, z.data(), 0);
      for (int64_t c = 0; c < C; ++c) z[c] /= double(HW);
    }
    excite_serial(p, w, z.data(), 1, s.data());
    if (t.scale_out) std::memcpy(t.scale_out + n * C, s.data(), C * 4);
    if (p.layout == Layout::NCHW) {
      kn.scale_planes(xs, s.data(), r ? r + n * S : nullptr, y + n * S, C, HW, relu, false);
    } else {
      kn.scale_rows(xs, s.data(), r ? r + n * S : nullptr, y + n * S, HW, C, relu, false);
    }
  });
  return Status::Ok();
}

// 4: production with streaming stores for the output whatever its size (SE, ECA and CBAM).
template <Status (*Forward)(const OpParams&, const Weights&, const Tensors&)>
static Status forward_stream(const OpParams& p, const Weights& w, const Tensors& t) {
  const int64_t saved = cpu::g_stream_min_bytes;
  cpu::g_stream_min_bytes = 0;
  Status st = Forward(p, w, t);
  cpu::g_stream_min_bytes = saved;
  return st;
}

// ---------------------------------------------------------------- validation
static int g_fail = 0, g_checks = 0;
static double g_worst_rel[3] = {0, 0, 0}, g_worst_s[3] = {0, 0, 0};

static bool run_check(const char* tag, Variant fn, Problem& P, bool inplace, bool res_is_y, bool want_scale) {
  const OpParams& p = P.p;
  const size_t numel = size_t(p.shape.numel());
  std::vector<double> ref, sref;
  std::vector<float> res_copy = P.res;
  // res_is_y: residual aliases y (y starts as the residual); inplace: y aliases x.
  reference(p, P.w, P.x.data(), P.has_res ? res_copy.data() : nullptr, ref, sref);
  std::vector<float> xbuf = P.x, ybuf(numel, std::nanf("")), sbuf(size_t(p.shape.n * p.shape.c), std::nanf(""));
  Tensors t;
  float* y = inplace ? xbuf.data() : ybuf.data();
  if (res_is_y && P.has_res) std::memcpy(y, res_copy.data(), numel * 4);
  t.x = xbuf.data();
  t.y = y;
  t.residual = P.has_res ? (res_is_y ? y : res_copy.data()) : nullptr;
  if (inplace && res_is_y) return true;  // x, residual and y cannot all be one array with distinct values
  t.scale_out = want_scale ? sbuf.data() : nullptr;
  Status st = fn(p, P.w, t);
  // NaN must meet NaN and +-Inf the same infinity ("finite" below: every such element matched);
  // finite references are compared as before.
  double maxref = 0, maxerr = 0, serr = 0;
  bool finite = true;
  for (size_t i = 0; i < numel; ++i)
    if (std::isfinite(ref[i])) maxref = std::max(maxref, std::fabs(ref[i]));
  for (size_t i = 0; i < numel; ++i) {
    if (!std::isfinite(ref[i])) {
      if (std::isnan(ref[i]) ? !std::isnan(y[i]) : double(y[i]) != ref[i]) finite = false;
      continue;
    }
    if (!std::isfinite(y[i])) finite = false;
    maxerr = std::max(maxerr, std::fabs(double(y[i]) - ref[i]));
  }
  if (want_scale)
    for (size_t i = 0; i < sbuf.size(); ++i) {
      if (!std::isfinite(sref[i])) {
        if (std::isnan(sref[i]) ? !std::isnan(sbuf[i]) : double(sbuf[i]) != sref[i]) finite = false;
        continue;
      }
      if (!std::isfinite(sbuf[i])) finite = false;
      serr = std::max(serr, std::fabs(double(sbuf[i]) - sref[i]));
    }
  const double rel = maxref > 0 ? maxerr / maxref : maxerr;
  const bool ok = st.ok() && finite && rel <= 1e-5 && serr <= 1e-5;
  ++g_checks;
  g_worst_rel[int(p.op)] = std::max(g_worst_rel[int(p.op)], rel);
  g_worst_s[int(p.op)] = std::max(g_worst_s[int(p.op)], serr);
  if (!ok || std::getenv("VERBOSE")) {
    std::printf("%s %-22s op=%d %s n=%ld c=%ld %ldx%ld hid=%ld twofc=%d act=%d gate=%d out=%d res=%d%s%s b=%d: rel=%.2e serr=%.2e finite=%d status=%d %s\n",
                ok ? "  ok" : "FAIL", tag, int(p.op), p.layout == Layout::NHWC ? "NHWC" : "NCHW", (long)p.shape.n,
                (long)p.shape.c, (long)p.shape.h, (long)p.shape.w, (long)p.hidden, p.two_fc, int(p.act), int(p.gate),
                int(p.out_act), P.has_res, inplace ? " inplace" : "", res_is_y ? " res==y" : "", P.has_b, rel, serr,
                finite, int(st.code), st.message.c_str());
  }
  if (!ok) ++g_fail;
  return ok;
}


static void check_all() {
  struct Sh { int64_t n, c, h, w, hid; float xs; };
  const Sh shapes[] = {
      {2, 1, 5, 5, 1, 1.f},      {1, 3, 7, 13, 2, 1.f},    {3, 16, 1, 1, 4, 1.f},     {2, 1, 1, 1, 1, 1.f},
      {2, 24, 7, 13, 6, 1.f},    {5, 33, 9, 9, 8, 1.f},    {8, 64, 14, 14, 4, 1.f},   {2, 8, 112, 112, 2, 1.f},
      {1, 24, 112, 112, 6, 1e4f}, {3, 40, 28, 28, 10, 1e4f}, {2, 256, 56, 56, 16, 1.f}, {4, 2048, 7, 7, 128, 1.f},
      {1, 96, 112, 112, 4, 1.f},
  };
  const Variant prod[] = {se_forward_cpu, eca_forward_cpu, cbam_forward_cpu};
  int combo = 0;
  for (const Sh& sh : shapes) {
    for (int op = 0; op < 3; ++op) {
      for (int lay = 0; lay < 2; ++lay) {
        const int reps = op == 0 ? 4 : 2;
        for (int k = 0; k < reps; ++k, ++combo) {
          const bool two = op != 0 || (combo % 3 != 2);
          const bool biases = combo % 4 != 1;
          const bool residual = op != 2 && (combo % 3 == 0) && op == 0;
          Problem P = make_problem(Op(op), sh.n, sh.c, sh.h, sh.w, Layout(lay), sh.hid, two, biases, residual, sh.xs);
          P.p.act = Act(combo % 2);
          P.p.gate = Gate((combo / 2) % 2);
          P.p.out_act = op == 0 && combo % 5 < 2 ? OutAct::ReLU : OutAct::None;
          const bool inplace = combo % 4 == 3;
          const bool res_is_y = residual && combo % 2 == 1 && !inplace;
          const bool want_scale = op != 2;
          run_check("production", prod[op], P, inplace, res_is_y, want_scale);
          if (op == 1 && k == 0) run_check("eca stream", forward_stream<eca_forward_cpu>, P, inplace, res_is_y, want_scale);
          if (op == 2 && k == 0) run_check("cbam stream", forward_stream<cbam_forward_cpu>, P, inplace, res_is_y, want_scale);
          if (op == 0 && k == 0) {
            run_check("v4 stream", forward_stream<se_forward_cpu>, P, inplace, res_is_y, want_scale);
            run_check("v1 two-pass", se_two_pass, P, false, false, false);
            run_check("v2 sample-per-task", se_sample_per_task, P, false, false, true);
          }
        }
      }
    }
  }
}

// The output passes (NHWC: scale_rows, CBAM's scale_gate_rows; NCHW: scale_planes, scale_gate_plane)
// against their contract, bit for bit, NaN bits included: y[row, c] = x[row, c] * s[c]
// (+ r[row, c]) (relu: v < 0 ? 0 : v, which keeps -0 and NaN), and (x[row, c] * s[c]) * g[row],
// with every NaN output the one quiet NaN 0x7fc00000 (kernels_impl.h canon_f), streamed and not.
// The passes walk from y's first vector-aligned element and gather a vector's s and g where it
// crosses a row end, so the cases put y at every float offset from a 64-byte line, with channel
// counts below, at and around the vector widths. NaNs of different payloads and signs meet each
// other (x's against a NaN s, r or g), and -0 meets relu, so that an element's bits cannot
// depend on which loop (head, pairs, single vector, crossing vector, tail) it took. The poison
// around y is a finite value: a stray NaN or any other store outside y shows.
static void check_row_scale() {
  std::mt19937 g(4321);
  std::uniform_real_distribution<float> d(-3.f, 3.f);
  const cpu::Kernels& kn = cpu::kernels();
  const auto from_bits = [](uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; };
  const float nans[] = {from_bits(0x7fc00000u), from_bits(0xffc00000u), from_bits(0x7fc0beefu), from_bits(0xffa00001u)};
  const auto same_bits = [](float a, float b) { return std::memcmp(&a, &b, 4) == 0; };
  const auto canon = [](float v) { return v == v ? v : __builtin_nanf(""); };
  const float poison = 1234.5f;
  const int64_t ccs[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 63, 64, 65, 100, 256};
  const int64_t rowss[] = {1, 2, 3, 7, 40, 97};  // 40, 97: narrow rows take the s pattern (n >= 2W)
  for (const int64_t cc : ccs)
    for (const int64_t rows : rowss)
      for (int yoff = 0; yoff < 16; ++yoff) {
        const int64_t n = rows * cc;
        std::vector<float> x(static_cast<size_t>(n)), r(static_cast<size_t>(n)), s(static_cast<size_t>(cc)), gt(static_cast<size_t>(rows));
        for (float& v : x) v = d(g);
        for (float& v : r) v = d(g);
        for (float& v : s) v = d(g);
        for (float& v : gt) v = d(g);
        // NaNs of four kinds in x (some under a NaN s, r or g), -0s, an infinity.
        for (int64_t k = 0; k < n; k += 1 + int64_t(g() % 5)) x[size_t(k)] = nans[g() % 4];
        for (int64_t k = 0; k < n; k += 2 + int64_t(g() % 7)) x[size_t(k)] = -0.f;
        if (n > 3) x[size_t(g() % n)] = INFINITY;
        if (cc > 1) s[size_t(g() % cc)] = -INFINITY;
        s[size_t(g() % cc)] = nans[g() % 4];
        for (int64_t k = 0; k < n; k += 3 + int64_t(g() % 5)) r[size_t(k)] = nans[g() % 4];
        gt[size_t(g() % rows)] = nans[g() % 4];
        std::vector<float> ybuf(static_cast<size_t>(n + 32));
        float* y = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(ybuf.data()) + 63) & ~uintptr_t(63)) + yoff;
        // 0-5: the row passes (scale_rows plain, + residual (relu on odd offsets), + relu alone;
        // scale_gate_rows), streamed on odd modes; 8-11: the plane passes (scale_planes over `rows`
        // planes of cc floats, a vector crossing plane ends wherever cc >= W; scale_gate_plane with
        // s[0] and g over the run), streamed on odd modes.
        for (int mode = 0; mode < 12; ++mode) {
          if (mode == 6 || mode == 7) continue;
          const bool stream = mode & 1, plane = mode >= 8, gate = mode == 4 || mode == 5 || mode >= 10;
          const bool has_r = mode == 2 || mode == 3 || mode == 8 || mode == 9;
          const bool relu = (has_r && (yoff & 1)) || mode == 0 || mode == 8;
          std::fill(ybuf.begin(), ybuf.end(), poison);
          std::vector<float> gfull;
          if (plane && gate) {
            gfull.resize(size_t(n));
            for (int64_t i = 0; i < n; ++i) gfull[size_t(i)] = gt[size_t(i / cc)];
          }
          if (plane) {
            if (gate) {
              kn.scale_gate_plane(x.data(), s[0], gfull.data(), y, n, stream);
            } else {
              kn.scale_planes(x.data(), gt.data(), has_r ? r.data() : nullptr, y, rows, cc, relu, stream);
            }
          } else if (gate) {
            kn.scale_gate_rows(x.data(), s.data(), gt.data(), y, rows, cc, stream);
          } else {
            kn.scale_rows(x.data(), s.data(), has_r ? r.data() : nullptr, y, rows, cc, relu, stream);
          }
          int64_t bad = -1;
          float want = 0;
          for (int64_t i = 0; i < n && bad < 0; ++i) {
            const int64_t row = i / cc, c = i % cc;
            // scale_planes: `rows` planes of cc floats, plane p's s gt[p]; scale_gate_plane: s[0].
            const float sv = plane ? (gate ? s[0] : gt[size_t(row)]) : s[size_t(c)];
            float v = x[size_t(i)] * sv;
            if (gate) v = v * gt[size_t(row)];
            if (has_r) v += r[size_t(i)];
            if (relu) v = v < 0.f ? 0.f : v;
            v = canon(v);
            if (!same_bits(y[i], v)) bad = i, want = v;
          }
          for (const float* q = ybuf.data(); q < ybuf.data() + ybuf.size() && bad < 0; ++q)
            if ((q < y || q >= y + n) && !same_bits(*q, poison)) bad = n;
          ++g_checks;
          if (bad >= 0) {
            ++g_fail;
            uint32_t yb = 0, wb = 0;
            if (bad < n) std::memcpy(&yb, &y[bad], 4);
            std::memcpy(&wb, &want, 4);
            std::printf("FAIL %s %s%s%s%s rows=%lld c=%lld y+%d: element %lld = 0x%08x (want 0x%08x)%s\n", kn.name,
                        plane ? (gate ? "scale_gate_plane" : "scale_planes") : (gate ? "scale_gate_rows" : "scale_rows"),
                        stream ? " stream" : "", has_r ? " residual" : "", relu ? " relu" : "", (long long)rows,
                        (long long)cc, yoff, (long long)bad, yb, wb, bad == n ? " (a store outside y)" : "");
          }
        }
      }
}

// The row-pooling kernels (NHWC pooling: accum_rows, accum_max_rows) against their contract,
// bit for bit: acc[c] += x[0][c] + x[1][c] + ... added in row order in double, mx[c] = max with
// NaN propagated (torch.amax), from non-zero starting values. The channel counts and row counts
// cross every path these kernels choose between (the four-row pass up to 1 MB, the row tiles,
// the in-sequence loop with 1..14 register blocks and a partial last vector, no rows at all), with
// values of many magnitudes (so that another order of addition shows), and the NaNs sit in
// early rows, where a NaN-dropping vector max would lose them. The ops cannot show a lost NaN
// max: the same channel's mean is NaN too, and so is its gate.
static void check_row_pooling() {
  std::mt19937 g(1234);
  std::uniform_real_distribution<float> d(-3.f, 3.f);
  // Magnitudes 2^-40..2^40, so that the double sums round and any other order of addition gives
  // other bits (uniform values of one scale sum exactly in double, whatever the order).
  const auto spread = [&] { return std::ldexp(d(g), int(g() % 81) - 40); };
  const cpu::Kernels& kn = cpu::kernels();
  const int64_t channels[] = {1,   3,   8,   15,  16,  17,  24,  32,  40,  47,  48,  64,  80,  96,  112, 120, 128, 129, 144,
                              160, 176, 192, 200, 208, 223, 224, 225, 240, 256, 257, 264, 384, 512, 520, 1024};
  const int64_t row_counts[] = {0, 1, 2, 5, 49, 196, 784, 3136};
  for (int64_t cc : channels) {
    for (int64_t rows : row_counts) {
      if (rows * cc > (int64_t(1) << 20)) continue;  // up to 4 MB of x: past the 1 MB tiles line
      std::vector<float> x(size_t(std::max<int64_t>(rows, 1) * cc));
      for (float& v : x) v = spread();
      // Specials in a few columns: NaN in an early row, +Inf, -Inf, and +Inf with -Inf (a NaN
      // sum with no NaN value: the max stays +Inf).
      for (int64_t c = 0; rows > 0 && c < cc; c += 7) {
        const int64_t r = rows > 2 ? int64_t(g() % uint32_t(rows / 2 + 1)) : 0;
        switch ((c / 7) % 4) {
          case 0: x[size_t(r * cc + c)] = std::nanf(""); break;
          case 1: x[size_t(r * cc + c)] = INFINITY; break;
          case 2: x[size_t(r * cc + c)] = -INFINITY; break;
          default:
            x[size_t(r * cc + c)] = INFINITY;
            x[size_t((rows - 1) * cc + c)] = rows > 1 ? -INFINITY : INFINITY;
        }
      }
      std::vector<double> acc0(static_cast<size_t>(cc)), ref(static_cast<size_t>(cc));
      std::vector<float> mx0(static_cast<size_t>(cc)), mref(static_cast<size_t>(cc));
      for (int64_t c = 0; c < cc; ++c) {
        acc0[size_t(c)] = double(spread());
        mx0[size_t(c)] = spread();
        double a = acc0[size_t(c)];
        float m = mx0[size_t(c)];
        for (int64_t r = 0; r < rows; ++r) {
          const float v = x[size_t(r * cc + c)];
          a += double(v);
          m = (std::isnan(m) || std::isnan(v)) ? std::nanf("") : (v > m ? v : m);
        }
        ref[size_t(c)] = a;
        mref[size_t(c)] = m;
      }
      const auto same_d = [](double a, double b) { return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, 8) == 0; };
      const auto same_f = [](float a, float b) { return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, 4) == 0; };
      // Whole rows, and (split path) the row's channels in blocks at a row stride of C: the same bits.
      for (int mode = 0; mode < 4; ++mode) {
        const int with_max = mode & 1;
        const int64_t blocks = mode < 2 ? 1 : std::max<int64_t>(1, std::min<int64_t>(3, cc / 64));
        if (mode >= 2 && blocks == 1) continue;
        std::vector<double> acc = acc0;
        std::vector<float> mx = mx0;
        for (int64_t b = 0; b < blocks; ++b) {
          int64_t c0 = 0, c1 = cc;
          if (blocks > 1) cpu::pool_channel_block(cc, blocks, b, &c0, &c1);
          const int64_t span = mode < 2 ? 0 : rows * cc * 4;
          if (with_max) {
            kn.accum_max_rows(x.data() + c0, rows, c1 - c0, cc, acc.data() + c0, mx.data() + c0, span);
          } else {
            kn.accum_rows(x.data() + c0, rows, c1 - c0, cc, acc.data() + c0, span);
          }
        }
        int64_t bad = -1;
        for (int64_t c = 0; c < cc && bad < 0; ++c)
          if (!same_d(acc[size_t(c)], ref[size_t(c)]) || (with_max && !same_f(mx[size_t(c)], mref[size_t(c)]))) bad = c;
        ++g_checks;
        if (bad >= 0) {
          ++g_fail;
          std::printf("FAIL %s %s%s rows=%lld c=%lld: channel %lld acc %.17g (want %.17g) max %g (want %g)\n", kn.name,
                      with_max ? "accum_max_rows" : "accum_rows", blocks > 1 ? " (channel blocks)" : "", (long long)rows, (long long)cc, (long long)bad,
                      acc[size_t(bad)], ref[size_t(bad)], double(mx[size_t(bad)]), double(mref[size_t(bad)]));
        }
      }
    }
  }
}

// NaN / +-Inf at random places of x, the residual, one weight or bias, or a whole +-Inf
// channel, on every op, option, layout, and (through the caller) every ISA table; whole-sample
// and block-split paths (N below and above the thread count).
static void check_nan() {
  struct Sh { int64_t n, c, h, w, hid; };
  const Sh shapes[] = {{1, 19, 5, 7, 5}, {3, 33, 9, 9, 8}, {2, 64, 14, 14, 16}, {4, 8, 1, 1, 3}, {1, 1, 6, 5, 1},
                       {2, 24, 7, 13, 6}};
  const float specials[] = {NAN, INFINITY, -INFINITY};
  std::uniform_int_distribution<int> pick3(0, 2);
  int combo = 0;
  for (const Sh& sh : shapes)
    for (int op = 0; op < 3; ++op)
      for (int lay = 0; lay < 2; ++lay)
        for (int target = 0; target < 7; ++target, ++combo) {
          // 0 x, 1 x +-Inf only, 2 a +-Inf channel, 3 residual, 4 w1 / ECA taps, 5 b1 / CBAM taps, 6 w2 / b2
          const bool two = op != 0 || (combo % 3 != 2);
          const bool residual = op == 0 && (target == 3 || combo % 2 == 0);
          if (target == 3 && !residual) continue;
          if (target == 6 && (op == 1 || !two)) continue;
          Problem P = make_problem(Op(op), sh.n, sh.c, sh.h, sh.w, Layout(lay), sh.hid, two, true, residual, 1.f);
          P.p.act = Act(combo % 2);
          P.p.gate = Gate((combo / 2) % 2);
          P.p.out_act = op == 0 && combo % 4 < 2 ? OutAct::ReLU : OutAct::None;
          P.p.eca_k = 5;
          P.p.spatial_k = combo % 3 == 0 ? 3 : 7;
          if (op == 2) P.aux.resize(size_t(2 * P.p.spatial_k * P.p.spatial_k));
          P.w.aux = P.aux.empty() ? nullptr : P.aux.data();
          auto at = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
          const int64_t HW = sh.h * sh.w;
          Idx I{sh.c, HW, lay == 1};
          if (target == 0) {
            for (int k = 0; k < 2; ++k) P.x[at(P.x.size())] = specials[pick3(rng)];
          } else if (target == 1) {
            P.x[at(P.x.size())] = specials[1 + pick3(rng) % 2];
          } else if (target == 2) {
            const int64_t n = int64_t(at(size_t(sh.n))), c = int64_t(at(size_t(sh.c)));
            const float v = specials[1 + pick3(rng) % 2];
            for (int64_t q = 0; q < HW; ++q) P.x[I(n, c, q)] = v;
          } else if (target == 3) {
            for (int k = 0; k < 2; ++k) P.res[at(P.res.size())] = specials[pick3(rng)];
          } else if (target == 4) {
            std::vector<float>& v = op == 0 || op == 2 ? P.w1 : P.aux;
            v[at(v.size())] = specials[pick3(rng)];
          } else if (target == 5) {
            std::vector<float>& v = op == 2 ? P.aux : (op == 1 ? P.aux : P.b1);
            v[at(v.size())] = specials[pick3(rng)];
          } else {
            std::vector<float>& v = combo % 2 ? P.w2 : P.b2;
            v[at(v.size())] = specials[pick3(rng)];
          }
          const Variant prod[] = {se_forward_cpu, eca_forward_cpu, cbam_forward_cpu};
          run_check("nan/inf", prod[op], P, false, false, op != 2);
        }
}

// Concurrent callers (as from the main thread, worker_threads and the libuv pool at once),
// with the pool resized underneath them: every result must still match its reference.
static void stress_concurrent() {
  const int kCallers = 4, kIters = 30;
  std::vector<Problem> probs;
  std::vector<std::vector<double>> refs(kCallers);
  for (int i = 0; i < kCallers; ++i) {
    probs.push_back(make_problem(Op(i % 3), 3 + i, 32 + 8 * i, 20, 20, Layout(i % 2), 8, true, true, false, 1.f));
    std::vector<double> sc;
    reference(probs[i].p, probs[i].w, probs[i].x.data(), nullptr, refs[i], sc);
  }
  std::atomic<int> bad{0};
  std::vector<std::thread> th;
  for (int i = 0; i < kCallers; ++i)
    th.emplace_back([&, i] {
      Problem& P = probs[i];
      std::vector<float> y(P.x.size());
      for (int it = 0; it < kIters; ++it) {
        std::fill(y.begin(), y.end(), std::nanf(""));
        Tensors t;
        t.x = P.x.data();
        t.y = y.data();
        Status st = forward_cpu(P.p, P.w, t);
        double maxref = 0, maxerr = 0;
        for (size_t k = 0; k < y.size(); ++k) {
          maxref = std::max(maxref, std::fabs(refs[i][k]));
          const double e = std::fabs(double(y[k]) - refs[i][k]);
          maxerr = std::isfinite(y[k]) ? std::max(maxerr, e) : INFINITY;
        }
        if (!st.ok() || !(maxerr <= 1e-5 * maxref)) bad.fetch_add(1);
      }
    });
  for (int k = 0; k < 20; ++k) {
    cpu_set_thread_count(1 + k % 3);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  for (auto& t : th) t.join();
  cpu_set_thread_count(0);
  ++g_checks;
  if (bad.load()) ++g_fail;
  std::printf("concurrent callers with pool resizes: %d bad results out of %d\n", bad.load(), kCallers * kIters);
}

// Calls that run solo (forward_cpu after the workers have gone to sleep, below the cost bound; or
// under a SoloScope) against the same calls on the whole pool, bit for bit: solo runs the same
// tasks inline. Also that a parallel_for under a SoloScope runs on the calling thread alone.
static void check_solo() {
  int bad = 0, cases = 0;
  for (int i = 0; i < 12; ++i) {
    const Op op = Op(i % 3);
    const Layout layout = Layout((i / 3) % 2);
    const int64_t n = i < 6 ? 1 : 3;
    Problem P = make_problem(op, n, 48 + 40 * (i % 4), 14 + (i % 3), 14, layout, 8, true, true, i % 2 == 1, 1.f);
    std::vector<float> pooled(P.x.size()), solo(P.x.size()), rested(P.x.size());
    auto run = [&](std::vector<float>& y) {
      std::fill(y.begin(), y.end(), std::nanf(""));
      Tensors t;
      t.x = P.x.data();
      t.y = y.data();
      if (!P.res.empty()) t.residual = P.res.data();
      return forward_cpu(P.p, P.w, t).ok();
    };
    // The reference on the whole pool: no solo run, whatever the workers' state.
    const double bound = cpu::g_solo_max_cost_bytes;
    cpu::g_solo_max_cost_bytes = 0;
    bool ok = run(pooled);
    cpu::g_solo_max_cost_bytes = bound;
    {
      const cpu::SoloScope scope(true);
      ok = run(solo) && ok;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the workers go to sleep
    ok = run(rested) && ok;
    ++cases;
    if (!ok || std::memcmp(pooled.data(), solo.data(), pooled.size() * 4) != 0 ||
        std::memcmp(pooled.data(), rested.data(), pooled.size() * 4) != 0)
      ++bad;
  }
  int participants = 0;
  {
    const cpu::SoloScope scope(true);
    participants = cpu::parallel_for(8, [](int64_t) {});
  }
  ++g_checks;
  if (bad || participants != 1) ++g_fail;
  std::printf("solo calls: %d of %d differ from the pool's; a parallel_for under SoloScope ran on %d thread(s)\n", bad,
              cases, participants);
}

// ---------------------------------------------------------------- timing
static double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class F>
static double median_time(F&& f, int reps) {
  std::vector<double> t;
  f();
  f();
  for (int i = 0; i < reps; ++i) {
    double a = now_s();
    f();
    t.push_back(now_s() - a);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

static std::vector<std::string> g_only;  // BENCH_SHAPES filter, e.g. "8x256x56x56,1x96x112x112"

static void bench_all() {
  struct Sh { int64_t n, c, h, w, hid; };
  const Sh shapes[] = {{8, 256, 56, 56, 16}, {1, 256, 56, 56, 16}, {8, 512, 28, 28, 32}, {1, 512, 28, 28, 32},
                       {8, 1024, 14, 14, 64}, {1, 1024, 14, 14, 64}, {8, 2048, 7, 7, 128}, {1, 2048, 7, 7, 128},
                       {8, 96, 112, 112, 4}, {1, 96, 112, 112, 4}, {8, 240, 28, 28, 10}, {1, 240, 28, 28, 10}};
  struct V { const char* name; Variant fn; const cpu::Kernels* isa; };
  std::vector<V> variants = {
      {"v1 two-pass", se_two_pass, nullptr},
      {"v2 sample-per-task", se_sample_per_task, nullptr},
      {"v3 production sse2", se_forward_cpu, cpu::kernels_sse2()},
      {"v3 production", se_forward_cpu, nullptr},
      {"v4 production+stream", forward_stream<se_forward_cpu>, nullptr},
  };
  if (std::getenv("PROD_ONLY")) variants = {{"v3 production", se_forward_cpu, nullptr}};
  const bool quick = std::getenv("QUICK") != nullptr;
  const char* ops_env = std::getenv("BENCH_OPS");  // e.g. "0" or "012"
  std::printf("%-4s %-16s %-4s %-22s %9s %8s %9s %7s %9s %9s %7s\n", "op", "shape", "lay", "variant", "ms", "GB/s", "memcpyms",
              "ratio", "min ms", "min cpy", "ratio");
  for (int op = 0; op < 3; ++op) {
    if (ops_env && !std::strchr(ops_env, char('0' + op))) continue;
    for (const Sh& sh : shapes) {
      if (op > 0 && !(sh.n == 8 && sh.c == 256)) continue;
      char shape[64];
      std::snprintf(shape, sizeof shape, "%ldx%ldx%ldx%ld", (long)sh.n, (long)sh.c, (long)sh.h, (long)sh.w);
      if (!g_only.empty() && std::find(g_only.begin(), g_only.end(), std::string(shape)) == g_only.end()) continue;
      for (int lay = 0; lay < 2; ++lay) {
        Problem P = make_problem(Op(op), sh.n, sh.c, sh.h, sh.w, Layout(lay), sh.hid, true, true, false, 1.f);
        const size_t numel = size_t(P.p.shape.numel()), bytes = numel * 4;
        std::vector<float> y(numel, 0.f), dst(numel, 0.f);
        const int reps = quick ? 9 : (bytes > (8 << 20) ? 31 : 101);
        std::vector<V> vs;
        for (const V& v : variants)
          if (op == 0 || v.fn == se_forward_cpu) vs.push_back(v);
        // Rounds of back-to-back runs of each (memcpy and every variant), so each is timed in
        // its own steady state while slow drifts of the machine hit all of them alike; the
        // first run of each stint is dropped; medians over the rest.
        std::vector<std::vector<double>> times(vs.size() + 1);
        auto run_variant = [&](size_t j) {
          if (j == 0) {
            std::memcpy(dst.data(), P.x.data(), bytes);
            return;
          }
          const V& v = vs[j - 1];
          if (v.isa) cpu::force_kernels(v.isa);
          Tensors t;
          t.x = P.x.data();
          t.y = y.data();
          Variant fn = op == 0 ? v.fn : (op == 1 ? eca_forward_cpu : cbam_forward_cpu);
          fn(P.p, P.w, t);
          cpu::force_kernels(nullptr);
        };
        const int rounds = 5, stint = std::max(2, reps / rounds + 1);
        for (int round = 0; round < rounds; ++round)
          for (size_t j = 0; j < times.size(); ++j)
            for (int k = 0; k < stint; ++k) {
              const double a = now_s();
              run_variant(j);
              const double dt = now_s() - a;
              if (k > 0) times[j].push_back(dt);
            }
        for (auto& tv : times) std::sort(tv.begin(), tv.end());
        const double tcopy = times[0][times[0].size() / 2], mcopy = times[0][0];
        for (size_t j = 1; j < times.size(); ++j) {
          const double top = times[j][times[j].size() / 2], mop = times[j][0];
          std::printf("%-4s %-16s %-4s %-22s %9.3f %8.2f %9.3f %7.3f %9.3f %9.3f %7.3f\n", op == 0 ? "se" : op == 1 ? "eca" : "cbam",
                      shape, lay ? "NHWC" : "NCHW", vs[j - 1].name, top * 1e3, 2.0 * bytes / top / 1e9, tcopy * 1e3, top / tcopy,
                      mop * 1e3, mcopy * 1e3, mop / mcopy);
        }
        std::fflush(stdout);
      }
    }
  }
}

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "all";
  if (argc > 2) cpu_set_thread_count(std::atoi(argv[2]));
  if (const char* only = std::getenv("BENCH_SHAPES")) {
    std::string o = only;
    for (size_t a = 0; a <= o.size();) {
      size_t b = o.find(',', a);
      if (b == std::string::npos) b = o.size();
      if (b > a) g_only.push_back(o.substr(a, b - a));
      a = b + 1;
    }
  }
  std::printf("simd=%s threads=%d\n", cpu_simd_level(), cpu_thread_count());
  if (mode == "nan") {  // the NaN/Inf checks alone, every ISA
    const cpu::Kernels* isas[] = {cpu::kernels_scalar(), cpu::kernels_sse2(), cpu::kernels_avx2(), cpu::kernels_avx512(), cpu::kernels_neon()};
    for (const cpu::Kernels* k : isas) {
      if (!k) continue;
      const int before = g_fail, checks0 = g_checks;
      cpu::force_kernels(k);
      check_nan();
      std::printf("nan check isa=%s: %d/%d passed\n", k->name, (g_checks - checks0) - (g_fail - before), g_checks - checks0);
    }
    cpu::force_kernels(nullptr);
    return g_fail ? 1 : 0;
  }
  if (mode == "check" || mode == "all") {
    const cpu::Kernels* isas[] = {cpu::kernels_scalar(), cpu::kernels_sse2(), cpu::kernels_avx2(), cpu::kernels_avx512(), cpu::kernels_neon()};
    for (const cpu::Kernels* k : isas) {
      if (!k) continue;
      const int before = g_fail, checks0 = g_checks;
      cpu::force_kernels(k);
      check_all();
      check_nan();
      check_row_pooling();
      check_row_scale();
      std::printf("check isa=%s: %d/%d passed\n", k->name, (g_checks - checks0) - (g_fail - before), g_checks - checks0);
    }
    cpu::force_kernels(nullptr);
    stress_concurrent();
    check_solo();
    std::printf("worst max|y-ref|/max|ref|: se %.2e  eca %.2e  cbam %.2e;  worst |s-ref| (scale_out): se %.2e  eca %.2e\n",
                g_worst_rel[0], g_worst_rel[1], g_worst_rel[2], g_worst_s[0], g_worst_s[1]);
    std::printf("validation: %d failures out of %d checks\n", g_fail, g_checks);
  }
  if (mode == "bench" || mode == "all") bench_all();
  return g_fail ? 1 : 0;
}
