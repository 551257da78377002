#include "binding/result_array.h"

#include "binding/convert.h"
#include "binding/env_state.h"
#include "binding/errors.h"
#include "binding/result_pages.h"
#include "binding/own_property.h"

#include <string>

namespace sqex::binding {

Napi::Value SetResultAllocator(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) ThrowTypeError(env, "setResultAllocator expects a function");
  Napi::FunctionReference& fn = StateOf(env).result_allocator;
  // The first registration (lib/'s, at load) stays: the binding's exports are reachable from user
  // code (require(loadReport().binary) returns the same object). The binding does not depend on
  // it for safety (result_array.h), but lib/'s allocator is the one that skips zero-filling.
  // Returns whether fn was registered.
  if (!fn.IsEmpty()) return Napi::Boolean::New(env, false);
  fn = Napi::Persistent(info[0].As<Napi::Function>());
  return Napi::Boolean::New(env, true);
}

namespace {

// Whether what an allocation threw says the memory was not there: V8's "Array buffer allocation
// failed", a length past what V8 or Node allow ("Invalid array buffer length", Node's
// ERR_OUT_OF_RANGE / ERR_BUFFER_TOO_LARGE for a size over buffer.constants.MAX_LENGTH). Any other
// error (an allocator's own bug, a stack overflow from one that re-enters the binding) passes as it
// is rather than being reported as memory running out.
bool IsAllocationFailure(const Napi::Env& env, const Napi::Value& thrown) {
  const Napi::Value range_error = env.Global().Get("RangeError");
  if (!thrown.IsObject() || !range_error.IsFunction() ||
      !thrown.As<Napi::Object>().InstanceOf(range_error.As<Napi::Function>())) {
    return false;
  }
  const Napi::Object e = thrown.As<Napi::Object>();
  const Napi::Value code = e.Get("code");
  if (code.IsString()) {
    const std::string c = code.As<Napi::String>().Utf8Value();
    if (c == "ERR_OUT_OF_RANGE" || c == "ERR_BUFFER_TOO_LARGE" || c == "ERR_MEMORY_ALLOCATION_FAILED") return true;
  }
  const Napi::Value message = e.Get("message");
  if (!message.IsString()) return false;
  const std::string m = message.As<Napi::String>().Utf8Value();
  return m.rfind("Array buffer allocation failed", 0) == 0 || m.rfind("Invalid array buffer length", 0) == 0;
}

}  // namespace

Napi::Float32Array NewResultArray(const Napi::Env& env, size_t elems) {
  const size_t bytes = elems * sizeof(float);
  EnvState& state = StateOf(env);
  // lib/'s allocator (not zero-filled), or, for a binding used without lib/, the ArrayBuffer
  // constructor captured at Init: Node-API's own napi_create_arraybuffer ends the process with
  // V8's fatal out-of-memory when the memory is not there, where the constructor throws.
  const bool registered = !state.result_allocator.IsEmpty();
  if (!registered && state.array_buffer.IsEmpty()) {
    throw Coded(Napi::Error::New(env, "squeeze-excite (native): no result allocator (globalThis.ArrayBuffer was not a function when the addon loaded)"),
                "ERR_SQEX_INTERNAL");
  }
  Napi::Value v;
  try {
    const Napi::Value size = Napi::Number::New(env, static_cast<double>(bytes));
    v = registered ? state.result_allocator.Call({size}) : state.array_buffer.New({size});
  } catch (const Napi::Error& e) {
    // (Runs before any operand pointer is taken, so the JS this may run is harmless.)
    if (!IsAllocationFailure(env, e.Value())) throw;
    Napi::Error oom = OutOfMemoryError(env, "the result array", static_cast<double>(bytes));
    SetOwn(oom, "cause", e.Value());
    throw oom;
  }
  // Never trust the shape of what came back: the kernel writes `bytes` into it.
  if (!v.IsArrayBuffer() || v.As<Napi::ArrayBuffer>().ByteLength() != bytes) {
    throw Coded(Napi::Error::New(env, std::string("squeeze-excite (native): the result ") +
                                          (registered ? "allocator" : "ArrayBuffer constructor") +
                                          " returned no ArrayBuffer of " + std::to_string(bytes) + " bytes"),
                "ERR_SQEX_INTERNAL");
  }
  Napi::ArrayBuffer buffer = v.As<Napi::ArrayBuffer>();
  // Before the kernel's first touch: a fresh result's pages then fault in 2 MiB at a time
  // (result_pages.h). `buffer` holds the array here.
  AdviseHugePages(buffer.Data(), bytes);
  return Napi::Float32Array::New(env, elems, buffer, 0);
}

}  // namespace sqex::binding
