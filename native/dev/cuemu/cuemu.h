// cuemu: runs the CUDA kernels of native/cuda on the CPU, compiled by g++, so a kernel variant
// can be checked against the harness's float64 reference (and under ASan) on a machine with no
// GPU, before it costs device minutes. Force-included (-include) ahead of every source of an
// emulator build (native/dev/cuemu/build.sh); nothing in the shipped addon sees it.
//
// Model: a launch runs each block on its own OS thread (so the persistent kernels' inter-block
// spin barriers make progress and see real concurrency), and the block's threads as fibers on
// that OS thread, switched only at __syncthreads*, warp shuffles and spin-wait polls. So
// `__shared__` is `static thread_local` (one copy per block), dynamic shared memory is a
// malloc'd buffer of exactly the launch's size (ASan sees overruns), and a fiber order option
// (CUEMU_ORDER=forward|reverse|shuffle) exposes code that reads shared memory another thread
// wrote without a barrier between: run twice in different orders and compare the outputs.
// Not modelled: memory-model weakness beyond x86's, L1 incoherence (__ldcg vs plain loads),
// timing, the sm_80+ asm paths (__CUDA_ARCH__ is undefined, so the sm_75 fallbacks compile).
#pragma once
#define SQEX_CUEMU 1

// Before cuda_runtime.h: host_defines.h keeps a __shared__ that is already defined.
#define __shared__ static thread_local

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#if CUDART_VERSION < 12000
#error "cuemu needs the CUDA 12 or newer headers (native/dev/cuemu/build.sh looks for them)"
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <functional>
#include <vector>

#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif

namespace cuemu {

struct ThreadCtx {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};
// The running fiber's indices (valid only inside a kernel).
const ThreadCtx& ctx();
// Block-wide barrier; op 0: plain, 1: or, 2: and, 3: count. Returns the reduction.
int block_barrier(int op, int pred);
// Warp rendezvous: every live lane of the warp publishes `bytes` of `in`, then reads lane
// `src`'s value into out.
void warp_exchange(const void* in, void* out, size_t bytes, int src);
// A spin-wait poll: lets the block's other fibers and the other blocks' threads run.
void spin_yield();
unsigned char* dynamic_smem();
long long clock_ns();
[[noreturn]] void trap(const char* where);
// Held by every stream-ordered operation (launch, async copy, memset, malloc, free, graph launch)
// while it runs: the emulator's work runs at once, on the calling thread, so two threads issuing
// to one stream would otherwise run their operations interleaved, which no GPU stream does.
// Recursive: a graph launch runs recorded launches.
std::recursive_mutex& stream_mutex();
// A stream: work runs at once, except while the stream is being captured into a graph, when it
// is recorded (record() returns true) and runs at each launch of the graph.
struct Stream {
  bool capturing = false;
  std::vector<std::function<void()>> recorded;
};
// The Stream behind a handle: nullptr for the default streams (0, cudaStreamLegacy,
// cudaStreamPerThread); traps on a handle cudaStreamCreate did not return (or since destroyed),
// where a GPU's behaviour is undefined.
Stream* stream_of(cudaStream_t s);
inline bool record(cudaStream_t s, std::function<void()> op) {
  Stream* st = stream_of(s);
  if (!st || !st->capturing) return false;
  st->recorded.push_back(std::move(op));
  return true;
}
// Runs `body` as grid x block threads with `smem` bytes of dynamic shared memory (synchronous:
// streams are ordered by construction).
// kern: the kernel's address, for the checks a GPU's launch makes (dynamic shared memory within
// the function's opt-in, a grid the device can hold at once: the persistent kernels deadlock
// otherwise, so the emulator traps instead of running every block at once regardless).
void launch(const void* kern, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
            std::function<void()> body);
// cudaFuncSetAttribute's record of a kernel's dynamic shared-memory opt-in.
void set_max_dynamic_smem(const void* kern, int bytes);

}  // namespace cuemu

#define threadIdx (::cuemu::ctx().thread_idx)
#define blockIdx (::cuemu::ctx().block_idx)
#define blockDim (::cuemu::ctx().block_dim)
#define gridDim (::cuemu::ctx().grid_dim)

inline void __syncthreads() { ::cuemu::block_barrier(0, 0); }
inline int __syncthreads_or(int p) { return ::cuemu::block_barrier(1, p); }
inline int __syncthreads_and(int p) { return ::cuemu::block_barrier(2, p); }
inline int __syncthreads_count(int p) { return ::cuemu::block_barrier(3, p); }
inline void __syncwarp(unsigned = 0xffffffffu) {
  int dummy = 0, out;
  ::cuemu::warp_exchange(&dummy, &out, sizeof dummy, static_cast<int>(threadIdx.x & 31));
}
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __trap() { ::cuemu::trap("__trap()"); }
inline long long clock64() { return ::cuemu::clock_ns(); }
inline void __nanosleep(unsigned) { ::cuemu::spin_yield(); }

