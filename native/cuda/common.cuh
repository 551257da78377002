// Device helpers shared by the SE, ECA and CBAM kernels: storage-type conversion, 16-byte
// vector access, PyTorch's NaN rules, activation/gate functions, warp reductions, cp.async and
// SumAcc. Storage is float/half/bf16; pooled sums and FC dot products accumulate in fp64 (v7),
// the rest is fp32. The per-sample inter-block barrier is in sample_barrier.cuh, the block-wide
// row reductions in block_reduce.cuh; the host-side error macro is SQEX_CUDA_TRY in internal.h.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "sqex/params.h"

namespace sqex {
namespace cuda {

#ifndef SQEX_CUDA_THREADS
#define SQEX_CUDA_THREADS 256
#endif
// Threads per block of every fused kernel; kMinBlocks of them per SM cap registers at 64.
constexpr int kThreads = SQEX_CUDA_THREADS;
constexpr int kWarps = kThreads / 32;
constexpr int kMinBlocks = 2048 / 2 / kThreads;
constexpr int kHalo = 2048;    // CBAM: map rows around a conv, elements (passes: doubles) of shared memory
// Up to this k (ECA's k, CBAM's spatial k), the kernels run every conv tap as before, padding
// included: at most pad^2 <= 961 wasted FMAs an ECA sample, 2k^2 <= 7938 taps a CBAM output.
// Above it the WIDE instantiations (launch_dtype, launch.cuh) run only the taps on the data:
// ECA's k up to 2^20 - 1 visited all k taps of every channel (N*C*k FMAs), CBAM's k up to 4095
// up to 2k^2 taps of every output (NOTES-cuda.md, "Wide ECA / CBAM kernels on the GPU"). Separate
// instantiations so that the common kernels keep their code and register allocation (one kernel
// for both spilled up to 300 more bytes, ptxas -v sm_75).
constexpr int kAllTapsK = 63;

// Kernel launch and dynamic shared memory, spelled so that native/dev/cuemu (the kernels on
// the CPU, for checking without a GPU) can stand in for them; plain CUDA otherwise.
#if defined(SQEX_CUEMU)
#define SQEX_LAUNCH(kern, grid, block, smem, stream, ...)                              \
  ::cuemu::launch(reinterpret_cast<const void*>(kern), dim3(grid), dim3(block), smem, stream, \
                  [=] { kern(__VA_ARGS__); })
#define SQEX_DYNAMIC_SMEM(name) unsigned char* const name = ::cuemu::dynamic_smem()
#else
#define SQEX_LAUNCH(kern, grid, block, smem, stream, ...) kern<<<grid, block, smem, stream>>>(__VA_ARGS__)
#define SQEX_DYNAMIC_SMEM(name) extern __shared__ __align__(16) unsigned char name[]
#endif

// ---- programmatic dependent launch (sm_90) ----------------------------------------------
// The passes (two_pass.cuh) are 3-5 kernels in a row on one stream. Launched with programmatic
// stream serialization (launch_common.cuh, launch_dependent), a kernel's blocks may be scheduled
// while the kernel before it still runs; passes_begin, the first statement of every passes kernel,
// waits there until that kernel has completed and its writes are visible (griddepcontrol.wait:
// a no-op in a grid launched without the attribute), then lets the next kernel be scheduled in
// turn. Each kernel waits before it touches memory and cannot complete before it waited, so every
// earlier kernel of the chain has completed too. The op's last kernel (last) lets nothing start
// early: what the caller launches next with the attribute (a kernel of theirs whose preamble may
// write memory before its own wait) waits for the op's completion as after any kernel. No-ops
// before sm_90 and in the emulator, whose launches run one after the other.
__device__ __forceinline__ void passes_begin(bool last = false) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDACC_VER_MAJOR__) && __CUDACC_VER_MAJOR__ >= 12
  asm volatile("griddepcontrol.wait;" ::: "memory");
  if (!last) asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#else
  (void)last;
#endif
}

// ---- storage <-> fp32 -------------------------------------------------------------------
__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// A 16-byte vector of storage elements, unpacked to / packed from fp32.
template <typename T> struct Vec {
  static constexpr int kN = 16 / sizeof(T);
  union {
    uint4 raw;
    T e[kN];
  };
  __device__ __forceinline__ void unpack(float* f) const {
#pragma unroll
    for (int i = 0; i < kN; ++i) f[i] = to_f(e[i]);
  }
  __device__ __forceinline__ void pack(const float* f) {
#pragma unroll
    for (int i = 0; i < kN; ++i) e[i] = from_f<T>(f[i]);
  }
};

