// CUDA runtime side of the backend (plain C++ on the CUDA runtime API): device status,
// memory, host staging, weight and workspace caches, dispatch, and the benchmark.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <dlfcn.h>
#endif

#include "internal.h"
#include "sqex/cuda_api.h"

namespace sqex {
namespace cuda {

Status cuda_error(cudaError_t e, const std::string& what) {
  Status s;
  s.code = StatusCode::Cuda;
  s.cuda_error = static_cast<int>(e);
  const char* name = cudaGetErrorName(e);
  const char* text = cudaGetErrorString(e);
  s.cuda_name = name ? name : "cudaErrorUnknown";
  s.message = std::string(text ? text : "unknown CUDA error") + " (while " + what + ")";
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  return s;
}

namespace {

// kForever: the caches below live until the process ends and are never destroyed. exit() runs
// static destructors on the exiting thread while libuv pool threads may still be inside a call
// that uses them; a map destroyed under them is a use-after-free at exit.
std::mutex& g_props_mutex = *new std::mutex;
std::map<int, std::unique_ptr<DeviceProps>>& g_props = *new std::map<int, std::unique_ptr<DeviceProps>>;

Status set_device(int device) {
  SQEX_CUDA_TRY(cudaSetDevice(device), "selecting device " + std::to_string(device));
  return Status::Ok();
}

}  // namespace

Status device_props(int device, const DeviceProps** out) {
  std::lock_guard<std::mutex> lock(g_props_mutex);
  auto it = g_props.find(device);
  if (it != g_props.end()) {
    *out = it->second.get();
    return Status::Ok();
  }
  cudaDeviceProp prop;
  SQEX_CUDA_TRY(cudaGetDeviceProperties(&prop, device),
                "reading the properties of device " + std::to_string(device));
  auto dp = std::make_unique<DeviceProps>();
  dp->sm_count = prop.multiProcessorCount;
  dp->smem_per_sm = static_cast<int>(prop.sharedMemPerMultiprocessor);
  dp->smem_optin = static_cast<int>(prop.sharedMemPerBlockOptin);
  dp->smem_reserved = static_cast<int>(prop.reservedSharedMemPerBlock);
  dp->l2_bytes = prop.l2CacheSize;
  dp->name = prop.name;
  dp->cc_major = prop.major;
  dp->cc_minor = prop.minor;
  dp->total_memory = prop.totalGlobalMem;
  *out = dp.get();
  g_props.emplace(device, std::move(dp));
  return Status::Ok();
}

namespace {

// ---- per-(device, stream) caches ---------------------------------------------------------
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

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

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

// ---------------------------------------------------------------------------------------
namespace {
// The oldest driver this build runs on, in cudaDriverGetVersion's unit (CUDA version * 1000 +
// minor * 10). CUDA >= 12: the runtime's minor-version compatibility floor, major.0 (R525 for
// 12.x, R580 for 13.x); the runtime itself refuses older drivers with cudaErrorInsufficientDriver.
// CUDA 11: 11.2 (R460, >= 460.27.03), not the runtime's 11.0 (R450): the kernel workspace and
// weight cache use the stream-ordered allocator (cudaMallocAsync, cudaFreeAsync), which an 11.0 or
// 11.1 driver lacks (cudaErrorCallRequiresNewerDriver at the first op), so such a driver is
// reported as too old here, before any op runs.
constexpr int kMinDriverVersion = CUDART_VERSION >= 12000 ? CUDART_VERSION / 1000 * 1000 : 11020;

std::string version_text(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

// GPUs the installed driver sees, asked of the driver API itself (libcuda, already loaded by the
// runtime when it found the driver too old), or -1 where that cannot be told. For the reason a
// too-old driver gives: a machine that has the driver's library but no GPU (a container or CI
// runner with libcuda installed) should hear "no device", not "upgrade the driver".
int driver_api_device_count() {
#if defined(__linux__)
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return -1;
  // Left open: the driver's state lives in it, and the runtime holds it too.
  using InitFn = int (*)(unsigned int);
  using CountFn = int (*)(int*);
  const auto init = reinterpret_cast<InitFn>(dlsym(lib, "cuInit"));
  const auto count = reinterpret_cast<CountFn>(dlsym(lib, "cuDeviceGetCount"));
  if (init == nullptr || count == nullptr) return -1;
  constexpr int kCudaSuccess = 0, kCudaErrorNoDevice = 100;  // cuda.h's CUresult values
  const int r = init(0);
  if (r == kCudaErrorNoDevice) return 0;
  int n = 0;
  if (r != kCudaSuccess || count(&n) != kCudaSuccess) return -1;
  return n;
#else
  return -1;
#endif
}
}  // namespace

CudaStatusInfo cuda_status() {
  static std::mutex m;
  static bool have_static = false;
  static CudaStatusInfo cached;
  std::lock_guard<std::mutex> lock(m);
  CudaStatusInfo info;
  if (have_static) {
    info = cached;
  } else {
    info.compiled = true;
    info.min_driver_version = kMinDriverVersion;
    cudaDriverGetVersion(&info.driver_version);
    // CUDA 11's cudaRuntimeGetVersion initialises the driver and fails without a device
    // (cudaErrorNoDevice, version unset); the headers' version is the linked runtime's too.
    if (cudaRuntimeGetVersion(&info.runtime_version) != cudaSuccess || info.runtime_version <= 0) {
      cudaGetLastError();
      info.runtime_version = CUDART_VERSION;
    }
  }
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    info.available = false;
    info.device_count = 0;
    info.devices.clear();
    const std::string name = cudaGetErrorName(e);
    if (e == cudaErrorInsufficientDriver && info.driver_version == 0)
      info.reason = "no NVIDIA driver is installed (" + name + ")";
    else if (e == cudaErrorInsufficientDriver && driver_api_device_count() == 0)
      info.reason = "no CUDA-capable device is present (the CUDA driver " + version_text(info.driver_version) +
                    " found is also older than the " + version_text(info.min_driver_version) + " this build needs)";
    else if (e == cudaErrorInsufficientDriver)
      info.reason = "CUDA driver " + version_text(info.driver_version) + " is older than the " +
                    version_text(info.min_driver_version) + " this build needs";
    else if (e == cudaErrorNoDevice)
      info.reason = "no CUDA-capable device is present (" + name + ")";
    else
      info.reason = std::string("CUDA is not usable: ") + cudaGetErrorString(e) + " (" + name + ")";
    return info;
  }
  if (info.driver_version < info.min_driver_version) {
    // Only a CUDA 11 build gets here (a newer runtime refuses such a driver itself): the runtime
    // runs, the stream-ordered allocator would not.
    info.available = false;
    info.device_count = 0;
    info.devices.clear();
    info.reason = "CUDA driver " + version_text(info.driver_version) + " is older than the " +
                  version_text(info.min_driver_version) +
                  " this build needs (it lacks the stream-ordered allocator, cudaMallocAsync)";
    return info;
  }
  info.device_count = count;
  if (count <= 0) {
    info.available = false;
    info.reason = "no CUDA-capable device is present";
    info.devices.clear();
    return info;
  }
  if (!have_static || static_cast<int>(cached.devices.size()) != count) {
    info.devices.clear();
    for (int d = 0; d < count; ++d) {
      cudaDeviceProp prop;
      if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) {
        cudaGetLastError();
        continue;
      }
      CudaDeviceInfo di;
      di.index = d;
      di.name = prop.name;
      di.cc_major = prop.major;
      di.cc_minor = prop.minor;
      di.sm_count = prop.multiProcessorCount;
      di.total_memory = static_cast<int64_t>(prop.totalGlobalMem);
      di.l2_bytes = prop.l2CacheSize;
      info.devices.push_back(di);
    }
  }
  info.available = true;
  info.reason.clear();
  cached = info;
  have_static = true;
  return info;
}

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

Status cuda_upload(int device, void* dst, const void* src, size_t bytes, void* stream) {
  Status st = cuda::set_device(device);
  if (!st.ok()) return st;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  SQEX_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), "uploading to the device");
  SQEX_CUDA_TRY(cudaStreamSynchronize(s), "waiting for an upload");
  return Status::Ok();
}

