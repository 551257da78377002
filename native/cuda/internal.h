// Pieces shared between the kernel launchers (*.cu) and the host side (device.cpp, stream_cache.cpp,
// forward.cpp, memory.cpp, benchmark.cpp). Plain C++ plus cuda_runtime.h; never included by the
// binding.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <mutex>
#include <string>

#include "sqex/cuda_api.h"

namespace sqex {
namespace cuda {

// A CUDA error as a Status: code Cuda, the numeric error, its name, and what was being done.
// Clears the (non-sticky) last error so that the next call starts clean.
Status cuda_error(cudaError_t e, const std::string& what);

#define SQEX_CUDA_TRY(expr, what)                              \
  do {                                                         \
    cudaError_t sqex_e_ = (expr);                              \
    if (sqex_e_ != cudaSuccess) return ::sqex::cuda::cuda_error(sqex_e_, (what)); \
  } while (0)

struct DeviceProps {
  int sm_count = 0;
  int smem_per_sm = 0;        // bytes
  int smem_optin = 0;         // max dynamic shared memory per block after opting in
  int smem_reserved = 0;      // per block, reserved by the system
  int l2_bytes = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  size_t total_memory = 0;
};
// Cached per device after the first query.
Status device_props(int device, const DeviceProps** out);

// cudaSetDevice as a Status (device.cpp).
Status set_device(int device);

inline size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

// Whether the op's required weights and sizes are there (forward.cpp), before anything is queued.
Status check_weights(const OpParams& p, const Weights& w);

// Uploads host weights into the (device, stream) weight cache, stream-ordered, and returns their
// device pointers in *dw (stream_cache.cpp). The caller holds lock_stream until the kernels that
// read them are queued.
Status upload_weights(const OpParams& p, const Weights& hw, int device, cudaStream_t stream, Weights* dw);

// Per-(device, stream) workspace: `counters` unsigned ints (zero between launches: the
// kernels reset what they use) followed by `float_bytes` of scratch. Grows stream-ordered
// (cudaMallocAsync / cudaFreeAsync), so it is never freed under a running kernel, given that the
// caller holds lock_stream until its launches are queued. Refuses to grow while the stream is
// being captured into a graph, and keeps memory a capture has seen until release_stream_caches.
Status workspace(int device, cudaStream_t stream, size_t counters, size_t float_bytes,
                 unsigned** counters_out, float** floats_out);

// The lock that makes one call's queued operations on (device, stream) contiguous: held from
// taking the stream's workspace or weight cache until the call's last operation is queued, so
// that another thread's upload or workspace growth on the same stream cannot land in between
// (stream_cache.cpp). Never held across an explicit synchronisation (a copy from pageable host memory,
// the weights', may still wait for the stream while it is held).
std::unique_lock<std::mutex> lock_stream(int device, cudaStream_t stream);

// Frees the workspace and weight cache of a stream about to be destroyed (benchmark).
void release_stream_caches(int device, cudaStream_t stream);

Status se_launch(const OpParams& p, const Weights& w, const Tensors& t, int device,
                 cudaStream_t stream);
Status eca_launch(const OpParams& p, const Weights& w, const Tensors& t, int device,
                  cudaStream_t stream);
Status cbam_launch(const OpParams& p, const Weights& w, const Tensors& t, int device,
                   cudaStream_t stream);

}  // namespace cuda
}  // namespace sqex
