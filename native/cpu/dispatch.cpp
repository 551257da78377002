// forward_cpu, the pool size knobs and the SIMD level, as declared in sqex/cpu.h.
#include "common.h"
#include "sqex/cpu.h"
#include "thread_pool.h"

namespace sqex {

Status forward_cpu(const OpParams& p, const Weights& w, const Tensors& t) {
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

double cpu_forward_cost_bytes(const OpParams& p, bool has_residual) {
  const double n = static_cast<double>(p.shape.n), c = static_cast<double>(p.shape.c);
  const double hw = static_cast<double>(p.shape.h) * static_cast<double>(p.shape.w);
  const double x_bytes = n * c * hw * sizeof(float);
  const double hidden = static_cast<double>(p.hidden);
  double passes = 0, weight_floats = 0, macs = 0;
  switch (p.op) {
    case Op::SE:  // pool reads x; scale reads x (and residual), writes y
      passes = 3 + (has_residual ? 1 : 0);
      weight_floats = p.two_fc ? 2 * c * hidden + hidden + c : c * c + c;
      macs = n * (p.two_fc ? 2 * c * hidden : c * c);
      break;
    case Op::ECA:  // as SE, with a k-tap conv over the channel means
      passes = 3;
      weight_floats = p.eca_k;
      macs = n * c * p.eca_k;
      break;
    case Op::CBAM: {  // channel stats read x; the gated maps read x; the output reads x, writes y
      passes = 4;
      const double k2 = static_cast<double>(p.spatial_k) * p.spatial_k;
      weight_floats = 2 * c * hidden + hidden + c + 2 * k2;
      macs = n * 2 * (2 * c * hidden) + n * hw * 2 * k2;  // the MLP on avg and max, the 2-map conv
      break;
    }
  }
  constexpr double kBytesPerMac = 2;
  return passes * x_bytes + weight_floats * sizeof(float) + macs * kBytesPerMac;
}

int cpu_thread_count() { return cpu::pool_size(); }
void cpu_set_thread_count(int n) { cpu::set_pool_size(n); }
const char* cpu_simd_level() { return cpu::kernels().name; }

}  // namespace sqex
