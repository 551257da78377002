// Device helpers shared by the SE, ECA and CBAM kernels: storage-type conversion, 16-byte
// vector access, PyTorch's NaN rules, activation/gate functions, warp reductions, cp.async, the
// per-sample inter-block barrier and the block-wide row reductions. Storage is float/half/bf16;
// pooled sums and FC dot products accumulate in fp64 (v7), the rest is fp32. The host-side
// error macro is SQEX_CUDA_TRY in internal.h.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <type_traits>

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
constexpr int kHalo = 2048;    // CBAM: floats of shared memory for map rows around a conv
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
__device__ __forceinline__ float relu_f(float v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  return max_nan(v, 0.f);
#else
  return v != v ? v : fmaxf(v, 0.f);
#endif
}
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
// 16-element fp32 run keeps the rounding of |x| ~ 1e4 sums well inside 1e-5.
struct SumAcc {
  double total = 0.0;
  float run = 0.f;
  int k = 0;
  __device__ __forceinline__ void add(float v) {
    run += v;
    if (++k == 16) {
      total += run;
      run = 0.f;
      k = 0;
    }
  }
  __device__ __forceinline__ double get() const { return total + run; }
};

// ---- per-sample barrier among the blocks that hold a sample's tiles -----------------------
// One monotonically increasing counter per sample: phase k is complete when it reaches k*T.
// Writers __syncthreads, then one thread fences and increments; the waiter polls with an
// acquire load and releases its block with __syncthreads. Data exchanged through these
// phases is read with __ldcg (L2), never through the incoherent L1.
__device__ __forceinline__ unsigned ld_acquire_u32(const unsigned* p) {
#if defined(SQEX_CUEMU)
  return cuemu_ld_acquire_u32(p);
#else
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
  return v;
#endif
}
__device__ __forceinline__ void sample_arrive(unsigned* cnt) {
  __syncthreads();
  if (threadIdx.x == 0) {
    // release at gpu scope: the block's writes (ordered before by the barrier) become visible
    // to any block that acquires the new count
#if defined(SQEX_CUEMU)
    cuemu_red_release_add_u32(cnt, 1u);
#else
    asm volatile("red.release.gpu.global.add.u32 [%0], 1;\n" ::"l"(cnt) : "memory");
#endif
  }
}
// A wait that lasts seconds means the co-residency assumption broke (e.g. several concurrent
// streams each running this kernel on huge samples): trap, so the caller gets an error instead
// of a hang.
__device__ __forceinline__ void sample_wait(const unsigned* cnt, unsigned target) {
  if (threadIdx.x == 0) {
    if (ld_acquire_u32(cnt) < target) {
      const long long t0 = clock64();
      while (ld_acquire_u32(cnt) < target) {
        if (clock64() - t0 > (1ll << 33)) __trap();  // ~4 s at 2 GHz
      }
    }
  }
  __syncthreads();
}
__device__ __forceinline__ void sample_sync(unsigned* cnt, int& phase, int tiles) {
  sample_arrive(cnt);
  ++phase;
  sample_wait(cnt, static_cast<unsigned>(phase) * static_cast<unsigned>(tiles));
}
// Last departure of a sample resets its counter for the next launch on this workspace.
__device__ __forceinline__ void sample_depart(unsigned* cnt, int phase, int tiles) {
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned last = static_cast<unsigned>(phase + 1) * static_cast<unsigned>(tiles) - 1u;
    if (atomicAdd(cnt, 1u) == last) atomicExch(cnt, 0u);
  }
}

// Even split of [0, total) into `parts`; part `i` is [lo, hi).
__host__ __device__ __forceinline__ void split_range(int64_t total, int64_t parts, int64_t i,
                                                     int64_t& lo, int64_t& hi) {
  lo = total * i / parts;
  hi = total * (i + 1) / parts;
}

