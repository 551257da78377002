// The per-(device, stream) caches: the kernel workspace and the weight cache, both grown
// stream-ordered, and the lock that keeps one call's queued operations together on a stream.
#include <cuda_runtime.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "internal.h"
#include "sqex/cuda_api.h"

namespace sqex {
namespace cuda {

namespace {

// The maps below are never destroyed, as device.cpp's (kForever): exit() may run static
// destructors while a libuv pool thread is still inside a call that uses them.
struct StreamKey {
  int device;
  cudaStream_t stream;
  bool operator<(const StreamKey& o) const {
    return device != o.device ? device < o.device : stream < o.stream;
  }
};

// One lock per (device, stream), held by a call from taking the stream's workspace and weight
// cache until its last operation is queued (never across an explicit synchronisation; a copy
// from pageable host memory may still wait for the stream under it). The caches are
// stream-ordered: a call that grows or overwrites them does so after the kernels queued before
// it. That holds only if each call's operations are queued together: two threads on one stream
// (two workers, or an async host-array call beside a sync one) would otherwise interleave their
// uploads and launches, and a kernel could read the other call's weights, or a workspace that
// the other call had already freed.
std::mutex& g_stream_locks_mutex = *new std::mutex;
std::map<StreamKey, std::unique_ptr<std::mutex>>& g_stream_locks =
    *new std::map<StreamKey, std::unique_ptr<std::mutex>>;

// The memory of one per-(device, stream) cache. Memory a graph captured on the stream may hold the
// address of (`captured`) is never freed when the cache grows, only retired (kept until
// release_stream_caches), since a later replay of that graph would read it.
struct CacheMemory {
  void* ptr = nullptr;
  bool captured = false;
  std::vector<void*> retired;

  // Lets go of ptr before the cache grows: freed in stream order, or retired if captured.
  Status drop(cudaStream_t stream, const char* what) {
    if (ptr != nullptr) {
      if (captured) {
        retired.push_back(ptr);
      } else {
        SQEX_CUDA_TRY(cudaFreeAsync(ptr, stream), std::string("freeing the old ") + what);
      }
    }
    ptr = nullptr;
    captured = false;
    return Status::Ok();
  }
  // Frees ptr and every retired block (the stream is about to be destroyed).
  void release(cudaStream_t stream) {
    if (ptr != nullptr) cudaFreeAsync(ptr, stream);
    for (void* old : retired) cudaFreeAsync(old, stream);
  }
};

struct Workspace : CacheMemory {
  size_t bytes = 0;
  size_t counter_cap = 0;  // counters at the start, zeroed at allocation
};
std::mutex& g_ws_mutex = *new std::mutex;
std::map<StreamKey, Workspace>& g_ws = *new std::map<StreamKey, Workspace>;

struct WeightCache : CacheMemory {
  size_t floats = 0;
};
std::mutex& g_wc_mutex = *new std::mutex;
std::map<StreamKey, WeightCache>& g_wc = *new std::map<StreamKey, WeightCache>;


// Whether `stream` is being captured into a graph now.
Status capturing(cudaStream_t stream, bool* out) {
  cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
  SQEX_CUDA_TRY(cudaStreamIsCapturing(stream, &cap), "checking stream capture");
  *out = cap != cudaStreamCaptureStatusNone;
  return Status::Ok();
}

}  // namespace

std::unique_lock<std::mutex> lock_stream(int device, cudaStream_t stream) {
  std::mutex* m = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_stream_locks_mutex);
    auto& slot = g_stream_locks[StreamKey{device, stream}];
    if (!slot) slot = std::make_unique<std::mutex>();
    m = slot.get();  // never erased: a stream handle may be reused after its stream is destroyed
  }
  return std::unique_lock<std::mutex>(*m);
}

Status workspace(int device, cudaStream_t stream, size_t counters, size_t float_bytes,
                 unsigned** counters_out, float** floats_out) {
  // Asked before the map's mutex (the caller's stream lock already orders this stream's calls),
  // so calls on other streams do not wait on the driver call.
  bool cap = false;
  Status st = capturing(stream, &cap);
  if (!st.ok()) return st;
  std::lock_guard<std::mutex> lock(g_ws_mutex);
  Workspace& ws = g_ws[StreamKey{device, stream}];
  if (ws.ptr == nullptr || counters > ws.counter_cap ||
      round_up(ws.counter_cap * sizeof(unsigned), 256) + float_bytes > ws.bytes) {
    if (cap)
      return Status::Error(StatusCode::InvalidArgument,
                           "the CUDA workspace must grow, which cannot happen during graph capture: "
                           "run the op once on this stream before capturing");
    // Each part grows on its own, by at least half when it is the one short: scaling the whole
    // by 1.5 and doubling the counters at every growth made a series of calls whose scratch grew
    // a little each time (N = 1, 2, 3, ...) double the counters each call, 24 GiB by N = 180.
    const size_t old_cnt_bytes = ws.ptr ? round_up(ws.counter_cap * sizeof(unsigned), 256) : 0;
    const size_t old_float_bytes = ws.ptr ? ws.bytes - old_cnt_bytes : 0;
    const size_t new_cap = counters > ws.counter_cap ? std::max(counters, ws.counter_cap * 2) : ws.counter_cap;
    const size_t cnt_bytes = round_up(new_cap * sizeof(unsigned), 256);
    const size_t new_float_bytes =
        float_bytes > old_float_bytes ? std::max(float_bytes, old_float_bytes + old_float_bytes / 2) : old_float_bytes;
    const size_t new_bytes = cnt_bytes + new_float_bytes;
    if (!(st = ws.drop(stream, "kernel workspace")).ok()) return st;
    ws.bytes = 0;
    ws.counter_cap = 0;
    void* p = nullptr;
    SQEX_CUDA_TRY(cudaMallocAsync(&p, new_bytes, stream),
                  "allocating " + std::to_string(new_bytes) + " bytes of kernel workspace");
    const cudaError_t ze = cudaMemsetAsync(p, 0, cnt_bytes, stream);
    if (ze != cudaSuccess) {
      cudaFreeAsync(p, stream);
      return cuda_error(ze, "zeroing the workspace counters");
    }
    ws.ptr = p;
    ws.bytes = new_bytes;
    ws.counter_cap = cnt_bytes / sizeof(unsigned);  // the whole zeroed region
  }
  if (cap) ws.captured = true;
  *counters_out = static_cast<unsigned*>(ws.ptr);
  *floats_out = reinterpret_cast<float*>(static_cast<char*>(ws.ptr) +
                                         round_up(ws.counter_cap * sizeof(unsigned), 256));
  return Status::Ok();
}

