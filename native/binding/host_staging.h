// Memory safety of async calls over host arrays.
//
// An async call reads and writes its operands on another thread, while JavaScript keeps running.
// Keeping the typed-array objects alive does not keep their memory: JS can detach the buffer
// (transfer, structuredClone, postMessage), shrink a resizable one, and the new owner can free it.
// Node-API gives no handle on an ArrayBuffer's backing store, so the call must not point into a
// buffer JS can take away. The rule (as Node core's async crypto jobs do with their inputs):
//
//   - inputs (x, residual, weights) are copied into memory the call owns, on the calling thread,
//     before the call returns;
//   - outputs (out, scaleOut) are computed into memory the call owns and copied into the caller's
//     arrays when the call settles, on the calling thread, after checking that each array still
//     has its length (else the promise rejects, ERR_SQEX_ARRAY_CHANGED, naming it, and nothing
//     is written);
//   - used in place, because nothing JS does can take their memory away: SharedArrayBuffer views
//     (they cannot be detached, transferred or shrunk; outputs only when every output of the call
//     is one, so outputs stay all-or-nothing).
//   - a call without out gets a new result array (result_array.h) when it starts, staged like an
//     out: it comes from a JS allocator, so nothing proves that no one else holds it.
//
// The copies are made on the calling thread, so for an op that costs less than they do, staging
// only adds to the caller's time: such a CPU call runs there instead, as the sync call does (no
// JS runs until it returns), and returns its promise settled (StagingCostsMore).
#pragma once
#include <napi.h>

#include <array>
#include <memory>
#include <vector>

#include "binding/convert.h"
#include "binding/staging_pool.h"

namespace sqex::binding {

// The rejection of an async call whose output array `argument` lost its length before the call
// settled (detached, transferred or resized): code ERR_SQEX_ARRAY_CHANGED, nothing written.
Napi::Error ArrayChangedError(const Napi::Env& env, const char* argument);

// Whether the copies that staging `a` would make on the calling thread (inputs now, outputs at
// settle) plus the hand-off to the pool cost it more than the CPU op itself would
// (cpu_forward_cost_bytes): then an async call runs the op on the calling thread instead.
bool StagingCostsMore(const OpParams& p, const HostArrays& a);

class StagedHostCall {
 public:
  // Parses the operand tuple (as ParseHostOperands; out may be null: then a new Float32Array of
  // x's length, allocated now, is the result) and stages it. Throws on a bad tuple; nothing is written then.
  StagedHostCall(const Napi::Env& env, const Napi::Value& ops, const OpParams& p);
  // Stages operands already parsed by ParseHostOperands(.., allocate_result = true), with no JS
  // run since: the pointers in `a` are still those of the arrays in `a.keep`.
  StagedHostCall(const Napi::Env& env, const HostArrays& a, const OpParams& p);

  // Pointers the worker thread may use until Settle.
  Weights weights() const;
  Tensors tensors() const;
  // On the worker thread, before the work: takes the output blocks reserved at the call
  // (staging_pool.h, AcquireReserved). When memory ran out since, an OutOfMemory Status naming
  // the block and its size (or std::bad_alloc, when even that message cannot be built).
  Status AcquireOutputs();
  // On the worker thread, once the work has run: the output blocks are written, and no longer
  // count as memory reserved and unwritten (staging_pool.h).
  void MarkWritten();

  // On the calling thread, after the work succeeded: copies staged outputs back into the caller's
  // arrays and returns the result array; or returns an Error (code ERR_SQEX_ARRAY_CHANGED)
  // naming the first output whose array no longer has its length or whose ArrayBuffer was resized
  // (its byteLength differs from the call's), writing nothing.
  Napi::Value Settle(const Napi::Env& env, Napi::Error* error);

 private:
  struct Output {
    const char* name;  // for ERR_SQEX_ARRAY_CHANGED
    Napi::ObjectReference target;
    int slot;
    const float* staged;  // null until AcquireOutputs when `reserved` holds its bytes
    size_t elems;
    size_t buffer_bytes;  // its ArrayBuffer's byteLength at the call (SIZE_MAX: a SharedArrayBuffer)
    UnwrittenReservation reserved;  // until the work has written its block
  };
  // Inside a catch handler of a staging allocation's std::bad_alloc (StagingRefused or not): throws
  // it as the coded error for the block `block` describes.
  [[noreturn]] static void ThrowStagingError(const Napi::Env& env, const std::string& block, double bytes);
  // A staging block of `elems` floats for the input named `what`, owned by this call, filled from
  // src. Throws ERR_SQEX_OUT_OF_MEMORY naming it when no memory is left.
  float* StageInput(const Napi::Env& env, const char* what, const float* src, size_t elems);

  std::array<float*, kSlotCount> ptr_{};
  std::vector<StagingBlock> owned_;
  std::vector<Output> outputs_;
  std::vector<Napi::ObjectReference> kept_;  // SharedArrayBuffer views used in place
  Napi::ObjectReference result_;
  UnwrittenReservation result_reservation_;
};

}  // namespace sqex::binding
