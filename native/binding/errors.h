// The coded JS errors the addon throws (Node's convention: every error has a `code`), and
// Guarded, which keeps a C++ exception from reaching the C boundary of an export.
#pragma once
#include <napi.h>

#include <exception>
#include <new>
#include <string>

#include "sqex/params.h"

namespace sqex::binding {

// `e` with `code` set (Node's convention: every error the addon throws has one).
Napi::Error Coded(Napi::Error e, const char* code);

// Throws the JS error that matches a failed status (RangeError / Error with code).
[[noreturn]] void ThrowStatus(const Napi::Env& env, const Status& s);
Napi::Error ErrorFromStatus(const Napi::Env& env, const Status& s);

// Error with code ERR_SQEX_OUT_OF_MEMORY (and `bytes`): a host allocation of `bytes` for `what`
// failed. Thrown instead of letting std::bad_alloc or V8's fatal out-of-memory end the process.
// fix: the usual fix, when not the calls' (a smaller batch, `out`, free memory).
Napi::Error OutOfMemoryError(const Napi::Env& env, const std::string& what, double bytes, const char* fix = nullptr);
// The same for an async call's staging refused before allocating (StagingRefused): says what the
// system had available and what calls in flight hold, and adds `available` and `reserved` (bytes).
Napi::Error StagingRefusedError(const Napi::Env& env, const std::string& what, double bytes, double available, double reserved);

// Throws the coded error for a C++ exception. Building it allocates (strings, a JS object), and
// memory may be what ran out: if that throws too, the error is made from static strings by
// ErrorWithoutAllocating, so nothing escapes to std::terminate.
void ThrowWithoutAllocating(const Napi::Env& env, const char* code, const char* what);
// An Error with `message` and an own `code`, made with Node-API calls only (V8's heap, no C++
// allocation or exception); null when even that failed.
napi_value ErrorWithoutAllocating(napi_env env, const char* code, const char* message);

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

}  // namespace sqex::binding