Status cuda_download(int device, void* dst, const void* src, size_t bytes, void* stream) {
  Status st = cuda::set_device(device);
  if (!st.ok()) return st;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  SQEX_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "downloading from the device");
  SQEX_CUDA_TRY(cudaStreamSynchronize(s), "waiting for a download");
  return Status::Ok();
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

// ---------------------------------------------------------------------------------------
namespace {

struct BenchResources {
  int device = 0;
  cudaStream_t stream = nullptr;
  std::vector<void*> bufs;
  std::vector<cudaEvent_t> events;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  ~BenchResources() {
    cudaSetDevice(device);
    // On every return, errors included: the caches are keyed by a handle CUDA may hand out again.
    if (stream) cuda::release_stream_caches(device, stream);
    if (stream) cudaStreamSynchronize(stream);
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    for (auto e : events) cudaEventDestroy(e);
    for (void* b : bufs) cudaFree(b);
    if (stream) cudaStreamDestroy(stream);
    cudaGetLastError();
  }
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

}  // namespace

Status cuda_benchmark(const OpParams& p, const Weights& host_w, int device, int iters,
                      CudaBenchResult* out) {
  Status st = cuda::set_device(device);
  if (!st.ok()) return st;
  if (!(st = cuda::check_weights(p, host_w)).ok()) return st;
  if (iters < 1) iters = 1;
  const cuda::DeviceProps* dp = nullptr;
  if (!(st = cuda::device_props(device, &dp)).ok()) return st;
  BenchResources r;
  r.device = device;
  SQEX_CUDA_TRY(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking), "creating a stream");
  const size_t xb = static_cast<size_t>(p.shape.numel()) * dtype_size(p.dtype);
  const size_t set_bytes = 2 * xb;  // x and y
  int sets = 1;
  if (set_bytes < 3 * static_cast<size_t>(dp->l2_bytes))
    sets = static_cast<int>(std::min<size_t>(64, (3 * static_cast<size_t>(dp->l2_bytes)) / set_bytes + 1));
  // random input (uniform [-2, 2]) as raw storage values; a cheap LCG keeps big shapes fast
  std::vector<unsigned char> host(xb);
  {
    uint64_t state = 0x9E3779B97F4A7C15ull;
    auto next = [&]() -> float {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      return static_cast<float>(static_cast<uint32_t>(state >> 40)) * (4.f / 16777216.f) - 2.f;
    };
    const size_t n = static_cast<size_t>(p.shape.numel());
    if (p.dtype == DType::F32) {
      float* f = reinterpret_cast<float*>(host.data());
      for (size_t i = 0; i < n; ++i) f[i] = next();
    } else {
      uint16_t* h = reinterpret_cast<uint16_t*>(host.data());
      for (size_t i = 0; i < n; ++i) {
        const float v = next();
        uint32_t b;
        std::memcpy(&b, &v, 4);
        if (p.dtype == DType::BF16) {
          h[i] = static_cast<uint16_t>((b + 0x7fff + ((b >> 16) & 1)) >> 16);
        } else {
          // fp32 -> fp16 by truncation is enough for benchmark data; tiny values flush to 0
          const uint32_t sign = (b >> 16) & 0x8000;
          const int32_t exp = static_cast<int32_t>((b >> 23) & 0xff) - 127 + 15;
          h[i] = exp <= 0 ? static_cast<uint16_t>(sign)
                          : static_cast<uint16_t>(sign | (static_cast<uint32_t>(exp) << 10) |
                                                  ((b & 0x7fffff) >> 13));
        }
      }
    }
  }
  std::vector<void*> xs(sets), ys(sets);
  for (int i = 0; i < sets; ++i) {
    void* a = nullptr;
    void* b = nullptr;
    SQEX_CUDA_TRY(cudaMalloc(&a, xb), "allocating benchmark input");
    r.bufs.push_back(a);
    SQEX_CUDA_TRY(cudaMalloc(&b, xb), "allocating benchmark output");
    r.bufs.push_back(b);
    xs[i] = a;
    ys[i] = b;
    SQEX_CUDA_TRY(cudaMemcpy(a, host.data(), xb, cudaMemcpyHostToDevice), "uploading benchmark input");
    SQEX_CUDA_TRY(cudaMemset(b, 0, xb), "clearing benchmark output");
  }
  Weights dw;
  {
    std::unique_lock<std::mutex> issue = cuda::lock_stream(device, r.stream);  // the caches' contract
    if (!(st = cuda::upload_weights(p, host_w, device, r.stream, &dw)).ok()) return st;
  }
  auto op = [&](int i) -> Status {
    Tensors t;
    t.x = xs[i % sets];
    t.y = ys[i % sets];
    return cuda_forward(p, dw, t, device, r.stream);
  };
  auto copy = [&](int i) -> Status {
    SQEX_CUDA_TRY(cudaMemcpyAsync(ys[i % sets], xs[i % sets], xb, cudaMemcpyDeviceToDevice, r.stream),
                  "copying device to device");
    return Status::Ok();
  };
  const int timed = iters;
  r.events.resize(2 * static_cast<size_t>(timed));
  for (auto& e : r.events) SQEX_CUDA_TRY(cudaEventCreate(&e), "creating an event");
  auto time_it = [&](auto&& fn, double* med) -> Status {
    for (int i = 0; i < std::max(3, sets); ++i) {
      Status s2 = fn(i);
      if (!s2.ok()) return s2;
    }
    for (int i = 0; i < timed; ++i) {
      SQEX_CUDA_TRY(cudaEventRecord(r.events[2 * i], r.stream), "recording an event");
      Status s2 = fn(i);
      if (!s2.ok()) return s2;
      SQEX_CUDA_TRY(cudaEventRecord(r.events[2 * i + 1], r.stream), "recording an event");
    }
    SQEX_CUDA_TRY(cudaStreamSynchronize(r.stream), "waiting for the benchmark");
    std::vector<double> us(timed);
    for (int i = 0; i < timed; ++i) {
      float ms = 0;
      SQEX_CUDA_TRY(cudaEventElapsedTime(&ms, r.events[2 * i], r.events[2 * i + 1]), "reading an event");
      us[i] = ms * 1000.0;
    }
    *med = median(us);
    return Status::Ok();
  };
  // interleave: copy, op, copy, op so that clocks/thermal drift hits both alike
  double c1 = 0, o1 = 0, c2 = 0, o2 = 0;
  if (!(st = time_it(copy, &c1)).ok()) return st;
  if (!(st = time_it(op, &o1)).ok()) return st;
  if (!(st = time_it(copy, &c2)).ok()) return st;
  if (!(st = time_it(op, &o2)).ok()) return st;
  out->copy_us = std::min(c1, c2);
  out->op_us = std::min(o1, o2);
  // graph replay of `iters` launches
  SQEX_CUDA_TRY(cudaStreamBeginCapture(r.stream, cudaStreamCaptureModeThreadLocal), "beginning capture");
  for (int i = 0; i < iters; ++i) {
    Status s2 = op(i);
    if (!s2.ok()) {
      cudaGraph_t g = nullptr;
      cudaStreamEndCapture(r.stream, &g);
      if (g) cudaGraphDestroy(g);
      cudaGetLastError();
      return s2;
    }
  }
  SQEX_CUDA_TRY(cudaStreamEndCapture(r.stream, &r.graph), "ending capture");
  // cudaGraphInstantiateWithFlags: the one spelling CUDA 11.4+ and 12+ share (cudaGraphInstantiate
  // changed its signature in CUDA 12).
  SQEX_CUDA_TRY(cudaGraphInstantiateWithFlags(&r.exec, r.graph, 0), "instantiating the graph");
  SQEX_CUDA_TRY(cudaGraphLaunch(r.exec, r.stream), "launching the graph");
  std::vector<double> per;
  for (int rep = 0; rep < 5; ++rep) {
    SQEX_CUDA_TRY(cudaEventRecord(r.events[0], r.stream), "recording an event");
    SQEX_CUDA_TRY(cudaGraphLaunch(r.exec, r.stream), "launching the graph");
    SQEX_CUDA_TRY(cudaEventRecord(r.events[1], r.stream), "recording an event");
    SQEX_CUDA_TRY(cudaEventSynchronize(r.events[1]), "waiting for the graph");
    float ms = 0;
    SQEX_CUDA_TRY(cudaEventElapsedTime(&ms, r.events[0], r.events[1]), "reading an event");
    per.push_back(ms * 1000.0 / iters);
  }
  out->op_graph_us = median(per);
  SQEX_CUDA_TRY(cudaStreamSynchronize(r.stream), "waiting for the benchmark");
  cuda::release_stream_caches(device, r.stream);
  out->rotating_sets = sets;
  out->bytes = static_cast<int64_t>(xb);
  return Status::Ok();
}

}  // namespace sqex
