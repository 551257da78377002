// forward_cpu, the pool size knobs and the SIMD level, as declared in sqex/cpu.h.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>

#include "common.h"
#include "fp_env.h"
#include "sqex/cpu.h"
#include "system_limits.h"
#include "thread_pool.h"

namespace sqex {

namespace {

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Status dispatch(const OpParams& p, const Weights& w, const Tensors& t) {
  switch (p.op) {
    case Op::SE:
      return se_forward_cpu(p, w, t);
    case Op::ECA:
      return eca_forward_cpu(p, w, t);
    case Op::CBAM:
      return cbam_forward_cpu(p, w, t);
  }
  return Status::Error(StatusCode::InvalidArgument, "unknown op");
}

// When the last CPU op of the process ended (steady clock, ns), and the gap under which the next
// one counts as back to back (twice the workers' spin).
std::atomic<int64_t> g_last_op_end_ns{0};
constexpr int64_t kBackToBackNs = 100000;

}  // namespace

namespace cpu {
// The crossover on the dev VM (2026-12-05, SE NCHW with the caller busy 500 us between calls):
// 1x1024x14x14 (cost 3.2 MB) 84-89 us woken against 66-67 alone; 1x2048x7x7 (4.3 MB) 94-96 woken
// against 107 alone.
double g_solo_max_cost_bytes = 4e6;
}  // namespace cpu

Status forward_cpu(const OpParams& p, const Weights& w, const Tensors& t) {
  // the caller's share under the default floating-point state, as the workers' (fp_env.h)
  cpu::DefaultFpEnv fp_env;
  // A small op that finds the pool's workers asleep runs on this thread alone: waking one cost
  // this thread a futex wake-up (~15 us on the dev VM) and it came ~40-60 us later, so SE
  // 1x240x28x28 took 60-65 us where one thread takes 38-40 (NOTES-cpu.md item 73). Not when the
  // last op ended under kBackToBackNs ago: calls back to back keep the workers spinning once
  // woken, and a loop that found them asleep once would otherwise never wake them.
  // The bound is for a pool of two; more threads gain more from waking, so it shrinks with them
  // (not measured past two CPUs).
  const int64_t start = steady_ns();
  const bool solo = start - g_last_op_end_ns.load(std::memory_order_relaxed) > kBackToBackNs &&
                    cpu::pool_workers_asleep() &&
                    cpu_forward_cost_bytes(p, t.residual != nullptr) * std::max(2, cpu::pool_size()) <
                        cpu::g_solo_max_cost_bytes * 2;
  Status st;
  {
    const cpu::SoloScope scope(solo);
    st = dispatch(p, w, t);
  }
  g_last_op_end_ns.store(steady_ns(), std::memory_order_relaxed);
  return st;
}

double cpu_forward_cost_bytes(const OpParams& p, bool has_residual) {
  // Bytes of traffic per multiply-add, by the loop that runs it, at the rates measured on the dev
  // VM against its ~100 GB/s of op traffic (2 threads): the FCs (fc_rows, vectorised fp64, 30-60
  // G/s) 2; CBAM's spatial conv (vectorised fp64 over padded tiles, 10-50 G/s; the direct loop
  // 10-26 G/s) 8; ECA's conv over the channel means (a scalar fp64 loop, 2-4 G/s) 50.
  constexpr double kFcMac = 2, kConvMac = 8, kEcaMac = 50;
  // Asked before the op has checked p (forward_cpu's solo rule, the binding's staging choice):
  // dimensions no op accepts, or CBAM kernel sizes it refuses, cost more than anything (and the
  // conv's tile counts below would overflow on them).
  constexpr int64_t kMaxDim = int64_t(1) << 40;
  const Shape4& sh = p.shape;
  if (sh.n < 0 || sh.c < 0 || sh.h < 0 || sh.w < 0 || sh.n > kMaxDim || sh.c > kMaxDim || sh.h > kMaxDim ||
      sh.w > kMaxDim || (p.op == Op::CBAM && (p.spatial_k < 1 || p.spatial_k > (1 << 20))))
    return HUGE_VAL;
  const double n = static_cast<double>(p.shape.n), c = static_cast<double>(p.shape.c);
  const double hw = static_cast<double>(p.shape.h) * static_cast<double>(p.shape.w);
  const double x_bytes = n * c * hw * sizeof(float);
  const double hidden = static_cast<double>(p.hidden);
  switch (p.op) {
    case Op::SE: {  // pool reads x; scale reads x (and residual), writes y
      const double passes = 3 + (has_residual ? 1 : 0);
      const double weights = p.two_fc ? 2 * c * hidden + hidden + c : c * c + c;
      const double macs = n * (p.two_fc ? 2 * c * hidden : c * c);
      return passes * x_bytes + weights * sizeof(float) + macs * kFcMac;
    }
    case Op::ECA:  // as SE, with a k-tap conv over the channel means
      return 3 * x_bytes + double(p.eca_k) * sizeof(float) + n * c * p.eca_k * kEcaMac;
    case Op::CBAM: {  // channel stats read x; the gated maps read x; the output reads x, writes y
      const cpu::ConvWork conv = cpu::cbam_spatial_work(p.shape.h, p.shape.w, p.spatial_k);
      const double weights = 2 * c * hidden + hidden + c + 2.0 * p.spatial_k * p.spatial_k;
      const double mlp_macs = n * 2 * (2 * c * hidden);  // the shared MLP on avg and max
      return 4 * x_bytes + weights * sizeof(float) + mlp_macs * kFcMac + n * (conv.macs * kConvMac + conv.fill_bytes);
    }
  }
  return 0;
}

int64_t host_available_memory_bytes() { return cpu::available_memory_bytes(); }
int cpu_thread_count() { return cpu::pool_size(); }
void cpu_set_thread_count(int n) { cpu::set_pool_size(n); }
int cpu_default_thread_count() { return cpu::default_pool_size(); }
int64_t cpu_worker_spin_us() { return cpu::worker_spin_us(); }
void cpu_set_worker_spin_us(int64_t us) { cpu::set_worker_spin_us(us); }
const char* cpu_simd_level() { return cpu::kernels().name; }

}  // namespace sqex
