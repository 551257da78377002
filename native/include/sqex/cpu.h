// CPU backend: fp32 only, NCHW and NHWC. One implementation file per op in native/cpu/.
#pragma once
#include <cstdint>

#include "sqex/params.h"

namespace sqex {

// Each runs on the calling thread and spreads the work over the shared pool
// (native/cpu/thread_pool.h), returning when every output is written.
Status se_forward_cpu(const OpParams& p, const Weights& w, const Tensors& t);
Status eca_forward_cpu(const OpParams& p, const Weights& w, const Tensors& t);
Status cbam_forward_cpu(const OpParams& p, const Weights& w, const Tensors& t);

// Dispatches on p.op.
Status forward_cpu(const OpParams& p, const Weights& w, const Tensors& t);

// What forward_cpu(p, ..) costs, as bytes of memory traffic: the x-sized passes its kernels make
// (reads and writes), the weights read once, scratch the kernels fill, and each multiply-add
// counted as the bytes of traffic that take as long as it does in the loop that runs it (2 in
// the FCs, 8 in CBAM's spatial conv, 50 in ECA's scalar conv; native/cpu/dispatch.cpp). A model,
// not a timing: the binding weighs it against an async call's staging copies
// (native/binding/host_staging.h).
double cpu_forward_cost_bytes(const OpParams& p, bool has_residual);

// Bytes this process can still allocate and touch before swapping or the OOM killer (the least of
// MemAvailable and its memory cgroups' limits less their usage; native/cpu/system_limits.h), or
// -1 where unknown. For the binding's async staging, which must refuse before overcommit lets a
// queue of calls take more than that.
int64_t host_available_memory_bytes();

// Number of worker threads the pool uses (including the caller): the count set (0 = one per CPU
// the process may run on: the affinity mask and a cgroup CPU quota count; thread_pool.cpp
// available_cpus), or fewer once the system refused to start some.
int cpu_thread_count();
void cpu_set_thread_count(int n);
// One per CPU the process may run on, read now (~20 us): what cpu_thread_count() is without
// cpu_set_thread_count (the pool reads it when it first starts and at cpu_set_thread_count(0)).
int cpu_default_thread_count();
// How long the pool's workers spin after a job before they sleep, in microseconds (default 50;
// clamped to [0, 1e6]): longer keeps them awake across the caller's other work between ops, at
// the cost of a core held spinning meanwhile (NOTES-cpu.md item 75).
int64_t cpu_worker_spin_us();
void cpu_set_worker_spin_us(int64_t us);
// The SIMD level the kernels were dispatched to, for info(): "avx512", "avx2", "sse2", "neon",
// "scalar".
const char* cpu_simd_level();

}  // namespace sqex
