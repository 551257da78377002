// Host-side helpers of the launchers (launch.cuh's fused kernels, launch_two_pass.cuh's passes):
// occupancy with the raised shared-memory limit, alignment, the FusedArgs every launch fills alike,
// and the dev builds' SQEX_TWO_PASS knob.
#pragma once
#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "fused_args.cuh"
#include "internal.h"

namespace sqex {
namespace cuda {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Raises the kernel's dynamic shared-memory limit to the device maximum once per device
// (so concurrent launches never race on the attribute), and caches occupancy per smem size.
inline Status kernel_occupancy(const void* kern, int device, const DeviceProps& dp, int64_t smem,
                               int* occ) {
  static std::mutex m;
  static std::map<std::tuple<const void*, int, int64_t>, int> cache;
  std::lock_guard<std::mutex> lock(m);
  auto key = std::make_tuple(kern, device, int64_t(-1));
  if (cache.find(key) == cache.end()) {
    cudaFuncAttributes fa;
    SQEX_CUDA_TRY(cudaFuncGetAttributes(&fa, kern), "reading kernel attributes");
    SQEX_CUDA_TRY(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       dp.smem_optin - static_cast<int>(fa.sharedSizeBytes)),
                  "raising the kernel's shared-memory limit");
    cache[key] = dp.smem_optin - static_cast<int>(fa.sharedSizeBytes);
  }
  if (smem > cache[key])
    return Status::Error(StatusCode::Unsupported, "shape needs more shared memory than the device has");
  auto k2 = std::make_tuple(kern, device, smem);
  auto it = cache.find(k2);
  if (it != cache.end()) {
    *occ = it->second;
    return Status::Ok();
  }
  int o = 0;
  SQEX_CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&o, kern, kThreads, static_cast<size_t>(smem)),
                "querying occupancy");
  cache[k2] = o;
  *occ = o;
  return Status::Ok();
}

// x, y and the residual (if any) all 16-byte aligned: what the vector paths (channel tiles, CBAM
// position tiles, the two-pass kernels) need.
inline bool aligned16(const Tensors& t) {
  const uintptr_t al = reinterpret_cast<uintptr_t>(t.x) | reinterpret_cast<uintptr_t>(t.y) |
                       reinterpret_cast<uintptr_t>(t.residual ? t.residual : t.x);
  return (al & 15) == 0;
}

// The FusedArgs fields every launch fills alike: operands, weights, shape and the op's options.
// hidden: the first FC's rows (SE two-FC, CBAM), C for single-FC SE (its one FC's rows), 0 for ECA.
inline FusedArgs fused_args_of(const OpParams& p, const Weights& w, const Tensors& t, int hidden, bool cbam) {
  FusedArgs a{};
  a.x = t.x;
  a.res = t.residual;
  a.y = t.y;
  a.scale_out = t.scale_out;
  a.w1 = w.w1;
  a.b1 = w.b1;
  a.w2 = w.w2;
  a.b2 = w.b2;
  a.aux = w.aux;
  a.N = static_cast<int>(p.shape.n);
  a.C = static_cast<int>(p.shape.c);
  a.H = static_cast<int>(p.shape.h);
  a.W = static_cast<int>(p.shape.w);
  a.HW = static_cast<int>(p.shape.hw());
  a.hidden = hidden;
  a.act = static_cast<int>(p.act);
  a.gate = static_cast<int>(p.gate);
  a.out_relu = p.out_act == OutAct::ReLU;
  a.two_fc = cbam ? 1 : (p.two_fc ? 1 : 0);
  a.eca_k = p.eca_k;
  a.sk = p.spatial_k;
  a.sbias = p.spatial_bias;
  return a;
}

// The dev builds' SQEX_TWO_PASS knob (the emulator and the kernel harness; release builds read no
// environment): "0" the passes off (the fused kernels take every shape), "1" the passes wherever
// they apply (also where launch_fused would prefer a fused plan), else the planner's choice.
inline int two_pass_knob() {
#if defined(SQEX_CUEMU) || defined(SQEX_DEV_KNOBS)
  const char* f = std::getenv("SQEX_TWO_PASS");
  if (f && (f[0] == '0' || f[0] == '1') && f[1] == '\0') return f[0] - '0';
#endif
  return -1;
}

// The dev builds' SQEX_PDL knob: "0" launches the passes' kernels without programmatic stream
// serialization (for the A/B); else they use it wherever the device has it (sm_90 on).
inline bool pdl_knob() {
#if defined(SQEX_CUEMU) || defined(SQEX_DEV_KNOBS)
  const char* f = std::getenv("SQEX_PDL");
  if (f && f[0] == '0' && f[1] == '\0') return false;
#endif
  return true;
}

// Whether kern's device code has passes_begin's wait: compiled for compute_90 or later (its
// ptxVersion, for the current device). A build whose newest PTX is older (a custom
// SQEX_CUDA_ARCHITECTURES such as "86" JIT-compiled on a Hopper) has none, and must not be launched
// with the attribute: its blocks could read the previous kernel's results before they are written
// (a review, 2026-12-04). Cached per (kernel, device).
inline bool built_for_pdl(const void* kern, int device) {
#if defined(SQEX_CUEMU)
  (void)kern;
  (void)device;
  return false;
#else
  static std::mutex m;
  static std::map<std::pair<const void*, int>, bool> cache;
  std::lock_guard<std::mutex> lock(m);
  const auto key = std::make_pair(kern, device);
  const auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  cudaFuncAttributes fa;
  const bool queried = cudaFuncGetAttributes(&fa, kern) == cudaSuccess;
  if (!queried) (void)cudaGetLastError();  // a failed query launches plainly; it leaves no error behind
  const bool ok = queried && fa.ptxVersion >= 90;
  cache[key] = ok;
  return ok;
#endif
}

// Launches kern on stream, with programmatic stream serialization when pdl (the kernel must begin
// with passes_begin, common.cuh; SQEX_LAUNCH_DEPENDENT also asks built_for_pdl): its blocks may
// then be scheduled while the kernel before it in the stream finishes, which hides most of the
// gap between two launches. CUDA 12 on; the CUDA 11.8 build launches plainly. In the emulator
// (whose launches run one after the other) a plain launch.
#if defined(SQEX_CUEMU)
#define SQEX_LAUNCH_DEPENDENT(pdl, device, kern, grid, block, smem, stream, ...) \
  SQEX_LAUNCH(kern, grid, block, smem, stream, __VA_ARGS__)
#else
template <typename... KArgs, typename... Args>
inline cudaError_t launch_dependent(bool pdl, void (*kern)(KArgs...), dim3 grid, dim3 block, size_t smem,
                                    cudaStream_t stream, Args... args) {
#if CUDART_VERSION >= 12000
  if (pdl) {
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cfg.attrs = at;
    cfg.numAttrs = 1;
    return cudaLaunchKernelEx(&cfg, kern, args...);
  }
#else
  (void)pdl;
#endif
  kern<<<grid, block, smem, stream>>>(args...);
  return cudaSuccess;
}

#define SQEX_LAUNCH_DEPENDENT(pdl, device, kern, grid, block, smem, stream, ...)                          \
  SQEX_CUDA_TRY(launch_dependent((pdl) && built_for_pdl(reinterpret_cast<const void*>(kern), device), kern, \
                                 dim3(grid), dim3(block), static_cast<size_t>(smem), stream, __VA_ARGS__),  \
                "launching a kernel of the passes")
#endif

}  // namespace cuda
}  // namespace sqex
