// Properties of the objects the addon makes (errors, the exports, info and status objects) are
// defined as own data properties, not assigned: an assignment runs a setter that a caller put on
// Object.prototype, Error.prototype or Array.prototype, which could drop or replace the value (an
// attack left native errors without `code`). As lib/primordials.ts defineOwn.
#pragma once
#include <napi.h>

#include "binding/errors.h"

#include <cstdint>
#include <string>

namespace sqex::binding {

template <class T>
void SetOwn(Napi::Object object, const char* key, const T& value) {
  object.DefineProperty(Napi::PropertyDescriptor::Value(key, Napi::Value::From(object.Env(), value), napi_default_jsproperty));
}

// An array element: napi_define_properties takes string or symbol names only, and "0" defines
// element 0 as a number key would.
template <class T>
void SetOwn(Napi::Object object, uint32_t index, const T& value) {
  SetOwn(object, std::to_string(index).c_str(), value);
}

// An Error's own property (Napi::Error holds a reference to its object).
template <class T>
void SetOwn(const Napi::Error& error, const char* key, const T& value) {
  SetOwn(error.Value(), key, value);
}

// Exports Fn as exports[name], an own property; its calls go through Guarded (errors.h).
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
void ExportFunction(Napi::Env env, Napi::Object exports, const char* name) {
  SetOwn(exports, name, Napi::Function::New(env, Guarded<Fn>, name));
}

}  // namespace sqex::binding