// ---- NaN rules ---------------------------------------------------------------------------
// NaN and +-Inf travel as in the PyTorch modules (native/dev/NOTES-cuda.md, test/reference.ts):
// relu(NaN) = NaN, a max over values with a NaN is NaN (torch.amax), hardsigmoid(NaN) = NaN.
// fmaxf / fminf return the other operand when one is NaN, so they are not used on data.
// NaN-propagating max/min: one instruction (max.NaN / min.NaN) from sm_80; before, fmaxf/fminf
// and a select on a NaN test (this form, not `a > b || a != a ? a : b`, kept sm_75 spill-free).
__device__ __forceinline__ float max_nan(float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  float r;
  asm("max.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
  return r;
#else
  return (a != a || b != b) ? a + b : fmaxf(a, b);
#endif
}
__device__ __forceinline__ float min_nan(float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  float r;
  asm("min.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
  return r;
#else
  return (a != a || b != b) ? a + b : fminf(a, b);
#endif
}
// a + b, rounded on its own: the add's rounding mode keeps ptxas from fusing a multiply before it
// into an FMA (one rounding), so a product added here was rounded to float first, as in PyTorch's
// eager ops and the CPU kernels (built with -ffp-contract=off).
__device__ __forceinline__ float fadd_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#elif defined(SQEX_CUEMU)
  return cuemu_fadd_rn(a, b);  // the emulator builds with -ffp-contract=fast, as nvcc fuses
#else
  return a + b;
#endif
}
// The residual add of y = x * s + r: x * s rounded, then + r rounded (PyTorch's `x * s + r`).
__device__ __forceinline__ float add_residual(float v, float r) { return fadd_rn(v, r); }
// PyTorch's relu (clamp_min) on the CPU and the CPU kernels: NaN stays NaN and -0 stays -0. Not
// max.NaN / fmaxf, which gave +0 for -0 (found by an attack, 2026-12-05).
__device__ __forceinline__ float relu_f(float v) { return v < 0.f ? 0.f : v; }
__device__ __forceinline__ double relu_d(double v) { return v < 0.0 ? 0.0 : v; }  // NaN stays NaN

// ---- activations and gates (fp32) -------------------------------------------------------
// expf, not __expf: __expf's argument scaling loses ~|v| * 2^-24 relative accuracy, which shows
// at |v| ~ 100 (seen: 1.3e-5 at |x| ~ 1e4). 1/(1+inf) = 0, so saturated gates stay finite.
__device__ __forceinline__ float sigmoidf_(float v) { return 1.f / (1.f + expf(-v)); }
__device__ __forceinline__ float act_f(float v, int act) {
  return act == static_cast<int>(Act::ReLU) ? relu_f(v) : v * sigmoidf_(v);
}
// fp64 activation for the hidden layer (kept in fp64 between the FCs: at |x| ~ 1e4 its fp32
// rounding moved unsaturated gates by > 1e-5, see NOTES-cuda.md v7). SiLU's sigmoid factor in
// fp32 is enough: its error times v is <= ~1e-7 absolute (largest near |v| ~ 2; for large v it
// is exactly 1 or 0), while v itself is not rounded. A fp64 exp() made the SE kernel spill.
// silu(-inf) = -inf * sigmoid(-inf) = -inf * 0 = NaN, as torch's -inf / (1 + inf).
__device__ __forceinline__ double act_d(double v, int act) {
  return act == static_cast<int>(Act::ReLU) ? relu_d(v)
                                            : v * static_cast<double>(sigmoidf_(static_cast<float>(v)));
}
__device__ __forceinline__ float gate_f(float v, int gate) {
  return gate == static_cast<int>(Gate::Sigmoid) ? sigmoidf_(v)
                                                  : min_nan(max_nan(v + 3.f, 0.f), 6.f) * (1.f / 6.f);
}

// ---- warp reductions in a fixed (butterfly) order: deterministic -------------------------
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = max_nan(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide min of lo and max of hi, the same in every thread; scr: 2 * kWarps ints of shared
// memory that no thread reads or writes meanwhile (barriers before and after). Whole block.
__device__ __forceinline__ void block_min_max(int& lo, int& hi, int* scr) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    lo = min(lo, __shfl_xor_sync(0xffffffffu, lo, o));
    hi = max(hi, __shfl_xor_sync(0xffffffffu, hi, o));
  }
  __syncthreads();
  if ((threadIdx.x & 31) == 0) {
    scr[threadIdx.x >> 5] = lo;
    scr[kWarps + (threadIdx.x >> 5)] = hi;
  }
  __syncthreads();
  lo = scr[0];
  hi = scr[kWarps];
  for (int w = 1; w < kWarps; ++w) {
    lo = min(lo, scr[w]);
    hi = max(hi, scr[kWarps + w]);
  }
  __syncthreads();
}

// ---- cp.async (global -> shared, 16 bytes, bypassing registers) ---------------------------
// (sm_75 has no cp.async: a plain 16-byte load and store there.)
__device__ __forceinline__ void cp_async16(void* smem_dst, const void* gmem_src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem_dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem_src) : "memory");
#else
  *static_cast<uint4*>(smem_dst) = __ldcg(static_cast<const uint4*>(gmem_src));
#endif
}
__device__ __forceinline__ void cp_async_wait_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;\n" ::: "memory");
#endif
}

// fp64 accumulation fed by short fp32 runs: fp64 adds are 1/64 rate on consumer GPUs, and a
// 16-element fp32 run keeps the rounding of |x| ~ 1e4 sums well inside 1e-5. Its callers (CBAM's
// spatial maps) add products x * s: fadd_rn keeps them rounded to float first, as the README and
// the CPU kernels take the maps over x * s rounded. (ptxas had not fused them, each product also
// feeding the max: cbam.cu's sm_90 code came out byte-identical; this keeps it so.)
struct SumAcc {
  double total = 0.0;
  float run = 0.f;
  int k = 0;
  __device__ __forceinline__ void add(float v) {
    run = fadd_rn(run, v);
    if (++k == 16) {
      total += run;
      run = 0.f;
      k = 0;
    }
  }
  __device__ __forceinline__ double get() const { return total + run; }
};

}  // namespace cuda
}  // namespace sqex
