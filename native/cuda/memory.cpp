// Device memory for DeviceTensors: allocation, copies to and from the host (the stream-ordered
// download in two halves), stream synchronisation and the device's free memory.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <string>

#include "internal.h"
#include "sqex/cuda_api.h"

namespace sqex {
namespace cuda {

namespace {

// ---- a private non-blocking stream per device for the second half of async downloads ----
std::mutex& g_copy_stream_mutex = *new std::mutex;
std::map<int, cudaStream_t>& g_copy_streams = *new std::map<int, cudaStream_t>;

Status copy_stream(int device, cudaStream_t* out) {
  std::lock_guard<std::mutex> lock(g_copy_stream_mutex);
  auto it = g_copy_streams.find(device);
  if (it == g_copy_streams.end()) {
    cudaStream_t s = nullptr;
    SQEX_CUDA_TRY(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "creating the download stream");
    it = g_copy_streams.emplace(device, s).first;
  }
  *out = it->second;
  return Status::Ok();
}

}  // namespace
}  // namespace cuda

using cuda::cuda_error;

Status cuda_alloc(int device, size_t bytes, void** ptr) {
  Status st = cuda::set_device(device);
  if (!st.ok()) return st;
  *ptr = nullptr;
  SQEX_CUDA_TRY(cudaMalloc(ptr, bytes == 0 ? 1 : bytes),
                "allocating " + std::to_string(bytes) + " bytes on device " + std::to_string(device));
  return Status::Ok();
}

Status cuda_free(int device, void* ptr) {
  Status st = cuda::set_device(device);
  if (!st.ok()) return st;
  SQEX_CUDA_TRY(cudaFree(ptr), "freeing device memory");
  return Status::Ok();
}

namespace {
// A copy on `stream`, waited for: cuda_upload and cuda_download.
Status copy_and_wait(int device, void* dst, const void* src, size_t bytes, void* stream, cudaMemcpyKind kind,
                     const char* what, const char* waiting) {
  Status st = cuda::set_device(device);
  if (!st.ok()) return st;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  SQEX_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, kind, s), what);
  SQEX_CUDA_TRY(cudaStreamSynchronize(s), waiting);
  return Status::Ok();
}
}  // namespace

Status cuda_upload(int device, void* dst, const void* src, size_t bytes, void* stream) {
  return copy_and_wait(device, dst, src, bytes, stream, cudaMemcpyHostToDevice, "uploading to the device",
                       "waiting for an upload");
}

Status cuda_download(int device, void* dst, const void* src, size_t bytes, void* stream) {
  return copy_and_wait(device, dst, src, bytes, stream, cudaMemcpyDeviceToHost, "downloading from the device",
                       "waiting for a download");
}

Status cuda_download_begin(int device, void* dst, const void* src, size_t bytes, void* stream,
                           CudaPendingDownload* out) {
  *out = CudaPendingDownload{};
  out->device = device;
  out->bytes = bytes;
  Status st = cuda::set_device(device);
  if (!st.ok()) return st;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  void* snapshot = nullptr;
  if (cudaMallocAsync(&snapshot, bytes == 0 ? 1 : bytes, s) != cudaSuccess) {
    // No memory for a snapshot (or the pool is unusable): clear that error and copy now.
    cudaGetLastError();
    return cuda_download(device, dst, src, bytes, stream);
  }
  cudaEvent_t ev = nullptr;
  cudaError_t e = cudaMemcpyAsync(snapshot, src, bytes, cudaMemcpyDeviceToDevice, s);
  if (e == cudaSuccess) e = cudaEventCreateWithFlags(&ev, cudaEventDisableTiming);
  if (e == cudaSuccess) e = cudaEventRecord(ev, s);
  if (e != cudaSuccess) {
    if (ev) cudaEventDestroy(ev);
    cudaFreeAsync(snapshot, s);
    return cuda_error(e, "snapshotting a tensor for download");
  }
  out->snapshot = snapshot;
  out->event = ev;
  return Status::Ok();
}

Status cuda_download_finish(const CudaPendingDownload& pending, void* dst) {
  if (!pending.snapshot) return Status::Ok();  // begin copied synchronously
  Status st = cuda::set_device(pending.device);
  if (!st.ok()) return st;
  cudaEvent_t ev = static_cast<cudaEvent_t>(pending.event);
  cudaStream_t cs = nullptr;
  st = cuda::copy_stream(pending.device, &cs);
  cudaError_t e = st.ok() ? cudaEventSynchronize(ev) : cudaSuccess;
  // Pageable dst: this copy returns once it is complete.
  if (st.ok() && e == cudaSuccess) e = cudaMemcpyAsync(dst, pending.snapshot, pending.bytes, cudaMemcpyDeviceToHost, cs);
  if (st.ok() && e == cudaSuccess) e = cudaStreamSynchronize(cs);
  // Free on the copy stream when there is one (ordered after the copy), else after a device-wide wait.
  if (cs) {
    cudaFreeAsync(pending.snapshot, cs);
  } else {
    cudaDeviceSynchronize();
    cudaFree(pending.snapshot);
  }
  cudaEventDestroy(ev);
  if (!st.ok()) return st;
  if (e != cudaSuccess) return cuda_error(e, "downloading from the device");
  return Status::Ok();
}

Status cuda_stream_synchronize(int device, void* stream) {
  Status st = cuda::set_device(device);
  if (!st.ok()) return st;
  SQEX_CUDA_TRY(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "synchronizing the stream");
  return Status::Ok();
}

Status cuda_mem_info(int device, size_t* free_bytes, size_t* total_bytes) {
  Status st = cuda::set_device(device);
  if (!st.ok()) return st;
  SQEX_CUDA_TRY(cudaMemGetInfo(free_bytes, total_bytes), "reading memory info");
  return Status::Ok();
}

}  // namespace sqex
