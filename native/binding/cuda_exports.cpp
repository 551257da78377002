#include "binding/cuda_exports.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "binding/async_worker.h"
#include "binding/convert.h"
#include "binding/env_state.h"
#include "binding/errors.h"
#include "binding/host_staging.h"
#include "binding/own_property.h"
#include "sqex/cuda_api.h"

namespace sqex::binding {
namespace {

int DeviceArg(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsNumber()) ThrowTypeError(info.Env(), "device must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d < 65536) || static_cast<int>(d) != d) {
    ThrowRangeError(info.Env(), "device must be an integer in [0, 65535]");
  }
  return static_cast<int>(d);
}

void* PointerArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  return reinterpret_cast<void*>(static_cast<uintptr_t>(BigIntToU64(info.Env(), info[i], what)));
}
void* StreamArg(const Napi::CallbackInfo& info, size_t i) { return PointerArg(info, i, "stream"); }
void* PtrArg(const Napi::CallbackInfo& info, size_t i) { return PointerArg(info, i, "ptr"); }

// ---- CUDA status and memory --------------------------------------------------------------------

Napi::Value VersionString(const Napi::Env& env, int v) {
  if (v <= 0) return env.Null();
  return Napi::String::New(env, std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10));
}

Napi::Value CudaStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CudaStatusInfo s = cuda_status();
  auto o = Napi::Object::New(env);
  SetOwn(o, "compiled", s.compiled);
  SetOwn(o, "available", s.available);
  SetOwn(o, "deviceCount", s.device_count);
  SetOwn(o, "driverVersion", VersionString(env, s.driver_version));
  SetOwn(o, "runtimeVersion", VersionString(env, s.runtime_version));
  SetOwn(o, "minDriverVersion", VersionString(env, s.min_driver_version));
  SetOwn(o, "reason", s.reason.empty() ? env.Null() : Napi::String::New(env, s.reason));
  auto devices = Napi::Array::New(env, s.devices.size());
  for (size_t i = 0; i < s.devices.size(); ++i) {
    const auto& d = s.devices[i];
    auto dev = Napi::Object::New(env);
    SetOwn(dev, "index", d.index);
    SetOwn(dev, "name", d.name);
    SetOwn(dev, "computeCapability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor));
    SetOwn(dev, "multiprocessors", d.sm_count);
    SetOwn(dev, "totalMemory", static_cast<double>(d.total_memory));
    SetOwn(dev, "l2Bytes", static_cast<double>(d.l2_bytes));
    SetOwn(devices, static_cast<uint32_t>(i), dev);
  }
  SetOwn(o, "devices", devices);
  return o;
}

// Tells V8 how much device memory this env's DeviceTensors and blocks hold. V8 weighs a tensor as
// its few hundred bytes of JavaScript otherwise, so tensors dropped undisposed waited for a
// collection that nothing prompted (a leak soak: 4.4 GiB in 3 s); counted as external memory, they
// prompt one (V8 collects once the count grows ~64 MB past the last collection's). Advisory: a
// failure to report changes nothing that is allocated or freed.
void ReportExternalMemory(Napi::Env env, int64_t change) {
  int64_t adjusted = 0;
  (void)napi_adjust_external_memory(env, change, &adjusted);
}

// What an out-of-memory error adds: how much of the device this env's own tensors and blocks
// hold, and the usual fix (forgotten tensors are the usual cause: they wait for a collection).
std::string HeldAdvice(const std::unordered_map<uintptr_t, EnvState::DeviceAllocation>& owned, int device) {
  size_t held = 0;
  for (const auto& entry : owned) {
    if (entry.second.device == device) held += entry.second.bytes;
  }
  char buf[400];
  if (held > 0) {
    std::snprintf(buf, sizeof buf,
                  ". DeviceTensors and blocks made on this thread hold %.1f MiB of device %d: dispose() those no "
                  "longer needed (a forgotten one is freed only after a garbage collection, once the event loop "
                  "turns), or use a smaller batch",
                  held / 1048576.0, device);
  } else {
    std::snprintf(buf, sizeof buf,
                  ". DeviceTensors and blocks made on this thread hold none of device %d: use a smaller batch, or "
                  "free what other threads or processes hold there (nvidia-smi lists the processes)",
                  device);
  }
  return buf;
}

