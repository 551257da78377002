// CUDA backend as seen from the binding: plain C++ types only, streams as opaque void*.
// native/cuda/*.cpp (device, memory, forward, ...) implement it when CUDA is compiled in;
// native/cuda/stub.cpp otherwise.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sqex/params.h"

namespace sqex {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  int64_t total_memory = 0;
  int64_t l2_bytes = 0;
};

struct CudaStatusInfo {
  bool compiled = false;   // CUDA sources were built into this addon
  bool available = false;  // a usable device exists right now
  int device_count = 0;
  int driver_version = 0;   // cudaDriverGetVersion, e.g. 13000; 0 if no driver
  int runtime_version = 0;  // cudaRuntimeGetVersion of the statically linked runtime
  // The oldest driver this build runs on, as the CUDA version the driver supports (the unit of
  // driver_version): major.0 for CUDA >= 12 (minor-version compatibility), 11.2 for CUDA 11
  // (native/cuda/device.cpp says why). 0 when CUDA is not compiled in.
  int min_driver_version = 0;
  std::string reason;       // why not available, in words; empty when available
  std::vector<CudaDeviceInfo> devices;
};

// Cheap after the first call (cached), except that device_count is re-read.
CudaStatusInfo cuda_status();

// Runs one op on device pointers, enqueued on `stream` (nullptr = the legacy default stream)
// of device `device`. Weights are device pointers (fp32). Never synchronises.
Status cuda_forward(const OpParams& p, const Weights& w, const Tensors& t, int device, void* stream);

// Host arrays in and out: stages through pinned memory, uploads the weights, runs the op and
// copies the result (and scale_out) back. Synchronous with respect to the host.
Status cuda_forward_host(const OpParams& p, const Weights& host_w, const Tensors& host_t, int device,
                         void* stream);

// Device tensors with host-resident weights: the weights are copied to a per-stream device cache
// first (stream-ordered), then cuda_forward runs. Never synchronises.
Status cuda_forward_host_weights(const OpParams& p, const Weights& host_w, const Tensors& dev_t,
                                 int device, void* stream);

// Memory management for DeviceTensor and resident weights.
Status cuda_alloc(int device, size_t bytes, void** ptr);
Status cuda_free(int device, void* ptr);
Status cuda_upload(int device, void* dst, const void* src, size_t bytes, void* stream);   // sync
Status cuda_download(int device, void* dst, const void* src, size_t bytes, void* stream); // sync

// An asynchronous download in two halves, so that it takes its place in the stream when it is
// called (work enqueued afterwards, e.g. an op writing the same tensor, cannot reach the copy):
// begin runs on the calling thread and never waits: it snapshots `bytes` at `src` into a
// stream-ordered device buffer and records an event. finish runs on a worker thread: it waits for
// the event, copies the snapshot to `dst` on a private stream, and frees the snapshot and the
// event (also when it fails). When no snapshot memory is left, begin downloads synchronously
// instead (correct, but it blocks) and finish only reports success.
struct CudaPendingDownload {
  int device = 0;
  size_t bytes = 0;
  void* snapshot = nullptr;  // device memory; nullptr when begin already copied
  void* event = nullptr;     // cudaEvent_t
};
Status cuda_download_begin(int device, void* dst, const void* src, size_t bytes, void* stream,
                           CudaPendingDownload* out);
Status cuda_download_finish(const CudaPendingDownload& pending, void* dst);
Status cuda_stream_synchronize(int device, void* stream);
Status cuda_mem_info(int device, size_t* free_bytes, size_t* total_bytes);

// Benchmark support for bench/ (never used by the API): times the op against a same-size
// device-to-device cudaMemcpy in the same call, with CUDA events, on inputs the function fills
// with random data itself. When the activations are smaller than about 3x the L2 it rotates
// among enough input/output sets to defeat the cache. Weights are host fp32 (uploaded once).
struct CudaBenchResult {
  double op_us = 0;         // median time of one op launch
  double copy_us = 0;       // median time of cudaMemcpy D2D of x's bytes
  double op_graph_us = 0;   // median per-op time when `iters` launches are replayed as a CUDA graph
  int rotating_sets = 1;    // input sets rotated among
  int64_t bytes = 0;        // bytes of x (one read + one write is the floor)
};
Status cuda_benchmark(const OpParams& p, const Weights& host_w, int device, int iters, CudaBenchResult* out);

}  // namespace sqex