// Threads per row of a block-wide row-dot pass: the largest power of two with
// TPR * min(rows, kThreads) <= kThreads, halved while half of it still covers the row's units.
__device__ __forceinline__ int rows_dot_tpr(int64_t nrows, int units) {
  const int want_rows = nrows < kThreads ? static_cast<int>(nrows) : kThreads;
  int TPR = kThreads;
  while (TPR > 1 && TPR / 2 * want_rows >= kThreads) TPR >>= 1;  // TPR * want_rows <= kThreads
  while (TPR * want_rows > kThreads) TPR >>= 1;
  while (TPR > 1 && TPR / 2 >= units) TPR >>= 1;
  return TPR;
}

// Block-wide version for all threads of the block: TPR threads per row (a power of two sized
// so that one pass covers min(rows, kThreads/TPR) rows and TPR <= the row's float4 count),
// partials combined by shuffles and, beyond a warp, in shared memory in warp order.
// Deterministic for a given launch configuration. scratch: 2 * kWarps doubles. The vectors are
// fp64 (means and hidden layer stay fp64 end to end, 16-byte aligned); emit gets fp64 dots.
// v2 may instead be fp32 (V2 = float: CBAM's channel maxes, exact in fp32): each element is
// converted to double (exactly) in the same FMA, so the dots are the same as from a fp64 copy.
template <bool V4, int UNR, typename V2, typename F>
__device__ __forceinline__ void block_rows_dot_impl(const float* __restrict__ W, int64_t r0, int64_t r1,
                                                    int len, const double* v1, const V2* v2,
                                                    double* scratch, F&& emit) {
  static_assert(std::is_same<V2, double>::value || std::is_same<V2, float>::value, "fp64 or fp32 v2");
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t nrows = r1 - r0;
  const int units = V4 ? len / 4 : len;
  const int TPR = rows_dot_tpr(nrows, units);
  const int RP = kThreads / TPR;
  const int tr = tid / TPR, tk = tid - tr * TPR;
  for (int64_t base = r0; base < r1; base += RP) {
    const int64_t row = base + tr;
    const bool valid = row < r1;
    double a1 = 0.0, a2 = 0.0;
    if (valid) {
      if constexpr (V4) {
        const float4* w4 = reinterpret_cast<const float4*>(W + row * len);
        const double2* x2 = reinterpret_cast<const double2*>(v1);
#pragma unroll UNR
        for (int i = tk; i < units; i += TPR) {
          const float4 w = __ldg(w4 + i);
          const double2 xa = x2[2 * i], xb = x2[2 * i + 1];
          a1 = fma(double(w.x), xa.x, fma(double(w.y), xa.y,
               fma(double(w.z), xb.x, fma(double(w.w), xb.y, a1))));
          if (v2) {
            if constexpr (std::is_same<V2, float>::value) {
              const float4 y = reinterpret_cast<const float4*>(v2)[i];
              a2 = fma(double(w.x), double(y.x), fma(double(w.y), double(y.y),
                   fma(double(w.z), double(y.z), fma(double(w.w), double(y.w), a2))));
            } else {
              const double2* y2 = reinterpret_cast<const double2*>(v2);
              const double2 ya = y2[2 * i], yb = y2[2 * i + 1];
              a2 = fma(double(w.x), ya.x, fma(double(w.y), ya.y,
                   fma(double(w.z), yb.x, fma(double(w.w), yb.y, a2))));
            }
          }
        }
      } else {
        const float* w = W + row * len;
#pragma unroll 4
        for (int i = tk; i < units; i += TPR) {
          const float wv = __ldg(w + i);
          a1 = fma(double(wv), v1[i], a1);
          if (v2) a2 = fma(double(wv), double(v2[i]), a2);
        }
      }
    }
    const int span = TPR < 32 ? TPR : 32;
    for (int o = span >> 1; o > 0; o >>= 1) {
      a1 += __shfl_xor_sync(0xffffffffu, a1, o);
      if (v2) a2 += __shfl_xor_sync(0xffffffffu, a2, o);
    }
    if (TPR > 32) {
      if (lane == 0) {
        scratch[warp] = a1;
        scratch[kWarps + warp] = a2;
      }
      __syncthreads();
      if (tk == 0) {
        const int w0 = warp, nw = TPR / 32;
        a1 = 0.0;
        a2 = 0.0;
        for (int w = 0; w < nw; ++w) {
          a1 += scratch[w0 + w];
          a2 += scratch[kWarps + w0 + w];
        }
      }
      __syncthreads();
    }
    if (tk == 0 && valid) emit(row, a1, a2);
  }
}
// UNR: unroll of the float4 loop; a register-pressure knob per kernel (SE NCHW spills at 4
// with fp64 vectors, SE NHWC and CBAM spill less at 4 than at 2). Same sums either way.
// v2: const double* or const float* (a typed null pointer when absent).
template <int UNR = 4, typename V2, typename F>
__device__ __forceinline__ void block_rows_dot(const float* __restrict__ W, int64_t r0, int64_t r1, int len,
                                               const double* v1, const V2* v2, double* scratch, F&& emit) {
  if (r1 <= r0) return;
  if ((len & 3) == 0 && (reinterpret_cast<uintptr_t>(W) & 15) == 0)
    block_rows_dot_impl<true, UNR, V2>(W, r0, r1, len, v1, v2, scratch, emit);
  else
    block_rows_dot_impl<false, UNR, V2>(W, r0, r1, len, v1, v2, scratch, emit);
}