Napi::Value CudaAlloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckArgCount(info, 2, "cudaAlloc");
  int device = DeviceArg(info, 0);
  if (!info[1].IsNumber()) ThrowTypeError(env, "bytes must be a number");
  double bytes = info[1].As<Napi::Number>().DoubleValue();
  if (!(bytes >= 1 && bytes <= 9007199254740991.0) || static_cast<double>(static_cast<int64_t>(bytes)) != bytes) {
    ThrowRangeError(env, "bytes must be a positive integer");
  }
  auto& owned = StateOf(env).device_allocations;
  void* ptr = nullptr;
  Status s = cuda_alloc(device, static_cast<size_t>(bytes), &ptr);
  if (!s.ok()) {
    if (s.code == StatusCode::Cuda && s.cuda_name == "cudaErrorMemoryAllocation") s.message += HeldAdvice(owned, device);
    ThrowStatus(env, s);
  }
  const size_t size = static_cast<size_t>(bytes);
  try {
    owned.emplace(reinterpret_cast<uintptr_t>(ptr), EnvState::DeviceAllocation{device, size});  // may throw bad_alloc
  } catch (...) {
    (void)cuda_free(device, ptr);  // unrecorded memory would never be freed
    throw;
  }
  ReportExternalMemory(env, static_cast<int64_t>(size));
  return U64ToBigInt(env, reinterpret_cast<uintptr_t>(ptr));
}

Napi::Value CudaFree(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckArgCount(info, 2, "cudaFree");
  int device = DeviceArg(info, 0);
  void* ptr = PtrArg(info, 1);
  if (ptr == nullptr) return env.Undefined();  // as cudaFree(NULL)
  // Only what cudaAlloc returned in this env, once: the raw export is reachable from user code,
  // and another thread's memory, memory wrapped by fromPointer or a second free must not reach
  // cudaFree (it would free memory something else still uses).
  auto& owned = StateOf(env).device_allocations;
  const auto it = owned.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == owned.end()) {
    ThrowRangeError(env, "cudaFree: ptr is not device memory that cudaAlloc returned on this thread, or it was freed already");
  }
  if (it->second.device != device) {
    ThrowRangeError(env, "cudaFree: ptr was allocated on device " + std::to_string(it->second.device) +
                             ", not on device " + std::to_string(device));
  }
  const size_t size = it->second.bytes;
  owned.erase(it);  // even if the free fails: CUDA has either freed it or will not free it later
  ReportExternalMemory(env, -static_cast<int64_t>(size));
  Status s = cuda_free(device, ptr);
  if (!s.ok()) ThrowStatus(env, s);
  return env.Undefined();
}

struct HostView {
  void* data = nullptr;
  size_t bytes = 0;
};

HostView ViewArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsTypedArray()) {
    ThrowTypeError(info.Env(), std::string(what) + " must be a TypedArray");
  }
  auto ta = info[i].As<Napi::TypedArray>();
  HostView v;
  v.data = TypedArrayData(ta);
  v.bytes = ta.ByteLength();
  return v;
}

Napi::Value CudaUpload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckArgCount(info, 4, "cudaUpload");
  int device = DeviceArg(info, 0);
  void* ptr = PtrArg(info, 1);
  HostView src = ViewArg(info, 2, "src");
  Status s = cuda_upload(device, ptr, src.data, src.bytes, StreamArg(info, 3));
  if (!s.ok()) ThrowStatus(env, s);
  return env.Undefined();
}

