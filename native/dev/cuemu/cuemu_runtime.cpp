// The CUDA runtime API as native/cuda/*.cpp and the harness use it, over host memory:
// every call is synchronous, one emulated device (CUEMU_SMS multiprocessors, default 4, with
// an H100's shared-memory sizes), graphs unsupported. See cuemu.h.
#include "cuemu.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <new>
#include <set>

namespace {
// The emulated device's memory: its totalGlobalMem, and the bound of cudaMalloc (below).
constexpr size_t kTotalMem = size_t(80) << 30;
thread_local cudaError_t t_last = cudaSuccess;
cudaError_t ret(cudaError_t e) {
  if (e != cudaSuccess) t_last = e;
  return e;
}
int sm_count() {
  const char* s = std::getenv("CUEMU_SMS");
  const int n = s ? std::atoi(s) : 4;
  return n > 0 ? n : 4;
}
constexpr int kSmemPerSm = 233472, kSmemOptin = 232448, kReserved = 1024, kStaticSmem = 16;
struct Event {
  std::chrono::steady_clock::time_point t;
};
}  // namespace

namespace cuemu {
namespace {
std::set<void*>& g_streams = *new std::set<void*>;  // live cudaStreamCreate handles (under stream_mutex)
}  // namespace
Stream* stream_of(cudaStream_t s) {
  if (reinterpret_cast<uintptr_t>(s) <= 2) return nullptr;  // 0, cudaStreamLegacy, cudaStreamPerThread
  std::lock_guard<std::recursive_mutex> l(stream_mutex());
  if (!g_streams.count(s)) trap("a stream handle that cudaStreamCreate did not return, or one destroyed");
  return reinterpret_cast<Stream*>(s);
}
}  // namespace cuemu

extern "C" {

cudaError_t cudaGetLastError(void) {
  const cudaError_t e = t_last;
  t_last = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) { return t_last; }
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    default: return "cudaErrorUnknown";
  }
}
const char* cudaGetErrorString(cudaError_t e) {
  return e == cudaSuccess ? "no error" : e == cudaErrorNotSupported ? "operation not supported (cuemu)" : "cuemu error";
}
cudaError_t cudaDriverGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) { return ret(d == 0 ? cudaSuccess : cudaErrorInvalidDevice); }
cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d) {
  if (d != 0) return ret(cudaErrorInvalidDevice);
  std::memset(p, 0, sizeof *p);
  std::snprintf(p->name, sizeof p->name, "cuemu (CPU emulation, %d SMs)", sm_count());
  p->multiProcessorCount = sm_count();
  p->sharedMemPerMultiprocessor = kSmemPerSm;
  p->sharedMemPerBlockOptin = kSmemOptin;
  p->sharedMemPerBlock = 49152;
  p->reservedSharedMemPerBlock = kReserved;
  p->l2CacheSize = 50 << 20;
  p->major = 9;
  p->minor = 0;
  p->totalGlobalMem = kTotalMem;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsPerMultiProcessor = 2048;
  p->regsPerMultiprocessor = 65536;
  p->regsPerBlock = 65536;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int d) {
  cudaDeviceProp p;
  if (cudaGetDeviceProperties(&p, d) != cudaSuccess) return ret(cudaErrorInvalidDevice);
  switch (a) {
    case cudaDevAttrMultiProcessorCount: *v = p.multiProcessorCount; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = kSmemOptin; break;
    case cudaDevAttrComputeCapabilityMajor: *v = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *v = 0; break;
    default: return ret(cudaErrorNotSupported);
  }
  return cudaSuccess;
}
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* a, const void*) {
  std::memset(a, 0, sizeof *a);
  a->sharedSizeBytes = kStaticSmem;
  a->maxThreadsPerBlock = 1024;
  a->numRegs = 64;
  a->maxDynamicSharedSizeBytes = kSmemOptin - kStaticSmem;
  return cudaSuccess;
}
cudaError_t cudaFuncSetAttribute(const void* f, cudaFuncAttribute attr, int v) {
  if (v > kSmemOptin) return ret(cudaErrorInvalidValue);
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) cuemu::set_max_dynamic_smem(f, v);
  return cudaSuccess;
}
// Threads, 64 registers a thread (the kernels' launch bounds), and shared memory as on sm_90.
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* n, const void*, int threads, size_t smem) {
  if (threads <= 0) return ret(cudaErrorInvalidValue);
  int b = 2048 / threads;
  b = std::min(b, 65536 / (threads * 64));
  const long per = static_cast<long>(smem) + kStaticSmem + kReserved;
  b = std::min<long>(b, kSmemPerSm / per);
  *n = std::max(b, 0);
  return cudaSuccess;
}
// Live allocations, so that freeing a pointer cudaMalloc did not return is an error (as on a
// GPU) instead of heap corruption; pinned host memory (cudaMallocHost) is kept apart, so that
// cudaFree of it, or cudaFreeHost of device memory, is an error too. Device memory is counted:
// cudaMemGetInfo's free is kTotalMem less the live device allocations (a leak shows), and an
// allocation larger than that fails with cudaErrorMemoryAllocation as on a GPU, instead of
// depending on the host's overcommit.
struct Alloc {
  size_t n;
  bool host;
};
std::mutex& g_alloc_mutex = *new std::mutex;
std::map<void*, Alloc>& g_allocs = *new std::map<void*, Alloc>;
size_t g_device_bytes = 0;  // live cudaMalloc'd bytes (under g_alloc_mutex)

