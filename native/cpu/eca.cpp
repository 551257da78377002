// ECA forward on the CPU: the SE pipeline with a k-tap convolution over the pooled channels.
#include <algorithm>
#include <cmath>
#include <new>
#include <string>
#include <vector>

#include "common.h"
#include "pipeline.h"
#include "sqex/cpu.h"
#include "thread_pool.h"

namespace sqex {
namespace cpu {
namespace {

struct EcaCtx {
  const OpParams* p;
  const float* weight;
  const int* next_nf;  // [k + 1]: the first non-finite tap at or after j (k: none); null when every tap is finite
};

void eca_excite(void* vctx, int /*slot*/, const double* z, int64_t nb, float* s) {
  const EcaCtx& c = *static_cast<const EcaCtx*>(vctx);
  const int64_t cc = c.p->shape.c;
  const int k = c.p->eca_k, pad = (k - 1) / 2;
  // Zero padding is an operand, not a skipped tap: a NaN/Inf weight on it gives 0 * w = NaN, as
  // torch's conv1d (float64, and float32 at batch 1) does; see NOTES-cpu.md. A padding tap with a
  // finite weight adds ±0, which leaves v's bits as they are (v starts at +0 and a sum from +0 is
  // never -0), so only the taps on channels run: at most C per channel, where k may be up to
  // 2^20 - 1 (an attack: C 16384, k 1048575 took 13 s a sample, every tap but 32767 on padding).
  // A non-finite weight on the padding is added where the full loop would first meet one: v is
  // NaN from then on and keeps that NaN's bits (x86 addsd returns its first NaN operand), so
  // later padding taps change nothing. The weights are scanned once per call (eca_forward_cpu):
  // per sample, the scan cost k each (an attack: N 16384, C 1, k 2^20 - 1 took 17 s).
  const int* next_nf = c.next_nf;
  const bool finite_w = next_nf == nullptr;
  for (int64_t n = 0; n < nb; ++n) {
    const double* zn = z + n * cc;
    for (int64_t ch = 0; ch < cc; ++ch) {
      const int64_t j0 = std::max<int64_t>(0, pad - ch), j1 = std::min<int64_t>(k, cc - ch + pad);
      double v = 0;
      if (!finite_w && next_nf[0] < j0) v += double(c.weight[next_nf[0]]) * 0.0;
      for (int64_t j = j0; j < j1; ++j) v += double(c.weight[j]) * zn[ch + j - pad];
      if (!finite_w && next_nf[j1] < k) v += double(c.weight[next_nf[j1]]) * 0.0;
      // (a NaN v's bits follow the NHWC pooling's split; gate_apply writes the one NaN whatever they are)
      s[n * cc + ch] = float(gate_apply(c.p->gate, v));
    }
  }
}

}  // namespace
}  // namespace cpu

Status eca_forward_cpu(const OpParams& p, const Weights& w, const Tensors& t) {
  Status st = cpu::check_common(p, t);
  if (!st.ok()) return st;
  if (p.eca_k < 1 || p.eca_k % 2 == 0) return Status::Error(StatusCode::InvalidArgument, "ECA kernel size must be odd and >= 1");
  if (w.aux == nullptr) return Status::Error(StatusCode::InvalidArgument, "ECA needs its conv weight");
  const int k = p.eca_k;
  std::vector<int> next_nf;
  if (!std::all_of(w.aux, w.aux + k, [](float v) { return std::isfinite(v); })) {
    try {
      next_nf.assign(size_t(k) + 1, k);
    } catch (const std::bad_alloc&) {
      return Status::Error(StatusCode::OutOfMemory, "out of host memory for the ECA taps' index (" + std::to_string(k + 1) + " ints)");
    }
    for (int j = k - 1; j >= 0; --j) next_nf[size_t(j)] = std::isfinite(w.aux[j]) ? next_nf[size_t(j) + 1] : j;
  }
  cpu::EcaCtx ctx{&p, w.aux, next_nf.empty() ? nullptr : next_nf.data()};
  return cpu::pool_excite_scale(p, t, cpu::eca_excite, nullptr, &ctx, cpu::pool_size(), 0);
}

}  // namespace sqex
