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

int cpu_thread_count() { return cpu::pool_size(); }
void cpu_set_thread_count(int n) { cpu::set_pool_size(n); }
const char* cpu_simd_level() { return cpu::kernels().name; }

}  // namespace sqex