// src: the lane to read, already resolved by the CUDA rules of each form (own lane where they
// say the caller gets its own value back).
template <typename T> inline T cuemu_shfl(T v, int src) {
  static_assert(sizeof(T) <= 16, "shuffle of a wide type");
  T out;
  ::cuemu::warp_exchange(&v, &out, sizeof(T), src & 31);
  return out;
}
inline int cuemu_lane() { return static_cast<int>(threadIdx.x & 31); }
// xor: a later segment gives the own value, an earlier one may be read (CUDA's guide)
template <typename T> inline T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
  const int lane = cuemu_lane(), src = lane ^ mask, end = (lane & ~(width - 1)) + width;
  return cuemu_shfl(v, src >= end ? lane : src);
}
template <typename T> inline T __shfl_down_sync(unsigned, T v, unsigned d, int width = 32) {
  const int lane = cuemu_lane(), src = lane + static_cast<int>(d), end = (lane & ~(width - 1)) + width;
  return cuemu_shfl(v, src >= end ? lane : src);
}
template <typename T> inline T __shfl_up_sync(unsigned, T v, unsigned d, int width = 32) {
  const int lane = cuemu_lane(), src = lane - static_cast<int>(d), seg = lane & ~(width - 1);
  return cuemu_shfl(v, src < seg ? lane : src);
}
template <typename T> inline T __shfl_sync(unsigned, T v, int src, int width = 32) {
  const int lane = cuemu_lane();
  return cuemu_shfl(v, (lane & ~(width - 1)) + (src & (width - 1)));
}

// Cache-hint loads and stores: plain accesses here.
template <typename T> inline T __ldg(const T* p) { return *p; }
template <typename T> inline T __ldcg(const T* p) { return *p; }
template <typename T> inline T __ldca(const T* p) { return *p; }
template <typename T> inline T __ldcs(const T* p) { return *p; }
template <typename T> inline T __ldlu(const T* p) { return *p; }
template <typename T> inline T __ldcv(const T* p) { return *p; }
template <typename T> inline void __stcg(T* p, T v) { *p = v; }
template <typename T> inline void __stcs(T* p, T v) { *p = v; }
template <typename T> inline void __stwb(T* p, T v) { *p = v; }
template <typename T> inline void __stwt(T* p, T v) { *p = v; }

template <typename T> inline T atomicAdd(T* p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
template <typename T> inline T atomicSub(T* p, T v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
template <typename T> inline T atomicExch(T* p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
template <typename T> inline T atomicOr(T* p, T v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
template <typename T> inline T atomicCAS(T* p, T cmp, T v) {
  __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
template <typename T> inline T atomicMax(T* p, T v) {
  T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
  while (old < v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
  }
  return old;
}

// Acquire load / release add used by the per-sample barrier (native/cuda/sample_barrier.cuh).
inline unsigned cuemu_ld_acquire_u32(const unsigned* p) {
  const unsigned v = __atomic_load_n(p, __ATOMIC_ACQUIRE);
  ::cuemu::spin_yield();  // the callers poll in a loop
  return v;
}
// __fadd_rn: an add that nothing fuses with the multiply before it (this build contracts a*b+c as
// nvcc does): the empty asm makes each operand an opaque, already rounded register value.
inline float cuemu_fadd_rn(float a, float b) {
#if defined(__x86_64__) || defined(__i386__)
  asm("" : "+x"(a));
  asm("" : "+x"(b));
  return a + b;
#else
  volatile float va = a, vb = b;
  return va + vb;
#endif
}
inline void cuemu_red_release_add_u32(unsigned* p, unsigned v) { __atomic_fetch_add(p, v, __ATOMIC_RELEASE); }

// Integer min/max as CUDA's device overloads (host C++ has only std::min/std::max).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
inline int __float_as_int(float f) { int v; std::memcpy(&v, &f, 4); return v; }
inline unsigned __float_as_uint(float f) { unsigned v; std::memcpy(&v, &f, 4); return v; }
inline float __uint_as_float(unsigned v) { float f; std::memcpy(&f, &v, 4); return f; }
inline float __fdividef(float a, float b) { return a / b; }
inline float __expf(float a) { return std::exp(a); }
// CUDA's global-namespace math (isfinite, isnan, ...) for device code.
using std::isfinite;
using std::isinf;
using std::isnan;
using std::signbit;
