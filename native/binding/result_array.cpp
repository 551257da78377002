#include "binding/result_array.h"

namespace sqex::binding {

Napi::Float32Array NewResultArray(const Napi::Env& env, size_t elems, float** data) {
  auto buffer = Napi::ArrayBuffer::New(env, elems * sizeof(float));
  auto array = Napi::Float32Array::New(env, elems, buffer, 0);
  *data = array.Data();
  return array;
}

}  // namespace sqex::binding
