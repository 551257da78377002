// Devices: CUDA errors as a Status, device selection and properties (cached), and cuda_status():
// the driver and runtime versions, the devices, and why CUDA cannot be used where it cannot.
#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

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

}  // namespace

Status set_device(int device) {
  SQEX_CUDA_TRY(cudaSetDevice(device), "selecting device " + std::to_string(device));
  return Status::Ok();
}

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

}  // namespace cuda

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

}  // namespace sqex
