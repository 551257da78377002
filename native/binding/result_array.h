// The Float32Array a call returns when the caller passed no `out`: allocated by V8 (the
// binding's own allocation, so an async call can write it with no one else holding it).
//
// Tried and dropped (2026-11-30): results over blocks of the staging pool (staging_pool.h) as
// external ArrayBuffers, to skip the page faults of fresh memory. Node runs an external buffer's
// finalizer from a SetImmediate, so in a synchronous loop no block came back before the next
// call, and V8 does not count external data towards GC pressure: 20 calls of SE 32x256x56^2
// grew RSS to 2.1 GB and took 58 ms each (V8's own memory: 144 MB, also 58 ms). The cost of a
// new large array is the kernel's zero-filled page faults (glibc maps each chunk over 32 MB
// afresh); passing `out` avoids it.
#pragma once
#include <napi.h>

#include <cstddef>

namespace sqex::binding {

// A new zero-initialised Float32Array of `elems` elements; *data receives its first element.
Napi::Float32Array NewResultArray(const Napi::Env& env, size_t elems, float** data);

}  // namespace sqex::binding