Napi::Value CudaDownload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckArgCount(info, 4, "cudaDownload");
  int device = DeviceArg(info, 0);
  void* ptr = PtrArg(info, 1);
  HostView dst = ViewArg(info, 2, "dst");
  Status s = cuda_download(device, dst.data, ptr, dst.bytes, StreamArg(info, 3));
  if (!s.ok()) ThrowStatus(env, s);
  return env.Undefined();
}

Napi::Value CudaDownloadAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckArgCount(info, 4, "cudaDownloadAsync");
  int device = DeviceArg(info, 0);
  void* ptr = PtrArg(info, 1);
  HostView dst = ViewArg(info, 2, "dst");
  void* stream = StreamArg(info, 3);
  // Enqueue the snapshot here, so the download keeps its place in the stream; wait off-thread,
  // into memory this call owns, and copy into dst on this thread once it is checked to still
  // have its length (dst is JS memory: see host_staging.h).
  std::shared_ptr<uint8_t[]> staged(new (std::nothrow) uint8_t[dst.bytes]);
  if (!staged && dst.bytes > 0) {
    throw OutOfMemoryError(env, "the host copy an async toHost stages the download in", static_cast<double>(dst.bytes),
                           "toHostSync() downloads into the result directly, with no second copy; or free memory.");
  }
  CudaPendingDownload pending;
  Status s = cuda_download_begin(device, staged.get(), ptr, dst.bytes, stream, &pending);
  if (!s.ok()) ThrowStatus(env, s);
  // Until the worker owns it, the pending snapshot (device memory and an event) is this frame's:
  // if what follows throws (out of memory), wait for it and free it rather than leak it.
  struct PendingGuard {
    const CudaPendingDownload* p;
    void* staged;
    ~PendingGuard() {
      if (!p) return;
      try {
        cuda_download_finish(*p, staged);
      } catch (...) {  // out of memory again: a leak, not std::terminate during unwinding
      }
    }
  } guard{&pending, staged.get()};
  auto target = std::make_shared<Napi::ObjectReference>(Napi::Persistent(info[2].As<Napi::Object>()));
  const size_t bytes = dst.bytes;
  Napi::Value promise = Queue(
      env, [=] { return cuda_download_finish(pending, staged.get()); },
      [=](const Napi::Env& e, Napi::Error* error) -> Napi::Value {
        Napi::Value v = target->Value();
        if (!v.IsTypedArray() || v.As<Napi::TypedArray>().ByteLength() != bytes) {
          *error = ArrayChangedError(e, "dst");
          return e.Undefined();
        }
        auto ta = v.As<Napi::TypedArray>();
        std::memcpy(TypedArrayData(ta), staged.get(), bytes);
        return v;
      });
  guard.p = nullptr;  // queued: the worker finishes it
  return promise;
}

Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckArgCount(info, 2, "cudaSynchronize");
  Status s = cuda_stream_synchronize(DeviceArg(info, 0), StreamArg(info, 1));
  if (!s.ok()) ThrowStatus(env, s);
  return env.Undefined();
}

Napi::Value CudaMemInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckArgCount(info, 1, "cudaMemInfo");
  size_t free_bytes = 0, total_bytes = 0;
  Status s = cuda_mem_info(DeviceArg(info, 0), &free_bytes, &total_bytes);
  if (!s.ok()) ThrowStatus(env, s);
  auto o = Napi::Object::New(env);
  SetOwn(o, "free", static_cast<double>(free_bytes));
  SetOwn(o, "total", static_cast<double>(total_bytes));
  return o;
}

// ---- CUDA forward ------------------------------------------------------------------------------

Napi::Value CudaForwardHost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckArgCount(info, 3, "cudaForwardHost");
  ParsedCfg cfg = ParseCfg(env, info[0]);
  if (cfg.params.dtype != DType::F32) ThrowTypeError(env, "host arrays are float32");
  void* stream = StreamArg(info, 2);
  HostArrays a = ParseHostOperands(env, info[1], cfg.params, /*weights_only=*/false, /*allocate_result=*/true);
  Napi::Value result = a.keep[kOut];
  Status s = cuda_forward_host(cfg.params, WeightsFrom(a.ptr), TensorsFrom(a), cfg.device, stream);
  if (!s.ok()) ThrowStatus(env, s);
  return result;
}

