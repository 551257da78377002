// The Float32Array a call returns when the caller passed no `out`.
//
// Allocated through a JS function that lib/backend registers at load (setResultAllocator):
// Buffer.allocUnsafeSlow captured at load, whose memory is not zero-filled (every kernel writes
// every element of y; the array is only returned after that) and whose failure is a catchable
// RangeError. Node-API's own allocators (napi_create_arraybuffer, napi_create_buffer) end the
// process with V8's fatal out-of-memory instead, so they are never used: a binding used without
// lib/ (no allocator registered in its env) calls the ArrayBuffer constructor captured at Init.
// The function is JS, and code that ran before lib/ (a patched Buffer.allocUnsafeSlow, or the
// .node loaded directly and given another allocator first) may keep the array it returns. So the
// binding never trusts it: it is called before any operand pointer is taken (ParseHostOperands),
// a sync call then runs with no JS in between, and an async call stages the result like an out
// (host_staging.h), or runs on the calling thread as a sync call does (StagingCostsMore).
//
// Tried and dropped (2026-11-30): results over blocks of the staging pool (staging_pool.h) as
// external ArrayBuffers, to skip the page faults of fresh memory. Node runs an external buffer's
// finalizer from a SetImmediate, so in a synchronous loop no block came back before the next
// call, and V8 does not count external data towards GC pressure: 20 calls of SE 32x256x56^2
// grew RSS to 2.1 GB and took 58 ms each (V8's own memory: 144 MB, also 58 ms). The remaining
// cost of a new large array is the kernel's page faults on fresh memory (glibc maps each chunk
// over 32 MB afresh and trims the heap after each GC): passing `out` avoids it, and huge pages
// (below) make it cheaper. On the dev VM a fresh 4 KiB page cost ~1.2-3.5 us to fault on
// 2026-11-30 (SE 32x256x56^2: 25,098 faults a call, 88 ms against 8.7 ms with `out`) and 12-18 us
// on 2026-12-02.
// The same idea for async calls only (where the event loop turns, so finalizers do run) was
// checked and dropped too (2026-11-30): Node marks an external ArrayBuffer untransferable, so the
// result could not be moved to a worker: `postMessage(y.buffer, [y.buffer])` and
// `structuredClone(.., {transfer})` copy it on Node 20 and throw DataCloneError on Node 22+. The
// result must stay an ordinary array the caller owns (issue 11), so it comes from V8's allocator.
// The result's whole huge pages are advised for transparent huge pages (result_pages.h): tried on
// results of 32 MiB and more on 2026-11-30 (88 -> 55 ms, not kept for fear of compaction stalls),
// and kept on 2026-12-02, when a fresh 4 KiB page cost 17 us and huge pages cut the default form's
// cost 5-10x, fragmented memory included (NOTES-cpu.md item 52).
// The registered allocator lives in the env's EnvState (env_state.h).
#pragma once
#include <napi.h>

#include <cstddef>

namespace sqex::binding {

// A new Float32Array of `elems` elements, uninitialised when the allocator is registered (else
// zero-filled). Runs JS (the allocator): call it before taking any operand pointer. Throws
// ERR_SQEX_OUT_OF_MEMORY when the allocation fails.
Napi::Float32Array NewResultArray(const Napi::Env& env, size_t elems);

// setResultAllocator(fn): fn(bytes) must return a new ArrayBuffer of exactly `bytes` bytes. Only the
// first call per env registers fn (returns true); later calls change nothing and return false.
Napi::Value SetResultAllocator(const Napi::CallbackInfo& info);

}  // namespace sqex::binding
