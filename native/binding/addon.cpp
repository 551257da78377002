// N-API entry points. Everything here converts, re-checks and dispatches; the work itself is in
// native/cpu and native/cuda. The module keeps no per-environment state, so it is context-aware
// and safe to load from several worker_threads at once.
#include <napi.h>

#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "binding/convert.h"
#include "binding/env_state.h"
#include "binding/host_staging.h"
#include "binding/module_pin.h"
#include "binding/result_array.h"
#include "sqex/cpu.h"
#include "sqex/cuda_api.h"

#ifndef SQEX_VERSION
#define SQEX_VERSION "0.0.0"
#endif
#ifndef SQEX_BUILD_SYSTEM
#define SQEX_BUILD_SYSTEM "unknown"
#endif

namespace sqex::binding {
namespace {

// What runs on the calling thread when the work succeeded: writes results back (async host
// calls) and gives the value the promise resolves with, or sets *error to reject it instead.
using Settle = std::function<Napi::Value(const Napi::Env&, Napi::Error*)>;

// Runs `work` on the libuv thread pool and settles a promise with its Status (and `settle`).
// `work` and `settle` must own or keep alive everything they touch: see host_staging.h.
class StatusWorker : public Napi::AsyncWorker {
 public:
  StatusWorker(const Napi::Env& env, std::function<Status()> work, Settle settle)
      : Napi::AsyncWorker(env, "squeeze-excite"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        settle_(std::move(settle)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  // The handlers allocate nothing: when memory ran out, building a Status message (a std::string)
  // throws std::bad_alloc again, which node-addon-api turns into an uncoded Error("std::bad_alloc").
  // The coded error is made on the calling thread (OnOK) instead.
  void Execute() override {
    try {
      status_ = work_();
    } catch (const std::bad_alloc&) {
      out_of_memory_ = true;
    } catch (const std::exception& e) {
      try {
        status_ = Status::Error(StatusCode::Internal, e.what());
      } catch (...) {
        out_of_memory_ = true;
      }
    } catch (...) {
      try {
        status_ = Status::Error(StatusCode::Internal, "unknown native exception");
      } catch (...) {
        out_of_memory_ = true;
      }
    }
  }
  // node-addon-api calls OnOK through a wrapper that catches only Napi::Error (a std::bad_alloc
  // from building a message would reach std::terminate, and a Napi::Error would be thrown as an
  // uncaught exception instead of rejecting): every outcome settles the promise.
  // A deferred is concluded once: when Resolve/Reject itself threw (V8 refused it, e.g. a worker
  // being terminated), Node has already released it, so the handlers below try nothing more.
  void OnOK() override {
    Napi::Env env = Env();
    try {
      Complete(env);
    } catch (const Napi::Error& e) {
      if (!concluding_) Conclude([&] { deferred_.Reject(e.Value()); });
    } catch (const std::bad_alloc&) {
      RejectOutOfMemory(env);
    } catch (const std::exception& e) {
      RejectInternal(env, e.what());
    } catch (...) {
      RejectInternal(env, "unknown native exception");
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  // Runs `settle` (one Resolve or Reject) once; a throw from it propagates.
  template <class F>
  void Conclude(F&& settle) {
    concluding_ = true;
    settle();
  }

  // A coded Error made without the C++ heap where it can be (V8's heap only) when even the
  // message of OutOfMemoryError could not be built.
  void RejectOutOfMemory(const Napi::Env& env) {
    if (concluding_) return;
    try {
      Napi::Value oom = OutOfMemoryError(env, "host memory for the call", 0).Value();
      Conclude([&] { deferred_.Reject(oom); });
      return;
    } catch (...) {
    }
    if (concluding_) return;
    napi_value code = nullptr, msg = nullptr, err = nullptr;
    if (napi_create_string_utf8(env, "ERR_SQEX_OUT_OF_MEMORY", NAPI_AUTO_LENGTH, &code) == napi_ok &&
        napi_create_string_utf8(env, "squeeze-excite: out of host memory", NAPI_AUTO_LENGTH, &msg) == napi_ok &&
        napi_create_error(env, code, msg, &err) == napi_ok) {
      try {
        Conclude([&] { deferred_.Reject(err); });
      } catch (...) {
      }
    }
  }

  void RejectInternal(const Napi::Env& env, const char* what) {
    if (concluding_) return;
    try {
      Napi::Value err = Coded(Napi::Error::New(env, std::string("squeeze-excite (native): internal error: ") + what),
                              "ERR_SQEX_INTERNAL").Value();
      Conclude([&] { deferred_.Reject(err); });
    } catch (...) {
      RejectOutOfMemory(env);
    }
  }

  void Complete(const Napi::Env& env) {
    if (out_of_memory_) {
      RejectOutOfMemory(env);
      return;
    }
    if (!status_.ok()) {
      Napi::Value err = ErrorFromStatus(env, status_).Value();
      Conclude([&] { deferred_.Reject(err); });
      return;
    }
    if (!settle_) {
      Conclude([&] { deferred_.Resolve(env.Undefined()); });
      return;
    }
    Napi::Error error;
    Napi::Value result = settle_(env, &error);
    if (!error.IsEmpty()) {
      Conclude([&] { deferred_.Reject(error.Value()); });
    } else {
      Conclude([&] { deferred_.Resolve(result); });
    }
  }

  Napi::Promise::Deferred deferred_;
  std::function<Status()> work_;
  Settle settle_;
  Status status_;
  bool out_of_memory_ = false;
  bool concluding_ = false;  // a Resolve or Reject has been attempted
};

Napi::Promise Queue(const Napi::Env& env, std::function<Status()> work, Settle settle = nullptr) {
  auto* worker = new StatusWorker(env, std::move(work), std::move(settle));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// An async host call: operands staged (host_staging.h), the work on the pool, results written
// back on this thread when it settles.
Napi::Promise QueueStaged(const Napi::Env& env, std::shared_ptr<StagedHostCall> call,
                          std::function<Status(const Weights&, const Tensors&)> work) {
  return Queue(
      env, [call, work] { return work(call->weights(), call->tensors()); },
      [call](const Napi::Env& e, Napi::Error* error) { return call->Settle(e, error); });
}

Tensors TensorsFrom(const HostArrays& a) {
  Tensors t;
  t.x = a.ptr[kX];
  t.residual = a.ptr[kResidual];
  t.y = a.ptr[kOut];
  t.scale_out = a.ptr[kScaleOut];
  return t;
}

// The CPU op over parsed host arrays, on this thread (cpuForward, and cpuForwardAsync when it runs
// the op here).
Status ForwardCpuHere(const OpParams& p, const HostArrays& a) { return forward_cpu(p, WeightsFrom(a.ptr), TensorsFrom(a)); }

void CheckArgCount(const Napi::CallbackInfo& info, size_t n, const char* fn) {
  if (info.Length() < n) {
    ThrowTypeError(info.Env(), std::string(fn) + " expects " + std::to_string(n) + " arguments");
  }
}

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

// ---- info --------------------------------------------------------------------------------------

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("version", SQEX_VERSION);
  o.Set("contract", kBindingContract);
  o.Set("napiVersion", NAPI_VERSION);
  o.Set("buildSystem", SQEX_BUILD_SYSTEM);
  o.Set("cudaCompiled", cuda_status().compiled);
  o.Set("simd", cpu_simd_level());
  o.Set("threads", cpu_thread_count());
#ifdef SQEX_PORTABLE_LINK
  o.Set("portableLink", true);
#else
  o.Set("portableLink", false);
#endif
  return o;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  CheckArgCount(info, 1, "setThreads");
  if (!info[0].IsNumber()) ThrowTypeError(info.Env(), "threads must be a number");
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 0 && n <= 256) || static_cast<int>(n) != n) {
    ThrowRangeError(info.Env(), "threads must be an integer in [0, 256] (0: one per CPU the process may run on)");
  }
  cpu_set_thread_count(static_cast<int>(n));
  return info.Env().Undefined();
}

// ---- CPU ---------------------------------------------------------------------------------------

Napi::Value CpuForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckArgCount(info, 2, "cpuForward");
  ParsedCfg cfg = ParseCfg(env, info[0]);
  if (cfg.params.dtype != DType::F32) ThrowTypeError(env, "the CPU backend is float32 only");
  // Without out, a new array (result_array.h) is allocated before any pointer is taken.
  HostArrays a = ParseHostOperands(env, info[1], cfg.params, /*weights_only=*/false, /*allocate_result=*/true);
  Napi::Value result = a.keep[kOut];
  Status s = ForwardCpuHere(cfg.params, a);
  if (!s.ok()) ThrowStatus(env, s);
  return result;
}

// cpuForwardAsync(cfg, ops, offloadAlways?): the op on the pool over staged operands
// (host_staging.h); or, when staging would cost more than the op and offloadAlways is not true,
// on this thread as cpuForward does, the promise returned settled.
Napi::Value CpuForwardAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckArgCount(info, 2, "cpuForwardAsync");
  ParsedCfg cfg = ParseCfg(env, info[0]);
  if (cfg.params.dtype != DType::F32) ThrowTypeError(env, "the CPU backend is float32 only");
  const bool offload_always = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  OpParams p = cfg.params;
  // Without out, a new array (result_array.h) is allocated before any pointer is taken.
  HostArrays a = ParseHostOperands(env, info[1], p, /*weights_only=*/false, /*allocate_result=*/true);
  if (!offload_always && StagingCostsMore(p, a)) {
    auto deferred = Napi::Promise::Deferred::New(env);
    Status s = ForwardCpuHere(p, a);
    if (s.ok()) {
      deferred.Resolve(a.keep[kOut]);
    } else {
      deferred.Reject(ErrorFromStatus(env, s).Value());
    }
    return deferred.Promise();
  }
  auto call = std::make_shared<StagedHostCall>(env, a, p);
  return QueueStaged(env, call, [p](const Weights& w, const Tensors& t) { return forward_cpu(p, w, t); });
}

// ---- CUDA status and memory --------------------------------------------------------------------

Napi::Value VersionString(const Napi::Env& env, int v) {
  if (v <= 0) return env.Null();
  return Napi::String::New(env, std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10));
}

Napi::Value CudaStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CudaStatusInfo s = cuda_status();
  auto o = Napi::Object::New(env);
  o.Set("compiled", s.compiled);
  o.Set("available", s.available);
  o.Set("deviceCount", s.device_count);
  o.Set("driverVersion", VersionString(env, s.driver_version));
  o.Set("runtimeVersion", VersionString(env, s.runtime_version));
  o.Set("minDriverVersion", VersionString(env, s.min_driver_version));
  o.Set("reason", s.reason.empty() ? env.Null() : Napi::String::New(env, s.reason));
  auto devices = Napi::Array::New(env, s.devices.size());
  for (size_t i = 0; i < s.devices.size(); ++i) {
    const auto& d = s.devices[i];
    auto dev = Napi::Object::New(env);
    dev.Set("index", d.index);
    dev.Set("name", d.name);
    dev.Set("computeCapability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor));
    dev.Set("multiprocessors", d.sm_count);
    dev.Set("totalMemory", static_cast<double>(d.total_memory));
    dev.Set("l2Bytes", static_cast<double>(d.l2_bytes));
    devices.Set(static_cast<uint32_t>(i), dev);
  }
  o.Set("devices", devices);
  return o;
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
  if (!s.ok()) ThrowStatus(env, s);
  try {
    owned.emplace(reinterpret_cast<uintptr_t>(ptr), device);  // a node: may throw bad_alloc
  } catch (...) {
    (void)cuda_free(device, ptr);  // unrecorded memory would never be freed
    throw;
  }
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
  if (it->second != device) {
    ThrowRangeError(env, "cudaFree: ptr was allocated on device " + std::to_string(it->second) + ", not on device " +
                             std::to_string(device));
  }
  owned.erase(it);  // even if the free fails: CUDA has either freed it or will not free it later
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
  auto staged = std::shared_ptr<uint8_t[]>(new uint8_t[dst.bytes]);
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
  o.Set("free", static_cast<double>(free_bytes));
  o.Set("total", static_cast<double>(total_bytes));
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
  return QueueStaged(env, call, [p, device, stream](const Weights& w, const Tensors& t) {
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
  o.Set("opUs", r.op_us);
  o.Set("copyUs", r.copy_us);
  o.Set("opGraphUs", r.op_graph_us);
  o.Set("rotatingSets", r.rotating_sets);
  o.Set("bytes", static_cast<double>(r.bytes));
  return o;
}

// Throws the coded error for a C++ exception. Building it allocates (strings, a JS object), and
// memory may be what ran out: if that throws too, the error is set from static strings with
// napi_throw_error (V8's heap, not malloc), so nothing escapes to std::terminate.
void ThrowWithoutAllocating(const Napi::Env& env, const char* code, const char* what) {
  try {
    if (std::strcmp(code, "ERR_SQEX_OUT_OF_MEMORY") == 0) throw OutOfMemoryError(env, what, 0);
    throw Coded(Napi::Error::New(env, std::string("squeeze-excite (native): internal error: ") + what), code);
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    napi_throw_error(env, code, "squeeze-excite (native): out of memory while reporting an error");
  }
}

// Every export runs through this: JS errors pass as they are; a C++ exception that node-addon-api
// would let reach the C boundary (std::terminate, the process ends) becomes a coded JS error.
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  try {
    return Fn(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    ThrowWithoutAllocating(info.Env(), "ERR_SQEX_OUT_OF_MEMORY", "host memory for the call");
  } catch (const std::exception& e) {
    ThrowWithoutAllocating(info.Env(), "ERR_SQEX_INTERNAL", e.what());
  }
  return Napi::Value();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  PinModule();
  InitEnvState(env);
  exports.Set("info", Napi::Function::New(env, Guarded<Info>, "info"));
  exports.Set("setThreads", Napi::Function::New(env, Guarded<SetThreads>, "setThreads"));
  exports.Set("cpuForward", Napi::Function::New(env, Guarded<CpuForward>, "cpuForward"));
  exports.Set("cpuForwardAsync", Napi::Function::New(env, Guarded<CpuForwardAsync>, "cpuForwardAsync"));
  exports.Set("cudaStatus", Napi::Function::New(env, Guarded<CudaStatus>, "cudaStatus"));
  exports.Set("cudaForwardHost", Napi::Function::New(env, Guarded<CudaForwardHost>, "cudaForwardHost"));
  exports.Set("cudaForwardHostAsync", Napi::Function::New(env, Guarded<CudaForwardHostAsync>, "cudaForwardHostAsync"));
  exports.Set("cudaForwardDevice", Napi::Function::New(env, Guarded<CudaForwardDevice>, "cudaForwardDevice"));
  exports.Set("cudaForwardDeviceAsync", Napi::Function::New(env, Guarded<CudaForwardDeviceAsync>, "cudaForwardDeviceAsync"));
  exports.Set("cudaAlloc", Napi::Function::New(env, Guarded<CudaAlloc>, "cudaAlloc"));
  exports.Set("cudaFree", Napi::Function::New(env, Guarded<CudaFree>, "cudaFree"));
  exports.Set("cudaUpload", Napi::Function::New(env, Guarded<CudaUpload>, "cudaUpload"));
  exports.Set("cudaDownload", Napi::Function::New(env, Guarded<CudaDownload>, "cudaDownload"));
  exports.Set("cudaDownloadAsync", Napi::Function::New(env, Guarded<CudaDownloadAsync>, "cudaDownloadAsync"));
  exports.Set("cudaSynchronize", Napi::Function::New(env, Guarded<CudaSynchronize>, "cudaSynchronize"));
  exports.Set("cudaMemInfo", Napi::Function::New(env, Guarded<CudaMemInfo>, "cudaMemInfo"));
  exports.Set("cudaBenchmark", Napi::Function::New(env, Guarded<CudaBenchmark>, "cudaBenchmark"));
  exports.Set("setResultAllocator", Napi::Function::New(env, Guarded<SetResultAllocator>, "setResultAllocator"));
  return exports;
}

}  // namespace
}  // namespace sqex::binding

// NODE_API_MODULE pastes the function name into an identifier, so it needs an unqualified one.
static Napi::Object InitSqueezeExcite(Napi::Env env, Napi::Object exports) { return sqex::binding::Init(env, exports); }
NODE_API_MODULE(squeeze_excite, InitSqueezeExcite)