Napi::Value CudaForwardHostAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckArgCount(info, 3, "cudaForwardHostAsync");
  ParsedCfg cfg = ParseCfg(env, info[0]);
  if (cfg.params.dtype != DType::F32) ThrowTypeError(env, "host arrays are float32");
  OpParams p = cfg.params;
  int device = cfg.device;
  void* stream = StreamArg(info, 2);
  auto call = std::make_shared<StagedHostCall>(env, info[1], p);
  return QueueStaged(env, call, device, [p, device, stream](const Weights& w, const Tensors& t) {
    return cuda_forward_host(p, w, t, device, stream);
  });
}

struct DevicePtrs {
  std::array<void*, kSlotCount> ptr{};
};

// Reads the (pointer, byte length) pairs and checks each present slot covers its tensor.
DevicePtrs ParseDevicePtrs(const Napi::Env& env, const Napi::Value& v, const OpParams& p, bool host_weights) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
    ThrowTypeError(env, "dev must be a BigUint64Array");
  }
  auto arr = v.As<Napi::TypedArray>();
  if (arr.ElementLength() != 2 * kSlotCount) {
    ThrowRangeError(env, "dev must have " + std::to_string(2 * kSlotCount) + " entries");
  }
  const uint64_t* d = static_cast<const uint64_t*>(TypedArrayData(arr));
  static const char* names[kSlotCount] = {"x", "residual", "out", "scaleOut", "w1", "b1", "w2", "b2", "aux"};
  SlotSizes sizes = ExpectedSlots(p);
  DevicePtrs out;
  for (int slot = 0; slot < kSlotCount; ++slot) {
    if (host_weights && slot >= kW1) continue;
    uint64_t ptr = d[2 * slot];
    uint64_t bytes = d[2 * slot + 1];
    if (ptr == 0) {
      if (sizes.required[slot]) {
        ThrowTypeError(env, std::string("device operand ") + names[slot] + " is required");
      }
      continue;
    }
    if (!sizes.allowed[slot]) {
      ThrowTypeError(env, std::string("device operand ") + names[slot] + " is not used by this op");
    }
    const bool activation = slot == kX || slot == kResidual || slot == kOut;
    const uint64_t need = static_cast<uint64_t>(sizes.elems[slot]) * (activation ? dtype_size(p.dtype) : 4);
    if (bytes < need) {
      ThrowRangeError(env, std::string("device operand ") + names[slot] + " must have at least " +
                                           std::to_string(need) + " bytes; received " + std::to_string(bytes));
    }
    out.ptr[slot] = reinterpret_cast<void*>(static_cast<uintptr_t>(ptr));
  }
  return out;
}

struct DeviceCall {
  OpParams p;
  int device = 0;
  Tensors t;
  Weights w;
  bool host_weights = false;
  void* stream = nullptr;
  HostArrays hw;
};

DeviceCall ParseDeviceCall(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  CheckArgCount(info, 4, fn);
  DeviceCall c;
  ParsedCfg cfg = ParseCfg(env, info[0]);
  c.p = cfg.params;
  c.device = cfg.device;
  c.host_weights = !(info[2].IsNull() || info[2].IsUndefined());
  DevicePtrs d = ParseDevicePtrs(env, info[1], c.p, c.host_weights);
  c.t.x = d.ptr[kX];
  c.t.residual = d.ptr[kResidual];
  c.t.y = d.ptr[kOut];
  c.t.scale_out = static_cast<float*>(d.ptr[kScaleOut]);
  if (c.host_weights) {
    c.hw = ParseHostOperands(env, info[2], c.p, /*weights_only=*/true);
    c.w = WeightsFrom(c.hw.ptr);
  } else {
    std::array<float*, kSlotCount> wp{};
    for (int slot = kW1; slot < kSlotCount; ++slot) wp[slot] = static_cast<float*>(d.ptr[slot]);
    c.w = WeightsFrom(wp);
  }
  c.stream = StreamArg(info, 3);
  return c;
}