// For items i in [i0, i1): sum (and max) over t < count of p[i + t * stride], the whole block
// cooperating (TPI threads per item, t strided over them), combined by fixed shuffles and, past
// a warp, in shared memory in warp order: deterministic for a given configuration. The sums p
// are fp32 (CBAM position partials) or fp64 (NHWC channel partials).
// dscr: kWarps doubles, mscr: kWarps floats. emit(i, sum, max) on one thread per item.
template <bool kMax, typename S, typename F>
__device__ __forceinline__ void block_strided_reduce(const S* p, const float* pm, int64_t stride,
                                                     int count, int64_t i0, int64_t i1, double* dscr,
                                                     float* mscr, F&& emit) {
  if (i1 <= i0) return;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t nitems = i1 - i0;
  const int want = nitems < kThreads ? static_cast<int>(nitems) : kThreads;
  int TPI = kThreads;
  while (TPI > 1 && TPI * want > kThreads) TPI >>= 1;
  while (TPI > 1 && TPI / 2 >= count) TPI >>= 1;
  const int IP = kThreads / TPI;
  const int ti = tid / TPI, tk = tid - ti * TPI;
  for (int64_t base = i0; base < i1; base += IP) {
    const int64_t i = base + ti;
    const bool valid = i < i1;
    double s = 0.0;
    float m = -INFINITY;
    if (valid) {
#pragma unroll 4
      for (int t = tk; t < count; t += TPI) {
        s += __ldcg(p + i + t * stride);
        if (kMax) m = max_nan(m, __ldcg(pm + i + t * stride));
      }
    }
    const int span = TPI < 32 ? TPI : 32;
    for (int o = span >> 1; o > 0; o >>= 1) {
      s += __shfl_xor_sync(0xffffffffu, s, o);
      if (kMax) m = max_nan(m, __shfl_xor_sync(0xffffffffu, m, o));
    }
    if (TPI > 32) {
      if (lane == 0) {
        dscr[warp] = s;
        mscr[warp] = m;
      }
      __syncthreads();
      if (tk == 0) {
        s = 0.0;
        m = -INFINITY;
        for (int w = 0; w < TPI / 32; ++w) {
          s += dscr[warp + w];
          m = max_nan(m, mscr[warp + w]);
        }
      }
      __syncthreads();
    }
    if (tk == 0 && valid) emit(i, s, m);
  }
}

}  // namespace cuda
}  // namespace sqex