// Drops the workspace and weight cache of a stream that is about to be destroyed.
void release_stream_caches(int device, cudaStream_t stream) {
  std::unique_lock<std::mutex> issue = lock_stream(device, stream);
  {
    std::lock_guard<std::mutex> lock(g_ws_mutex);
    auto it = g_ws.find(StreamKey{device, stream});
    if (it != g_ws.end()) {
      it->second.release(stream);
      g_ws.erase(it);
    }
  }
  {
    std::lock_guard<std::mutex> lock(g_wc_mutex);
    auto it = g_wc.find(StreamKey{device, stream});
    if (it != g_wc.end()) {
      it->second.release(stream);
      g_wc.erase(it);
    }
  }
  issue.unlock();
  cudaStreamSynchronize(stream);
  cudaGetLastError();
}

namespace {

// Floats of each weight tensor the op reads (0 when absent).
struct WeightSizes {
  size_t w1 = 0, b1 = 0, w2 = 0, b2 = 0, aux = 0;
  size_t total() const { return w1 + b1 + w2 + b2 + aux; }
};
WeightSizes weight_sizes(const OpParams& p, const Weights& w) {
  WeightSizes s;
  const size_t C = static_cast<size_t>(p.shape.c);
  const size_t H = static_cast<size_t>(p.hidden);
  switch (p.op) {
    case Op::SE:
      if (p.two_fc) {
        s.w1 = w.w1 ? H * C : 0;
        s.b1 = w.b1 ? H : 0;
        s.w2 = w.w2 ? C * H : 0;
        s.b2 = w.b2 ? C : 0;
      } else {
        s.w1 = w.w1 ? C * C : 0;
        s.b1 = w.b1 ? C : 0;
      }
      break;
    case Op::ECA:
      s.aux = w.aux ? static_cast<size_t>(p.eca_k) : 0;
      break;
    case Op::CBAM:
      s.w1 = w.w1 ? H * C : 0;
      s.b1 = w.b1 ? H : 0;
      s.w2 = w.w2 ? C * H : 0;
      s.b2 = w.b2 ? C : 0;
      s.aux = w.aux ? static_cast<size_t>(2 * p.spatial_k * p.spatial_k) : 0;
      break;
  }
  return s;
}

}  // namespace

// Uploads host weights into the (device, stream) weight cache, stream-ordered, and returns
// device pointers. A later call on the same stream overwrites the cache after the kernels
// queued before it, so no synchronisation is needed; the caller holds lock_stream until the
// kernels that read these pointers are queued.
Status upload_weights(const OpParams& p, const Weights& hw, int device, cudaStream_t stream,
                      Weights* dw) {
  const WeightSizes sz = weight_sizes(p, hw);
  bool cap = false;  // asked before the map's mutex, as in workspace()
  Status cst = capturing(stream, &cap);
  if (!cst.ok()) return cst;
  std::lock_guard<std::mutex> lock(g_wc_mutex);
  WeightCache& wc = g_wc[StreamKey{device, stream}];
  // each tensor 64-float aligned
  auto pad = [](size_t f) { return (f + 63) / 64 * 64; };
  const size_t need = pad(sz.w1) + pad(sz.b1) + pad(sz.w2) + pad(sz.b2) + pad(sz.aux);
  if (need > wc.floats) {
    if (cap)
      return Status::Error(StatusCode::InvalidArgument,
                           "the CUDA weight cache must grow, which cannot happen during graph capture");
    if (!(cst = wc.drop(stream, "weight cache")).ok()) return cst;
    wc.floats = 0;
    void* ptr = nullptr;
    const size_t floats = std::max(need, size_t(1024));
    SQEX_CUDA_TRY(cudaMallocAsync(&ptr, floats * sizeof(float), stream), "allocating the weight cache");
    wc.ptr = ptr;
    wc.floats = floats;
  }
  if (cap) wc.captured = true;
  float* cur = static_cast<float*>(wc.ptr);
  *dw = Weights{};
  auto put = [&](const float* src, size_t n, const float** dst) -> Status {
    if (!src || n == 0) return Status::Ok();
    SQEX_CUDA_TRY(cudaMemcpyAsync(cur, src, n * sizeof(float), cudaMemcpyHostToDevice, stream),
                  "uploading weights");
    *dst = cur;
    cur += pad(n);
    return Status::Ok();
  };
  Status st;
  if (!(st = put(hw.w1, sz.w1, &dw->w1)).ok()) return st;
  if (!(st = put(hw.b1, sz.b1, &dw->b1)).ok()) return st;
  if (!(st = put(hw.w2, sz.w2, &dw->w2)).ok()) return st;
  if (!(st = put(hw.b2, sz.b2, &dw->b2)).ok()) return st;
  if (!(st = put(hw.aux, sz.aux, &dw->aux)).ok()) return st;
  return Status::Ok();
}

}  // namespace cuda
}  // namespace sqex
