// The ops' entry points: cuda_forward (DeviceTensors), cuda_forward_host_weights (host weights,
// device activations) and cuda_forward_host (host arrays through pinned staging, synchronous).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "internal.h"
#include "sqex/cuda_api.h"

namespace sqex {
namespace cuda {

Status check_weights(const OpParams& p, const Weights& w) {
  switch (p.op) {
    case Op::SE:
      if (!w.w1 || (p.two_fc && !w.w2))
        return Status::Error(StatusCode::InvalidArgument, "SE needs w1 (and w2 with two FCs)");
      if (p.two_fc && p.hidden <= 0)
        return Status::Error(StatusCode::InvalidArgument, "SE hidden must be positive");
      break;
    case Op::ECA:
      if (!w.aux || p.eca_k <= 0 || p.eca_k % 2 == 0)
        return Status::Error(StatusCode::InvalidArgument, "ECA needs an odd kernel and its weight");
      break;
    case Op::CBAM:
      if (!w.w1 || !w.w2 || !w.aux || p.hidden <= 0 || p.spatial_k <= 0 || p.spatial_k % 2 == 0)
        return Status::Error(StatusCode::InvalidArgument,
                             "CBAM needs w1, w2, the spatial weight, hidden > 0 and an odd spatial kernel");
      break;
    default:
      return Status::Error(StatusCode::InvalidArgument, "unknown op");
  }
  return Status::Ok();
}

namespace {

// ---- pinned host staging and device buffers for cuda_forward_host, per device ----------
struct Staging {
  std::mutex mutex;
  void* pinned = nullptr;
  size_t pinned_bytes = 0;
  void* dev = nullptr;
  size_t dev_bytes = 0;
};
std::mutex& g_staging_mutex = *new std::mutex;
std::map<int, std::unique_ptr<Staging>>& g_staging = *new std::map<int, std::unique_ptr<Staging>>;

Staging& staging_for(int device) {
  std::lock_guard<std::mutex> lock(g_staging_mutex);
  auto& s = g_staging[device];
  if (!s) s = std::make_unique<Staging>();
  return *s;
}

}  // namespace
}  // namespace cuda

namespace {
// The launch, with the stream's lock (cuda::lock_stream) held by the caller.
Status forward_locked(const OpParams& p, const Weights& w, const Tensors& t, int device, cudaStream_t s) {
  if (!t.x || !t.y)
    return Status::Error(StatusCode::InvalidArgument, "x and y device pointers are required");
  Status st = cuda::check_weights(p, w);
  if (!st.ok()) return st;
  switch (p.op) {
    case Op::SE: return cuda::se_launch(p, w, t, device, s);
    case Op::ECA: return cuda::eca_launch(p, w, t, device, s);
    case Op::CBAM: return cuda::cbam_launch(p, w, t, device, s);
  }
  return Status::Error(StatusCode::InvalidArgument, "unknown op");
}
}  // namespace

Status cuda_forward(const OpParams& p, const Weights& w, const Tensors& t, int device, void* stream) {
  Status st = cuda::set_device(device);
  if (!st.ok()) return st;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  std::unique_lock<std::mutex> issue = cuda::lock_stream(device, s);
  return forward_locked(p, w, t, device, s);
}

Status cuda_forward_host_weights(const OpParams& p, const Weights& host_w, const Tensors& dev_t,
                                 int device, void* stream) {
  Status st = cuda::set_device(device);
  if (!st.ok()) return st;
  if (!(st = cuda::check_weights(p, host_w)).ok()) return st;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  // The upload and the launch that reads it are queued under one lock: another thread's upload
  // to the same stream's cache cannot land between them.
  std::unique_lock<std::mutex> issue = cuda::lock_stream(device, s);
  Weights dw;
  st = cuda::upload_weights(p, host_w, device, s, &dw);
  if (!st.ok()) return st;
  return forward_locked(p, dw, dev_t, device, s);
}

Status cuda_forward_host(const OpParams& p, const Weights& host_w, const Tensors& host_t, int device,
                         void* stream) {
  Status st = cuda::set_device(device);
  if (!st.ok()) return st;
  if (!host_t.x || !host_t.y)
    return Status::Error(StatusCode::InvalidArgument, "x and y are required");
  if (!(st = cuda::check_weights(p, host_w)).ok()) return st;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const size_t xb = static_cast<size_t>(p.shape.numel()) * dtype_size(p.dtype);
  const size_t sb = host_t.scale_out ? static_cast<size_t>(p.shape.n * p.shape.c) * sizeof(float) : 0;
  const size_t rb = host_t.residual ? xb : 0;
  const size_t xo = 0, ro = cuda::round_up(xb, 256), so = ro + cuda::round_up(rb, 256);
  const size_t total = so + cuda::round_up(sb, 256) + 256;
  cuda::Staging& stg = cuda::staging_for(device);
  std::lock_guard<std::mutex> lock(stg.mutex);
  // Grown by at least half each time (computed before the old size is cleared: a series of
  // growing calls reallocates O(log) times, not once per call).
  if (stg.pinned_bytes < total) {
    const size_t bytes = std::max(total, stg.pinned_bytes * 3 / 2);
    if (stg.pinned) SQEX_CUDA_TRY(cudaFreeHost(stg.pinned), "freeing pinned staging memory");
    stg.pinned = nullptr;
    stg.pinned_bytes = 0;
    SQEX_CUDA_TRY(cudaMallocHost(&stg.pinned, bytes), "allocating pinned staging memory");
    stg.pinned_bytes = bytes;
  }
  if (stg.dev_bytes < total) {
    if (stg.dev) {
      // earlier calls finished before returning (this function is synchronous)
      SQEX_CUDA_TRY(cudaFree(stg.dev), "freeing device staging memory");
    }
    const size_t bytes = std::max(total, stg.dev_bytes * 3 / 2);
    stg.dev = nullptr;
    stg.dev_bytes = 0;
    SQEX_CUDA_TRY(cudaMalloc(&stg.dev, bytes), "allocating device staging memory");
    stg.dev_bytes = bytes;
  }
  char* hp = static_cast<char*>(stg.pinned);
  char* dp = static_cast<char*>(stg.dev);
  std::memcpy(hp + xo, host_t.x, xb);
  if (rb) std::memcpy(hp + ro, host_t.residual, rb);
  // Everything this call queues, under the stream's lock (not the wait: a later call on the
  // stream queues behind it, and the staging buffers stay this call's under stg.mutex).
  auto queue = [&]() -> Status {
    std::unique_lock<std::mutex> issue = cuda::lock_stream(device, s);
    SQEX_CUDA_TRY(cudaMemcpyAsync(dp + xo, hp + xo, xb, cudaMemcpyHostToDevice, s), "uploading x");
    if (rb)
      SQEX_CUDA_TRY(cudaMemcpyAsync(dp + ro, hp + ro, rb, cudaMemcpyHostToDevice, s),
                    "uploading the residual");
    Weights dw;
    Status qs = cuda::upload_weights(p, host_w, device, s, &dw);
    if (!qs.ok()) return qs;
    Tensors dt;
    dt.x = dp + xo;
    dt.residual = rb ? dp + ro : nullptr;
    dt.y = dp + xo;  // in place on the staging copy
    dt.scale_out = sb ? reinterpret_cast<float*>(dp + so) : nullptr;
    qs = forward_locked(p, dw, dt, device, s);
    if (!qs.ok()) return qs;
    SQEX_CUDA_TRY(cudaMemcpyAsync(hp + xo, dp + xo, xb, cudaMemcpyDeviceToHost, s), "downloading y");
    if (sb)
      SQEX_CUDA_TRY(cudaMemcpyAsync(hp + so, dp + so, sb, cudaMemcpyDeviceToHost, s),
                    "downloading scale_out");
    return Status::Ok();
  };
  st = queue();
  if (!st.ok()) {
    // What was queued may still read or write the staging buffers: let it finish before
    // stg.mutex is released.
    cudaStreamSynchronize(s);
    cudaGetLastError();
    return st;
  }
  SQEX_CUDA_TRY(cudaStreamSynchronize(s), "waiting for the op");
  std::memcpy(host_t.y, hp + xo, xb);
  if (sb) std::memcpy(host_t.scale_out, hp + so, sb);
  return Status::Ok();
}

}  // namespace sqex
