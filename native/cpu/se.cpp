// SE forward on the CPU: its excitation (one FC, or two with the activation between) and gate
// over the pool -> excite -> scale pipeline (pipeline.cpp).
#include <new>

#include "common.h"
#include "pipeline.h"
#include "scratch.h"
#include "sqex/cpu.h"
#include "thread_pool.h"

namespace sqex {
namespace cpu {
namespace {

// The excitation's scratch (scratch.h): FC1's outputs h and FC2's o, every element written by its
// FC before it is read.
struct SeScratch {
  Buffer<double> h, o;
  int64_t bytes() const { return h.bytes() + o.bytes(); }
};

struct SeCtx {
  SeCtx(const OpParams* p_, const Weights* w_) : p(p_), w(w_) {}
  const OpParams* p;
  const Weights* w;
  int64_t n = 0;  // rows of slot 0; the other slots hold one sample
  ScratchLease<SeScratch> sc;
};

// Slot 0: a block of up to block_samples samples; slots 1 .. threads - 1: one sample each.
Status se_prepare(void* vctx, int64_t block_samples, int threads) {
  SeCtx& c = *static_cast<SeCtx*>(vctx);
  c.n = block_samples;
  if (!c.sc) return Status::Error(StatusCode::OutOfMemory, "the CPU scratch buffers");
  try {
    const int64_t rows = block_samples + threads - 1;
    c.sc->h.resize(rows * (c.p->two_fc ? c.p->hidden : 0));
    c.sc->o.resize(rows * c.p->shape.c);
  } catch (const std::bad_alloc&) {
    return Status::Error(StatusCode::OutOfMemory, "the CPU scratch buffers");
  }
  return Status::Ok();
}

struct SePost {
  const OpParams* p;
  float* s;
};

void post_act(void* ctx, double* y, int64_t ldy, int64_t nb, int64_t r0, int64_t r1) {
  const Act a = static_cast<SePost*>(ctx)->p->act;
  for (int64_t n = 0; n < nb; ++n)
    for (int64_t r = r0; r < r1; ++r) y[n * ldy + r] = act_apply(a, y[n * ldy + r]);
}

void post_gate(void* ctx, double* y, int64_t ldy, int64_t nb, int64_t r0, int64_t r1) {
  SePost& c = *static_cast<SePost*>(ctx);
  const Kernels& kn = kernels();
  for (int64_t n = 0; n < nb; ++n) kn.gate_rows(c.p->gate, y + n * ldy + r0, c.s + n * ldy + r0, r1 - r0);
}

void se_excite(void* vctx, int slot, const double* z, int64_t nb, float* s) {
  SeCtx& c = *static_cast<SeCtx*>(vctx);
  const int64_t cc = c.p->shape.c;
  const int64_t row0 = slot == 0 ? 0 : c.n + slot - 1;
  double* h = c.sc->h.data() + row0 * (c.p->two_fc ? c.p->hidden : 0);
  double* o = c.sc->o.data() + row0 * cc;
  SePost post{c.p, s};
  if (c.p->two_fc) {
    const int64_t hidden = c.p->hidden;
    fc_rows(c.w->w1, c.w->b1, hidden, cc, z, nb, h, post_act, &post);
    fc_rows(c.w->w2, c.w->b2, cc, hidden, h, nb, o, post_gate, &post);
  } else {
    fc_rows(c.w->w1, c.w->b1, cc, cc, z, nb, o, post_gate, &post);
  }
}

// se_excite for slot 0 in two parts (SplitExcite): FC1 and its activation over every channel's
// mean, then FC2's rows (or the single FC's) and the gate for a channel range.
void se_head(void* vctx, const double* z, int64_t nb) {
  SeCtx& c = *static_cast<SeCtx*>(vctx);
  if (!c.p->two_fc) return;
  SePost post{c.p, nullptr};
  fc_rows(c.w->w1, c.w->b1, c.p->hidden, c.p->shape.c, z, nb, c.sc->h.data(), post_act, &post);
}

void se_tail(void* vctx, const double* z, int64_t nb, int64_t c0, int64_t c1, float* s) {
  SeCtx& c = *static_cast<SeCtx*>(vctx);
  const Kernels& kn = kernels();
  const int64_t cc = c.p->shape.c;
  double* o = c.sc->o.data();
  if (c.p->two_fc) {
    kn.fc(c.w->w2, c.w->b2, c.p->hidden, c.sc->h.data(), c.p->hidden, nb, o, cc, c0, c1);
  } else {
    kn.fc(c.w->w1, c.w->b1, cc, z, cc, nb, o, cc, c0, c1);
  }
  for (int64_t n = 0; n < nb; ++n) kn.gate_rows(c.p->gate, o + n * cc + c0, s + n * cc + c0, c1 - c0);
}

}  // namespace
}  // namespace cpu

Status se_forward_cpu(const OpParams& p, const Weights& w, const Tensors& t) {
  Status st = cpu::check_common(p, t);
  if (!st.ok()) return st;
  if (w.w1 == nullptr) return Status::Error(StatusCode::InvalidArgument, "SE needs w1");
  if (p.two_fc) {
    if (w.w2 == nullptr || p.hidden < 1) return Status::Error(StatusCode::InvalidArgument, "SE two-FC needs w2 and hidden >= 1");
  } else if (p.hidden != 0 && p.hidden != p.shape.c) {
    return Status::Error(StatusCode::InvalidArgument, "single-FC SE needs hidden == C");
  }
  // Per-slot scratch (se_prepare, once the block size is known): one slot per thread for
  // whole-sample tasks, slot 0 for a block.
  const int threads = std::max(1, cpu::pool_size());
  cpu::SeCtx ctx(&p, &w);
  const int64_t weight_bytes = int64_t(sizeof(float)) * p.shape.c * (p.two_fc ? 2 * p.hidden : p.shape.c);
  const cpu::SplitExcite split{cpu::se_head, cpu::se_tail};
  return cpu::pool_excite_scale(p, t, cpu::se_excite, cpu::se_prepare, &ctx, threads, weight_bytes, &split);
}

}  // namespace sqex
