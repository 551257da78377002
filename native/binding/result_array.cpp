#include "binding/result_array.h"

#include "binding/staging_pool.h"

namespace sqex::binding {
namespace {
// Below this the pool's bookkeeping is not worth it: V8's own allocation is cheap.
constexpr size_t kPooledBytes = size_t{256} << 10;

void ReturnToPool(napi_env /*env*/, void* data, void* hint) {
  // May run on any thread that frees the backing store; the pool is thread-safe.
  StagingBlockDeleter{reinterpret_cast<size_t>(hint)}(static_cast<float*>(data));
}
}  // namespace

Napi::Float32Array NewResultArray(const Napi::Env& env, size_t elems, float** data) {
  const size_t bytes = elems * sizeof(float);
  if (bytes >= kPooledBytes) {
    StagingBlock block = AcquireStaging(elems);
    const size_t block_bytes = block.get_deleter().bytes;
    napi_value buffer = nullptr;
    const napi_status st = napi_create_external_arraybuffer(env, block.get(), bytes, ReturnToPool,
                                                            reinterpret_cast<void*>(block_bytes), &buffer);
    if (st == napi_ok) {
      *data = block.release();  // owned by the ArrayBuffer now
      return Napi::Float32Array::New(env, elems, Napi::ArrayBuffer(env, buffer), 0);
    }
    // napi_no_external_buffers_allowed (or any failure): fall through; the block goes back.
  }
  auto buffer = Napi::ArrayBuffer::New(env, bytes);
  auto array = Napi::Float32Array::New(env, elems, buffer, 0);
  *data = array.Data();
  return array;
}

}  // namespace sqex::binding
