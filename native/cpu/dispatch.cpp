// forward_cpu, the pool size knobs and the SIMD level, as declared in sqex/cpu.h.
#include "common.h"
#include "fp_env.h"
#include "sqex/cpu.h"
#include "system_limits.h"
#include "thread_pool.h"

namespace sqex {

Status forward_cpu(const OpParams& p, const Weights& w, const Tensors& t) {
  // the caller's share under the default floating-point state, as the workers' (fp_env.h)
  cpu::DefaultFpEnv fp_env;
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
  // Bytes of traffic per multiply-add, by the loop that runs it, at the rates measured on the dev
  // VM against its ~100 GB/s of op traffic (2 threads): the FCs (fc_rows, vectorised fp64, 30-60
  // G/s) 2; CBAM's spatial conv (vectorised fp64 over padded tiles, 10-50 G/s; the direct loop
  // 10-26 G/s) 8; ECA's conv over the channel means (a scalar fp64 loop, 2-4 G/s) 50.
  constexpr double kFcMac = 2, kConvMac = 8, kEcaMac = 50;
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
const char* cpu_simd_level() { return cpu::kernels().name; }

}  // namespace sqex
