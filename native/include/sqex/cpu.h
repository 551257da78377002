// CPU backend: fp32 only, NCHW and NHWC. One implementation file per op in native/cpu/.
#pragma once
#include "sqex/params.h"

namespace sqex {

// Each runs on the calling thread and spreads the work over the shared pool
// (native/cpu/thread_pool.h), returning when every output is written.
Status se_forward_cpu(const OpParams& p, const Weights& w, const Tensors& t);
Status eca_forward_cpu(const OpParams& p, const Weights& w, const Tensors& t);
Status cbam_forward_cpu(const OpParams& p, const Weights& w, const Tensors& t);

// Dispatches on p.op.
Status forward_cpu(const OpParams& p, const Weights& w, const Tensors& t);

// Number of worker threads the pool uses (including the caller). 0 = hardware concurrency.
int cpu_thread_count();
void cpu_set_thread_count(int n);
// The SIMD level the kernels were dispatched to, for info(): "avx2", "sse2", "neon", "scalar".
const char* cpu_simd_level();

}  // namespace sqex
