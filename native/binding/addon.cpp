// The module's entry point (Init), info, setThreads and the CPU exports; the CUDA ones are in
// cuda_exports.cpp. Exports convert, re-check and dispatch; the work itself is in native/cpu and
// native/cuda. The module keeps no per-environment state, so it is context-aware and safe to load
// from several worker_threads at once.
#include <napi.h>

#include <memory>

#include "binding/async_worker.h"
#include "binding/convert.h"
#include "binding/cuda_exports.h"
#include "binding/env_state.h"
#include "binding/errors.h"
#include "binding/host_staging.h"
#include "binding/module_pin.h"
#include "binding/result_array.h"
#include "binding/own_property.h"
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

// The CPU op over parsed host arrays, on this thread (cpuForward, and cpuForwardAsync when it runs
// the op here).
Status ForwardCpuHere(const OpParams& p, const HostArrays& a) { return forward_cpu(p, WeightsFrom(a.ptr), TensorsFrom(a)); }

// ---- info --------------------------------------------------------------------------------------

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  SetOwn(o, "version", SQEX_VERSION);
  SetOwn(o, "contract", kBindingContract);
  SetOwn(o, "napiVersion", NAPI_VERSION);
  SetOwn(o, "buildSystem", SQEX_BUILD_SYSTEM);
  SetOwn(o, "cudaCompiled", cuda_status().compiled);
  SetOwn(o, "simd", cpu_simd_level());
  SetOwn(o, "threads", cpu_thread_count());
  SetOwn(o, "defaultThreads", cpu_default_thread_count());
  SetOwn(o, "workerSpinUs", static_cast<double>(cpu_worker_spin_us()));
#ifdef SQEX_PORTABLE_LINK
  SetOwn(o, "portableLink", true);
#else
  SetOwn(o, "portableLink", false);
#endif
  return o;
}

// The one argument of a setter, an integer in [0, max] (lib/cpu.ts checks it first, with the
// package's messages; this is the binding's own check). max < 2^53, so that every double in range
// converts to int64_t exactly.
int64_t IntegerArg(const Napi::CallbackInfo& info, const char* fn, const char* name, int64_t max, const char* note) {
  CheckArgCount(info, 1, fn);
  if (!info[0].IsNumber()) ThrowTypeError(info.Env(), std::string(name) + " must be a number");
  const double v = info[0].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= static_cast<double>(max)) || static_cast<int64_t>(v) != v) {
    ThrowRangeError(info.Env(), std::string(name) + " must be an integer in [0, " + std::to_string(max) + "]" + note);
  }
  return static_cast<int64_t>(v);
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  cpu_set_thread_count(static_cast<int>(IntegerArg(info, "setThreads", "threads", 256, " (0: one per CPU the process may run on)")));
  return info.Env().Undefined();
}

Napi::Value SetWorkerSpin(const Napi::CallbackInfo& info) {
  cpu_set_worker_spin_us(IntegerArg(info, "setWorkerSpin", "microseconds", 1000000, ""));
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
    // The op runs before the promise is made: making one runs the caller's promise hooks
    // (async_hooks init, v8.promiseHooks), which may detach or shrink the arrays pointed into.
    Status s = ForwardCpuHere(p, a);
    auto deferred = Napi::Promise::Deferred::New(env);
    if (s.ok()) {
      deferred.Resolve(a.keep[kOut]);
    } else {
      deferred.Reject(ErrorFromStatus(env, s).Value());
    }
    // Says that the op ran here: lib/event-loop-turn.ts lets the event loop turn before such calls
    // settle once they have held this thread long enough (staged calls settle from libuv already).
    // Best effort: a promise hook can have made the promise non-extensible (a review); the call has
    // run and written its outputs, so it must not fail for want of the mark (lib/ then takes no turn).
    Napi::Promise promise = deferred.Promise();
    napi_property_descriptor mark = {"ranOnCaller", nullptr, nullptr, nullptr, nullptr, Napi::Boolean::New(env, true), napi_enumerable, nullptr};
    if (napi_define_properties(env, promise, 1, &mark) != napi_ok) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    return promise;
  }
  auto call = std::make_shared<StagedHostCall>(env, a, p);
  return QueueStaged(env, call, EnvState::kCpuLane, [p](const Weights& w, const Tensors& t) { return forward_cpu(p, w, t); });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  PinModule();
  InitEnvState(env);
  ExportFunction<Info>(env, exports, "info");
  ExportFunction<SetThreads>(env, exports, "setThreads");
  ExportFunction<SetWorkerSpin>(env, exports, "setWorkerSpin");
  ExportFunction<CpuForward>(env, exports, "cpuForward");
  ExportFunction<CpuForwardAsync>(env, exports, "cpuForwardAsync");
  SetCudaExports(env, exports);
  ExportFunction<SetResultAllocator>(env, exports, "setResultAllocator");
  return exports;
}

}  // namespace
}  // namespace sqex::binding

// NODE_API_MODULE pastes the function name into an identifier, so it needs an unqualified one.
static Napi::Object InitSqueezeExcite(Napi::Env env, Napi::Object exports) { return sqex::binding::Init(env, exports); }
NODE_API_MODULE(squeeze_excite, InitSqueezeExcite)