// Freed memory is filled with kFreedByte and held back (up to kQuarantineBytes, oldest released
// first) instead of returned to the heap; it is checked when released and at exit, so a kernel or
// copy that writes to device memory after its cudaFree (a workspace freed under a queued launch, a
// replayed graph's stale pointer) traps even without AddressSanitizer. A read after free sees
// 0xDD bytes (counters ~3.7e9, floats ~ -2e18). A block larger than the whole quarantine is
// returned to the heap at once, unpoisoned (ASan builds still see a use after its free).
namespace {
constexpr unsigned char kFreedByte = 0xDD;
constexpr size_t kQuarantineBytes = size_t(256) << 20;
struct Freed {
  unsigned char* p;
  size_t n;
};
std::deque<Freed>& g_quarantine = *new std::deque<Freed>;
size_t g_quarantine_bytes = 0;
void release_checked(const Freed& f) {
  // compared a page at a time (memcmp), not byte by byte: the addon's suites free GiB-sized tensors
  static unsigned char freed_page[4096];
  static const bool filled = (std::memset(freed_page, kFreedByte, sizeof freed_page), true);
  (void)filled;
  for (size_t i = 0; i < f.n; i += sizeof freed_page) {
    const size_t len = std::min(sizeof freed_page, f.n - i);
    if (std::memcmp(f.p + i, freed_page, len) != 0)
      cuemu::trap("device memory was written after its cudaFree (use after free)");
  }
  std::free(f.p);
}
void check_quarantine_at_exit() {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  for (const Freed& f : g_quarantine) release_checked(f);
  g_quarantine.clear();
}
cudaError_t alloc(void** p, size_t n, bool host) {
  static const bool registered = std::atexit(check_quarantine_at_exit) == 0;
  (void)registered;
  {
    // n is counted in the same critical section as the check (two threads checking, then both
    // adding, could pass kTotalMem, and kTotalMem - g_device_bytes would then wrap), and given
    // back if the host allocation fails.
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    if (!host && n > kTotalMem - g_device_bytes) {
      *p = nullptr;
      return ret(cudaErrorMemoryAllocation);
    }
    if (!host) g_device_bytes += n;
  }
  // exactly n bytes (256-byte aligned, as cudaMalloc), so that ASan sees any overrun
  if (posix_memalign(p, 256, n ? n : 1) != 0) {
    *p = nullptr;
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    if (!host) g_device_bytes -= n;
    return ret(cudaErrorMemoryAllocation);
  }
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  g_allocs[*p] = Alloc{n, host};
  return cudaSuccess;
}
cudaError_t release(void* p, bool host) {
  if (!p) return cudaSuccess;
  // A GPU's cudaFree waits for the device: never while another thread's launch runs.
  std::lock_guard<std::recursive_mutex> stream_lock(cuemu::stream_mutex());
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  auto it = g_allocs.find(p);
  if (it == g_allocs.end() || it->second.host != host) return ret(cudaErrorInvalidValue);
  const Freed f{static_cast<unsigned char*>(p), it->second.n};
  if (!host) g_device_bytes -= f.n;
  g_allocs.erase(it);
  if (f.n > kQuarantineBytes) {
    // It would be released again at once (oldest first, itself last): poisoning it and checking
    // the poison right away finds nothing and touches every page (a 1 GiB tensor: seconds).
    std::free(f.p);
    return cudaSuccess;
  }
  std::memset(f.p, kFreedByte, f.n);
  g_quarantine.push_back(f);
  g_quarantine_bytes += f.n;
  while (g_quarantine_bytes > kQuarantineBytes) {
    const Freed old = g_quarantine.front();
    g_quarantine.pop_front();
    g_quarantine_bytes -= old.n;
    release_checked(old);
  }
  return cudaSuccess;
}
}  // namespace
cudaError_t cudaMalloc(void** p, size_t n) { return alloc(p, n, false); }
cudaError_t cudaFree(void* p) { return release(p, false); }
cudaError_t cudaMallocAsync(void** p, size_t n, cudaStream_t) {
  std::lock_guard<std::recursive_mutex> l(cuemu::stream_mutex());
  return cudaMalloc(p, n);
}
cudaError_t cudaFreeAsync(void* p, cudaStream_t) { return cudaFree(p); }  // (cudaFree takes the stream mutex)
cudaError_t cudaMallocHost(void** p, size_t n) { return alloc(p, n, true); }
cudaError_t cudaFreeHost(void* p) { return release(p, true); }
cudaError_t cudaMemGetInfo(size_t* free_b, size_t* total) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  *free_b = kTotalMem - g_device_bytes;
  *total = kTotalMem;
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) {
  std::lock_guard<std::recursive_mutex> l(cuemu::stream_mutex());  // ordered with the streams' work
  if (n) std::memmove(d, s, n);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind k, cudaStream_t st) {
  std::lock_guard<std::recursive_mutex> l(cuemu::stream_mutex());
  if (cuemu::record(st, [=] { cudaMemcpy(d, s, n, k); })) return cudaSuccess;
  return cudaMemcpy(d, s, n, k);
}
cudaError_t cudaMemset(void* d, int v, size_t n) {
  std::lock_guard<std::recursive_mutex> l(cuemu::stream_mutex());
  std::memset(d, v, n);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t st) {
  std::lock_guard<std::recursive_mutex> l(cuemu::stream_mutex());
  if (cuemu::record(st, [=] { cudaMemset(d, v, n); })) return cudaSuccess;
  return cudaMemset(d, v, n);
}
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
cudaError_t cudaStreamCreate(cudaStream_t* s) {
  std::lock_guard<std::recursive_mutex> l(cuemu::stream_mutex());
  *s = reinterpret_cast<cudaStream_t>(new cuemu::Stream);
  cuemu::g_streams.insert(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) { return cudaStreamCreate(s); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> l(cuemu::stream_mutex());
  if (!cuemu::g_streams.erase(s)) return ret(cudaErrorInvalidResourceHandle);
  delete reinterpret_cast<cuemu::Stream*>(s);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  cuemu::stream_of(s);  // a bad handle traps
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* st) {
  std::lock_guard<std::recursive_mutex> l(cuemu::stream_mutex());
  const cuemu::Stream* str = cuemu::stream_of(s);
  *st = str && str->capturing ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}
// Capture records the stream's launches, copies and memsets (cuemu::Stream); a graph replays them.
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  std::lock_guard<std::recursive_mutex> l(cuemu::stream_mutex());
  auto* st = cuemu::stream_of(s);
  // the legacy default stream cannot be captured; cudaStreamPerThread could be on a GPU, not here
  if (!st) return ret(cudaErrorStreamCaptureUnsupported);
  st->capturing = true;
  st->recorded.clear();
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
  std::lock_guard<std::recursive_mutex> l(cuemu::stream_mutex());
  auto* st = cuemu::stream_of(s);
  if (!st || !st->capturing) return ret(cudaErrorIllegalState);
  st->capturing = false;
  *g = reinterpret_cast<cudaGraph_t>(new std::vector<std::function<void()>>(std::move(st->recorded)));
  st->recorded.clear();
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long) {
  *e = reinterpret_cast<cudaGraphExec_t>(
      new std::vector<std::function<void()>>(*reinterpret_cast<std::vector<std::function<void()>>*>(g)));
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long f) {
  return cudaGraphInstantiate(e, g, f);
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t) {
  std::lock_guard<std::recursive_mutex> l(cuemu::stream_mutex());
  for (auto& op : *reinterpret_cast<std::vector<std::function<void()>>*>(e)) op();
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete reinterpret_cast<std::vector<std::function<void()>>*>(g);
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
  delete reinterpret_cast<std::vector<std::function<void()>>*>(e);
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = reinterpret_cast<cudaEvent_t>(new Event{});
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) { return cudaEventCreate(e); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete reinterpret_cast<Event*>(e);
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  reinterpret_cast<Event*>(e)->t = std::chrono::steady_clock::now();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  *ms = std::chrono::duration<float, std::milli>(reinterpret_cast<Event*>(b)->t - reinterpret_cast<Event*>(a)->t).count();
  return cudaSuccess;
}

}  // extern "C"