Status RunDeviceCall(const DeviceCall& c) {
  return c.host_weights ? cuda_forward_host_weights(c.p, c.w, c.t, c.device, c.stream)
                        : cuda_forward(c.p, c.w, c.t, c.device, c.stream);
}

Napi::Value CudaForwardDevice(const Napi::CallbackInfo& info) {
  DeviceCall c = ParseDeviceCall(info, "cudaForwardDevice");
  Status s = RunDeviceCall(c);
  if (!s.ok()) ThrowStatus(info.Env(), s);
  return info.Env().Undefined();
}

Napi::Value CudaForwardDeviceAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceCall c = ParseDeviceCall(info, "cudaForwardDeviceAsync");
  // Enqueue on this thread so calls keep their order on the stream; only the wait goes off-thread.
  Status s = RunDeviceCall(c);
  if (!s.ok()) ThrowStatus(env, s);
  int device = c.device;
  void* stream = c.stream;
  return Queue(env, [=] { return cuda_stream_synchronize(device, stream); });
}

Napi::Value CudaBenchmark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckArgCount(info, 3, "cudaBenchmark");
  ParsedCfg cfg = ParseCfg(env, info[0]);
  HostArrays hw = ParseHostOperands(env, info[1], cfg.params, /*weights_only=*/true);
  if (!info[2].IsNumber()) ThrowTypeError(env, "iters must be a number");
  const double iters_d = info[2].As<Napi::Number>().DoubleValue();
  if (!(iters_d >= 1 && iters_d <= 100000) || static_cast<double>(static_cast<int>(iters_d)) != iters_d) {
    ThrowRangeError(env, "iters must be an integer in [1, 100000]");
  }
  const int iters = static_cast<int>(iters_d);
  CudaBenchResult r;
  Status s = cuda_benchmark(cfg.params, WeightsFrom(hw.ptr), cfg.device, iters, &r);
  if (!s.ok()) ThrowStatus(env, s);
  auto o = Napi::Object::New(env);
  SetOwn(o, "opUs", r.op_us);
  SetOwn(o, "copyUs", r.copy_us);
  SetOwn(o, "opGraphUs", r.op_graph_us);
  SetOwn(o, "rotatingSets", r.rotating_sets);
  SetOwn(o, "bytes", static_cast<double>(r.bytes));
  return o;
}

}  // namespace

void SetCudaExports(Napi::Env env, Napi::Object exports) {
  ExportFunction<CudaStatus>(env, exports, "cudaStatus");
  ExportFunction<CudaForwardHost>(env, exports, "cudaForwardHost");
  ExportFunction<CudaForwardHostAsync>(env, exports, "cudaForwardHostAsync");
  ExportFunction<CudaForwardDevice>(env, exports, "cudaForwardDevice");
  ExportFunction<CudaForwardDeviceAsync>(env, exports, "cudaForwardDeviceAsync");
  ExportFunction<CudaAlloc>(env, exports, "cudaAlloc");
  ExportFunction<CudaFree>(env, exports, "cudaFree");
  ExportFunction<CudaUpload>(env, exports, "cudaUpload");
  ExportFunction<CudaDownload>(env, exports, "cudaDownload");
  ExportFunction<CudaDownloadAsync>(env, exports, "cudaDownloadAsync");
  ExportFunction<CudaSynchronize>(env, exports, "cudaSynchronize");
  ExportFunction<CudaMemInfo>(env, exports, "cudaMemInfo");
  ExportFunction<CudaBenchmark>(env, exports, "cudaBenchmark");
}

}  // namespace sqex::binding
