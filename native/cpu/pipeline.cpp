// The pool -> excite -> scale pipeline that SE and ECA share (pipeline.h), and the batched FC
// of the excitations.
#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "common.h"
#include "pipeline.h"
#include "pool_units.h"
#include "scratch.h"
#include "thread_pool.h"

namespace sqex {
namespace cpu {
namespace {

// Below this many bytes a phase runs on one thread: a wake-up costs more than it saves.
constexpr int64_t kBytesPerTask = 96 << 10;
// Excitation FCs below this many multiply-adds run on the calling thread. Measured crossover
// (NOTES-cpu.md item 22): at 1 << 17 the 65K-MAC FCs of 1x1024x14x14 ran on one thread while the
// spinning worker waited (20.8 -> 17.7 us split); below ~8K MACs a split gains nothing.
constexpr int64_t kParallelFcMacs = 1 << 13;

// Excitation weights from which a tiny batch, or a lone sample, runs as a block (its FCs read the
// weights once for all its samples and split their rows across the threads) rather than as whole
// samples, which read them once each on one thread (NOTES-cpu.md items 63, 81).
constexpr int64_t kBlockWeightBytes = int64_t(1) << 20;

// Tasks per parallel phase: up to kTasksPerThread per thread so a descheduled thread's share
// can be taken over (each thread's home range stays contiguous and identical across phases).
constexpr int kTasksPerThread = 4;
// An FC task covers at least this many output rows (a row costs k multiply-adds).
constexpr int64_t kMinFcRowsPerTask = 8;

int tasks_for(int64_t bytes, int64_t rows, int threads) {
  // Below 2 x kBytesPerTask one task (the wake-up costs more than it saves); above, the full
  // kTasksPerThread per thread as long as a task keeps a quarter of kBytesPerTask.
  int64_t t = bytes / kBytesPerTask < 2
                  ? 1
                  : std::min<int64_t>(int64_t(threads) * kTasksPerThread, bytes / (kBytesPerTask / kTasksPerThread));
  return int(std::max<int64_t>(1, std::min(t, rows)));
}

}  // namespace

int64_t g_stream_min_bytes = int64_t(16) << 20;

void fc_rows(const float* w, const float* b, int64_t rows, int64_t k, const double* x, int64_t nb, double* y,
             void (*post)(void* ctx, double* y, int64_t ldy, int64_t nb, int64_t r0, int64_t r1), void* post_ctx) {
  const Kernels& kn = kernels();
  const int threads = pool_size();
  const int64_t macs = rows * k * nb;
  // kTasksPerThread tasks per thread (rows stay contiguous per participant, so each thread reads
  // the same weight rows as before), so a thread that is descheduled mid-call (another process
  // on its core) holds back at most one small task while the others steal the rest.
  const int tasks = macs < kParallelFcMacs ? 1 : int(std::min<int64_t>(int64_t(threads) * kTasksPerThread, std::max<int64_t>(1, rows / kMinFcRowsPerTask)));
  parallel_for(tasks, [&](int64_t i) {
    int64_t r0, r1;
    split_range(rows, tasks, i, &r0, &r1);
    kn.fc(w, b, k, x, k, nb, y, rows, r0, r1);
    if (post) post(post_ctx, y, rows, nb, r0, r1);
  });
}

namespace {

// The pipeline's scratch (scratch.h): the means z [rows, C], the gates s, NHWC's partial sums.
struct PipelineScratch {
  Buffer<double> z, partial;
  Buffer<float> s;
  int64_t bytes() const { return z.bytes() + partial.bytes() + s.bytes(); }
};

// One sample end to end on the calling thread.
void run_sample(const OpParams& p, const Tensors& t, ExciteFn excite, void* ctx, int slot, int64_t n, double* z,
                double* chunk_sum, float* s, bool stream) {
  const Kernels& kn = kernels();
  const int64_t cc = p.shape.c, hw = p.shape.hw(), sample = cc * hw;
  const bool relu = p.out_act == OutAct::ReLU;
  const float* xs = static_cast<const float*>(t.x) + n * sample;
  const float* rs = t.residual ? static_cast<const float*>(t.residual) + n * sample : nullptr;
  float* ys = static_cast<float*>(t.y) + n * sample;
  const double inv_hw = hw > 0 ? 1.0 / double(hw) : 0.0;
  if (p.layout == Layout::NCHW) {
    for (int64_t c = 0; c < cc; ++c) z[c] = kn.sum(xs + c * hw, hw) * inv_hw;
  } else {
    // In the chunks of pool_chunks, as the split path sums them (the same bits).
    const int64_t chunks = pool_chunks(hw, cc);
    const int64_t sample_bytes = sample * int64_t(sizeof(float));
    std::fill(z, z + cc, 0.0);
    if (chunks == 1) {
      kn.accum_rows(xs, hw, cc, cc, z, sample_bytes);
    } else {
      for (int64_t k = 0; k < chunks; ++k) {
        int64_t r0, r1;
        split_range(hw, chunks, k, &r0, &r1);
        std::fill(chunk_sum, chunk_sum + cc, 0.0);
        kn.accum_rows(xs + r0 * cc, r1 - r0, cc, cc, chunk_sum, sample_bytes);
        for (int64_t c = 0; c < cc; ++c) z[c] += chunk_sum[c];
      }
    }
    for (int64_t c = 0; c < cc; ++c) z[c] *= inv_hw;
  }
  excite(ctx, slot, z, 1, s);
  if (t.scale_out) std::memcpy(t.scale_out + n * cc, s, size_t(cc) * sizeof(float));
  if (p.layout == Layout::NCHW) {
    kn.scale_planes(xs, s, rs, ys, cc, hw, relu, stream);
  } else {
    kn.scale_rows(xs, s, rs, ys, hw, cc, relu, stream);
  }
}

}  // namespace

Status pool_excite_scale(const OpParams& p, const Tensors& t, ExciteFn excite, ExcitePrepareFn prepare, void* ctx,
                         int threads, int64_t weight_bytes, const SplitExcite* split) {
  const Kernels& kn = kernels();
  const int64_t n_total = p.shape.n, cc = p.shape.c, hw = p.shape.hw();
  const int64_t sample = cc * hw;
  const bool nhwc = p.layout == Layout::NHWC;
  const bool relu = p.out_act == OutAct::ReLU;
  const float* x = static_cast<const float*>(t.x);
  const float* res = static_cast<const float*>(t.residual);
  float* y = static_cast<float*>(t.y);
  if (n_total == 0) return Status::Ok();
  threads = std::max(1, threads);
  const int64_t sample_bytes = sample * int64_t(sizeof(float));
  const bool stream = n_total * sample_bytes >= g_stream_min_bytes;

  // Samples handed whole to threads: a multiple of the thread count, or all of them when the
  // batch is too small to be worth a split.
  // When the excitation weights outweigh a sample (SE-ResNet's 2048x7x7 stage: 2 MB of FC
  // weights against 400 KB of activations), batch samples instead so the FCs read them once
  // per block, their rows split across threads.
  const bool weight_bound = weight_bytes > sample_bytes && n_total > 1;
  int64_t whole = n_total >= threads && !weight_bound ? n_total / threads * threads : 0;
  // Tiny batches are not worth a block's phases: whole samples. Not when the weights are large as
  // well: whole samples each read all of them, one sample a pass (SE 8x4096x1x1, hidden 256: 8
  // passes over 8 MB, 2.4-2.9 ms, against 1.1-1.4 ms for 8x4096x2x2, which has 4x the
  // activations); a block reads them once for all its samples (0.9-1.5 ms). Below
  // kBlockWeightBytes the per-sample passes cost no more than a block's extra phases (8x512x1x1,
  // 128 KB of weights: 80-101 us whole, 109-136 us as a block; 8x1024x1x1, 512 KB: even).
  // NOTES-cpu.md item 63.
  // A lone sample with such weights too (SE 1x2048x4x4: 2 MB of weights, 128 KB of activations):
  // as a block its FCs split across the threads, where a whole sample ran them on one (98 us
  // against 1x2048x7x7's 63, which is not tiny: a user's trial, NOTES-cpu.md item 81).
  const bool tiny = n_total * sample_bytes < int64_t(threads) * kBytesPerTask;
  const bool heavy_weights = weight_bytes > sample_bytes && weight_bytes >= kBlockWeightBytes;
  if (tiny && !heavy_weights) whole = n_total;
  const int64_t rest = n_total - whole;
  int64_t nb_max = rest > 0 ? samples_per_block(rest, sample_bytes, threads) : 1;
  if (weight_bound) nb_max = std::min<int64_t>(rest, std::max<int64_t>(nb_max, 16));
  // Bound the per-block scratch (NHWC keeps partial sums of nb * chunks * C doubles; SE's
  // excitation nb * hidden).
  nb_max = bound_block_samples(nb_max, cc, p.hidden);
  // Whole-sample tasks use one slot per participant, and a parallel_for of `whole` tasks has at
  // most that many participants (a pool of 256 threads once sized 256 slots for one sample).
  const int slot_threads = whole > 0 ? int(std::min<int64_t>(threads, whole)) : 1;
  if (prepare) {
    Status st = prepare(ctx, nb_max, slot_threads);
    if (!st.ok()) return st;
  }

  // NHWC: one row of C partial sums per (sample, chunk) of a block; whole-sample tasks one per slot.
  // Every element is written before it is read (the pooling fills z and the partial sums, the
  // excitation every gate), so the last call's buffers serve as they are.
  const int64_t chunks = nhwc ? pool_chunks(hw, cc) : 1;
  ScratchLease<PipelineScratch> scratch;
  if (!scratch) return Status::Error(StatusCode::OutOfMemory, "the CPU scratch buffers");
  try {
    scratch->z.resize(std::max<int64_t>(nb_max, slot_threads) * cc);
    scratch->s.resize(std::max<int64_t>(nb_max, slot_threads) * cc);
    if (nhwc) scratch->partial.resize((rest > 0 ? std::max<int64_t>(nb_max * chunks, slot_threads) : slot_threads) * cc);
  } catch (const std::bad_alloc&) {
    return Status::Error(StatusCode::OutOfMemory, "the CPU scratch buffers");
  }
  const Buffer<double>& z = scratch->z;
  const Buffer<double>& partial = scratch->partial;
  const Buffer<float>& s = scratch->s;

  if (whole > 0) {
    // One task per sample; slots per participating thread.
    parallel_for(
        whole,
        [&](int64_t n) {
          const int slot = participant_index();
          run_sample(p, t, excite, ctx, slot, n, z.data() + slot * cc, nhwc ? partial.data() + slot * cc : nullptr,
                     s.data() + slot * cc, stream);
        },
        slot_threads);
  }

  const double inv_hw = hw > 0 ? 1.0 / double(hw) : 0.0;
  for (int64_t n0 = whole; n0 < n_total; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, n_total - n0);
    const float* xb = x + n0 * sample;
    const float* rb = res ? res + n0 * sample : nullptr;
    float* yb = y + n0 * sample;
    const int64_t rows = nhwc ? nb * hw : nb * cc;
    const int tasks = tasks_for(nb * sample_bytes, rows, threads);

    // Pool.
    if (!nhwc) {
      parallel_for(tasks, [&](int64_t i) {
        int64_t r0, r1;
        split_range(rows, tasks, i, &r0, &r1);
        for (int64_t r = r0; r < r1; ++r) z[size_t(r)] = kn.sum(xb + r * hw, hw) * inv_hw;
      }, threads);
    } else {
      // Units of (sample, chunk, channel block): pool_units.h.
      const PoolUnits pu(nb, hw, cc, tasks_for(nb * sample_bytes, nb * hw, threads), threads);
      parallel_for(pu.tasks, [&](int64_t i) {
        int64_t u0, u1, span;
        pu.task(i, sample_bytes, &u0, &u1, &span);
        for (int64_t u = u0; u < u1; ++u) {
          const PoolUnits::Unit a = pu.at(u);
          double* part = partial.data() + a.row * cc;
          std::fill(part + a.c0, part + a.c1, 0.0);
          kn.accum_rows(xb + (a.n * hw + a.r0) * cc + a.c0, a.r1 - a.r0, a.c1 - a.c0, cc, part + a.c0, span);
        }
      }, threads);
      // z = the chunks' sums, added in chunk order.
      for (int64_t n = 0; n < nb; ++n) {
        double* zn = z.data() + n * cc;
        std::fill(zn, zn + cc, 0.0);
        for (int64_t k = 0; k < chunks; ++k) {
          const double* part = partial.data() + (n * chunks + k) * cc;
          for (int64_t c = 0; c < cc; ++c) zn[c] += part[c];
        }
        for (int64_t c = 0; c < cc; ++c) zn[c] *= inv_hw;
      }
    }

    // One NCHW sample with a split excitation: after the head, each scale task first computes the
    // gates of its rows, which are channels here (one parallel phase fewer). Not for blocks of
    // several samples: the same fusion over channel ranges of all of a block's samples ran 4%
    // slower on 8x2048x7x7 than the separate phases (NOTES-cpu.md item 53).
    const bool gates_in_scale = !nhwc && split && nb == 1;
    if (gates_in_scale) {
      if (split->head) split->head(ctx, z.data(), nb);
    } else {
      excite(ctx, 0, z.data(), nb, s.data());
      if (t.scale_out) std::memcpy(t.scale_out + n0 * cc, s.data(), size_t(nb * cc) * sizeof(float));
    }

    // Scale, with the pooling's partition; with the gates in it, at least enough tasks to split
    // their FC rows over the threads (a small map under a wide FC, SE 1x2048x4x4: one pooling task,
    // and the FC's 262K multiply-adds would run on one thread): up to kTasksPerThread a thread, as
    // the other phases, at least kMinFcRowsPerTask rows and kParallelFcMacs multiply-adds a task.
    int scale_tasks = tasks;
    if (gates_in_scale) {
      const int64_t tail_macs = cc * (p.two_fc ? p.hidden : cc);
      if (tail_macs >= kParallelFcMacs) {
        const int64_t fc_tasks = std::min<int64_t>({int64_t(threads) * kTasksPerThread, cc / kMinFcRowsPerTask, tail_macs / kParallelFcMacs});
        scale_tasks = int(std::max<int64_t>(scale_tasks, fc_tasks));
      }
    }
    if (!nhwc) {
      parallel_for(scale_tasks, [&](int64_t i) {
        int64_t r0, r1;
        split_range(rows, scale_tasks, i, &r0, &r1);
        if (gates_in_scale) {
          split->tail(ctx, z.data(), nb, r0, r1, s.data());
          if (t.scale_out) std::memcpy(t.scale_out + n0 * cc + r0, s.data() + r0, size_t(r1 - r0) * sizeof(float));
        }
        kn.scale_planes(xb + r0 * hw, s.data() + r0, rb ? rb + r0 * hw : nullptr, yb + r0 * hw, r1 - r0, hw, relu, stream);
      }, threads);
    } else {
      parallel_for(tasks, [&](int64_t i) {
        int64_t r0, r1;
        split_range(rows, tasks, i, &r0, &r1);
        for (int64_t r = r0; r < r1;) {
          const int64_t n = r / hw, end = std::min(r1, (n + 1) * hw);
          kn.scale_rows(xb + r * cc, s.data() + n * cc, rb ? rb + r * cc : nullptr, yb + r * cc, end - r, cc, relu, stream);
          r = end;
        }
      }, threads);
    }
  }
  return Status::Ok();
}

}  // namespace cpu
}  // namespace sqex
