// The Float32Array a call returns when the caller passed no `out`.
//
// A fresh `new Float32Array(n)` of a large tensor costs more than the op itself: V8 maps zeroed
// pages, the kernel faults each 4 KiB page in, and the buffer is unmapped again at GC, so every
// call pays the faults anew (SE 8×256×56² fp32 here: 2.45 ms with out, 13.3 ms without). The
// result's memory therefore comes from the staging pool (staging_pool.h: reused, huge pages),
// wrapped as an external ArrayBuffer whose finalizer returns it to the pool. It is an ordinary
// Float32Array to the caller. Runtimes that forbid external buffers (V8 sandbox builds) get a
// V8-allocated one instead.
#pragma once
#include <napi.h>

#include <cstddef>

namespace sqex::binding {

// A new Float32Array of `elems` elements, contents uninitialised (the kernels write every one);
// *data receives its first element.
Napi::Float32Array NewResultArray(const Napi::Env& env, size_t elems, float** data);

}  // namespace sqex::binding
