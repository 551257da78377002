#include "binding/errors.h"
#include "binding/own_property.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace sqex::binding {

Napi::Error Coded(Napi::Error e, const char* code) {
  SetOwn(e, "code", Napi::String::New(e.Env(), code));
  return e;
}

Napi::Error ErrorFromStatus(const Napi::Env& env, const Status& s) {
  switch (s.code) {
    case StatusCode::InvalidArgument:
      return Coded(Napi::RangeError::New(env, s.message), "ERR_SQEX_INVALID_ARGUMENT");
    case StatusCode::Unsupported:
      return Coded(Napi::Error::New(env, s.message), "ERR_SQEX_UNSUPPORTED");
    case StatusCode::Cuda: {
      auto e = Coded(Napi::Error::New(env, s.message), "ERR_SQEX_CUDA");
      SetOwn(e, "cudaError", Napi::Number::New(env, s.cuda_error));
      SetOwn(e, "cudaErrorName", Napi::String::New(env, s.cuda_name));
      return e;
    }
    case StatusCode::OutOfMemory:
      return OutOfMemoryError(env, s.message, s.bytes);
    default:
      return Coded(Napi::Error::New(env, s.message.empty() ? "internal error" : s.message), "ERR_SQEX_INTERNAL");
  }
}

Napi::Error StagingRefusedError(const Napi::Env& env, const std::string& what, double bytes, double available, double reserved) {
  char buf[480];
  if (reserved > 0) {
    std::snprintf(buf, sizeof buf,
                  " (%.1f MiB): this process has %.1f MiB of memory available (128 MiB of it kept for the rest of the "
                  "process), and async calls in flight have reserved %.1f MiB they have not written yet (each async call "
                  "over host arrays copies its inputs when it is made, and its output when it settles). Await some of "
                  "the calls in flight before making more, use a smaller batch, or free memory.",
                  bytes / 1048576.0, available / 1048576.0, reserved / 1048576.0);
  } else {
    std::snprintf(buf, sizeof buf,
                  " (%.1f MiB): this process has %.1f MiB of memory available (128 MiB of it kept for the rest of the "
                  "process; an async call over host arrays copies its inputs when it is made). Use a smaller batch, "
                  "the sync call (which copies nothing), or free memory.",
                  bytes / 1048576.0, available / 1048576.0);
  }
  auto e = Coded(Napi::Error::New(env, "squeeze-excite: out of host memory: could not allocate " + what + buf), "ERR_SQEX_OUT_OF_MEMORY");
  SetOwn(e, "bytes", Napi::Number::New(env, bytes));
  SetOwn(e, "available", Napi::Number::New(env, available));
  SetOwn(e, "reserved", Napi::Number::New(env, reserved));
  return e;
}

Napi::Error OutOfMemoryError(const Napi::Env& env, const std::string& what, double bytes, const char* fix) {
  std::string size;
  if (bytes > 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " (%.1f MiB)", bytes / 1048576.0);
    size = buf;
  }
  auto e = Coded(Napi::Error::New(env, "squeeze-excite: out of host memory: could not allocate " + what + size + ". " +
                                           (fix ? fix : "Use a smaller batch, pass `out` to reuse an array, or free memory.")),
                 "ERR_SQEX_OUT_OF_MEMORY");
  if (bytes > 0) SetOwn(e, "bytes", Napi::Number::New(env, bytes));
  return e;
}

void ThrowStatus(const Napi::Env& env, const Status& s) { throw ErrorFromStatus(env, s); }

napi_value ErrorWithoutAllocating(napi_env env, const char* code, const char* message) {
  napi_value code_value = nullptr, message_value = nullptr, error = nullptr;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value) != napi_ok ||
      napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value) != napi_ok ||
      napi_create_error(env, nullptr, message_value, &error) != napi_ok)
    return nullptr;
  // Defined, not assigned (own_property.h): napi_create_error's own `code` argument assigns it.
  const napi_property_descriptor d{"code", nullptr, nullptr, nullptr, nullptr, code_value, napi_default_jsproperty, nullptr};
  (void)napi_define_properties(env, error, 1, &d);
  return error;
}

void ThrowWithoutAllocating(const Napi::Env& env, const char* code, const char* what) {
  try {
    if (std::strcmp(code, "ERR_SQEX_OUT_OF_MEMORY") == 0) throw OutOfMemoryError(env, what, 0);
    throw Coded(Napi::Error::New(env, std::string("squeeze-excite (native): internal error: ") + what), code);
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    napi_value error = ErrorWithoutAllocating(env, code, "squeeze-excite (native): out of memory while reporting an error");
    if (error != nullptr) napi_throw(env, error);
  }
}

}  // namespace sqex::binding
