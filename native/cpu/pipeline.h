// The pool -> excite -> scale pipeline that SE and ECA share, and the batched FC that the SE and
// CBAM excitations run (pipeline.cpp).
#pragma once
#include <cstdint>

#include "sqex/params.h"

namespace sqex {
namespace cpu {

// Outputs at least this large are written with streaming stores (default 16 MB, where they
// measured 10-15% faster; the dev harness changes it to compare).
extern int64_t g_stream_min_bytes;

// The SE/ECA pipeline: pool x over H*W into z [nb, C] (double), excite fills the
// gates s [nb, C], then y = x * s (+ residual) (relu). Writes t.scale_out when non-null.
// Whole samples go to threads while there are at least as many samples left as threads (no
// barriers, each sample re-read from the cache of the core that pooled it); the remaining
// samples are split over channels (NCHW) or pixels (NHWC) with the same partition for the
// pooling and the scaling. excite(ctx, slot, z, nb, s) may run concurrently with distinct
// slots in [0, threads), slot 0 with up to N samples, the others one sample at a time, and
// may call parallel_for (it runs inline inside a task). threads: pool_size() read once by the
// caller (the pool may be resized concurrently; task indices never exceed it).
typedef void (*ExciteFn)(void* ctx, int slot, const double* z, int64_t nb, float* s);
// Sizes the excitation's own scratch before any work: slot 0 takes up to block_samples samples,
// slots 1 .. threads - 1 one each. May be null.
typedef Status (*ExcitePrepareFn)(void* ctx, int64_t block_samples, int threads);
// An excitation in two parts, so that the NCHW split path computes a channel range's gates in
// the task that scales those channels (one parallel phase fewer: NOTES-cpu.md item 53).
// head(ctx, z, nb): what needs every channel's mean (SE: FC1 and its activation); may call
// parallel_for; may be null. tail(ctx, z, nb, c0, c1, s): the gates s[n * C + c], c in [c0, c1),
// of the nb samples; runs concurrently on disjoint ranges. Together they compute, bit for bit,
// what excite(ctx, 0, z, nb, s) does.
struct SplitExcite {
  void (*head)(void* ctx, const double* z, int64_t nb);
  void (*tail)(void* ctx, const double* z, int64_t nb, int64_t c0, int64_t c1, float* s);
};
// weight_bytes: bytes of weights one excitation reads; when they outweigh a sample, samples
// are batched so the weights are read once per block rather than once per sample.
// split: the same excitation in two parts, or null.
Status pool_excite_scale(const OpParams& p, const Tensors& t, ExciteFn excite, ExcitePrepareFn prepare, void* ctx,
                         int threads, int64_t weight_bytes, const SplitExcite* split = nullptr);

// Batched fully connected layer over the pool: Y[n, r] = W[r, :] . X[n, :] + b[r], then
// post(row value) applied by the caller's loop over its rows. Splits rows across the pool
// when the product is big enough to pay for it.
void fc_rows(const float* w, const float* b, int64_t rows, int64_t k, const double* x, int64_t nb,
             double* y, void (*post)(void* ctx, double* y, int64_t ldy, int64_t nb, int64_t r0, int64_t r1),
             void* post_ctx);

}  // namespace cpu
}  // namespace sqex
