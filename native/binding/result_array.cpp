#include "binding/result_array.h"

#include "binding/convert.h"
#include "binding/env_state.h"

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

Napi::Float32Array NewResultArray(const Napi::Env& env, size_t elems) {
  const size_t bytes = elems * sizeof(float);
  Napi::FunctionReference& fn = StateOf(env).result_allocator;
  Napi::ArrayBuffer buffer;
  if (!fn.IsEmpty()) {
    Napi::Value v;
    try {
      v = fn.Call({Napi::Number::New(env, static_cast<double>(bytes))});
    } catch (const Napi::Error& e) {
      // A failed allocation is a RangeError (V8's "Array buffer allocation failed", or Node's
      // size limit); anything else the allocator threw passes as it is.
      // (Runs before any operand pointer is taken, so the JS this may run is harmless.)
      const Napi::Value range_error = env.Global().Get("RangeError");
      if (!e.Value().IsObject() || !range_error.IsFunction() ||
          !e.Value().As<Napi::Object>().InstanceOf(range_error.As<Napi::Function>())) {
        throw;
      }
      Napi::Error oom = OutOfMemoryError(env, "the result array", static_cast<double>(bytes));
      oom.Set("cause", e.Value());
      throw oom;
    }
    // Never trust the shape of what came back: the kernel writes `bytes` into it.
    if (!v.IsArrayBuffer() || v.As<Napi::ArrayBuffer>().ByteLength() != bytes) {
      throw Coded(Napi::Error::New(env, "squeeze-excite (native): the result allocator returned no ArrayBuffer of " +
                                            std::to_string(bytes) + " bytes"),
                  "ERR_SQEX_INTERNAL");
    }
    buffer = v.As<Napi::ArrayBuffer>();
  } else {
    buffer = Napi::ArrayBuffer::New(env, bytes);
  }
  return Napi::Float32Array::New(env, elems, buffer, 0);
}

}  // namespace sqex::binding
