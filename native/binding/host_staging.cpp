#include "binding/host_staging.h"

#include "binding/errors.h"
#include "binding/own_property.h"
#include "sqex/cpu.h"

#include <cstdint>
#include <cstring>
#include <new>
#include <string>

namespace sqex::binding {
namespace {
// How lib/ names each slot in its messages.
const char* const kArgNames[kSlotCount] = {"x",          "options.residual", "options.out", "options.scaleOut",
                                           "weights.w1", "weights.b1",       "weights.w2",  "weights.b2",
                                           "weights (conv)"};
}  // namespace

// The byteLength of the ArrayBuffer under typed array `ta` now (a resizable one's current length),
// or SIZE_MAX for a SharedArrayBuffer (it can only grow, and never loses its memory) or when it
// cannot be read.
static size_t BufferBytes(const Napi::Env& env, const Napi::Value& ta) {
  napi_value ab = nullptr;
  bool is_ab = false;
  size_t bytes = 0;
  if (napi_get_typedarray_info(env, ta, nullptr, nullptr, nullptr, &ab, nullptr) != napi_ok ||
      napi_is_arraybuffer(env, ab, &is_ab) != napi_ok || !is_ab ||
      napi_get_arraybuffer_info(env, ab, nullptr, &bytes) != napi_ok)
    return SIZE_MAX;
  return bytes;
}

Napi::Error ArrayChangedError(const Napi::Env& env, const char* argument) {
  // lib/ops/run.ts (hostCallError) rewrites the message with the advice, from `argument`
  auto e = Coded(Napi::Error::New(env, std::string(argument) +
                                           " was detached, transferred or resized while the call ran, so the result "
                                           "was not written"),
                 "ERR_SQEX_ARRAY_CHANGED");
  SetOwn(e, "argument", Napi::String::New(env, argument));
  return e;
}

void StagedHostCall::ThrowStagingError(const Napi::Env& env, const std::string& block, double bytes) {
  // Rethrown to tell the two apart: the node-gyp build has no RTTI for a dynamic_cast.
  try {
    throw;
  } catch (const StagingRefused& r) {
    throw StagingRefusedError(env, block, bytes, r.available_bytes, r.unwritten_bytes);
  } catch (const std::bad_alloc&) {
    throw OutOfMemoryError(env, block, bytes);
  }
}

float* StagedHostCall::StageInput(const Napi::Env& env, const char* what, const float* src, size_t elems) {
  const double bytes = static_cast<double>(elems) * sizeof(float);
  UnwrittenReservation until_copied;  // released once the copy has touched the block's pages
  try {
    owned_.push_back(AcquireStaging(elems, &until_copied));
  } catch (const std::bad_alloc&) {
    ThrowStagingError(env, std::string("the staging copy of ") + what, bytes);
  }
  float* dst = owned_.back().get();
  std::memcpy(dst, src, elems * sizeof(float));
  return dst;
}

namespace {
// Weights of the comparison, in bytes of the op's traffic (cpu_forward_cost_bytes). A byte staged
// is copied by the calling thread alone, out of cache, and costs what 6-10 bytes of the op's
// passes do (they run on every pool thread, partly from cache): measured on the dev VM (2 cores),
// staging copies at 9-16 GB/s, the ops' passes at 60-120 GB/s. 4 leans towards the pool when
// the two are close.
constexpr double kOpBytesPerStagedByte = 4;
// The hand-off to the libuv pool and back (queueing, a thread wake-up, the completion callback):
// ~10 us of the caller's time and ~40 us of latency on the dev VM.
constexpr double kHandOffBytes = 512 * 1024;

constexpr int kInputSlots[] = {kX, kResidual, kW1, kB1, kW2, kB2, kAux};
constexpr int kOutputSlots[] = {kOut, kScaleOut};

// Which present slots a staged call copies (the rules of the file comment): every input not on a
// SharedArrayBuffer; the outputs all or none, so that a rejection at settle (a staged output lost
// its length) never leaves a shared one written.
std::array<bool, kSlotCount> StagedSlots(const HostArrays& a) {
  std::array<bool, kSlotCount> staged{};
  for (int slot : kInputSlots) staged[slot] = a.ptr[slot] && !a.shared[slot];
  bool outputs = false;
  for (int slot : kOutputSlots) outputs = outputs || (a.ptr[slot] && !a.shared[slot]);
  for (int slot : kOutputSlots) staged[slot] = outputs && a.ptr[slot];
  return staged;
}
}  // namespace

bool StagingCostsMore(const OpParams& p, const HostArrays& a) {
  const SlotSizes sizes = ExpectedSlots(p);
  const std::array<bool, kSlotCount> staged = StagedSlots(a);
  double bytes = 0;
  for (int slot = 0; slot < kSlotCount; ++slot) {
    if (staged[slot]) bytes += static_cast<double>(sizes.elems[slot]) * sizeof(float);
  }
  return kOpBytesPerStagedByte * bytes + kHandOffBytes >= cpu_forward_cost_bytes(p, a.ptr[kResidual] != nullptr);
}

StagedHostCall::StagedHostCall(const Napi::Env& env, const Napi::Value& ops, const OpParams& p)
    // Without out, a new result array is allocated here (result_array.h) and staged like an out:
    // the registered allocator is JS, so nothing proves that no one else holds that array.
    : StagedHostCall(env, ParseHostOperands(env, ops, p, /*weights_only=*/false, /*allocate_result=*/true), p) {}

StagedHostCall::StagedHostCall(const Napi::Env& env, const HostArrays& a, const OpParams& p) {
  owned_.reserve(kSlotCount);  // so that AcquireOutputs' push_back on the worker thread does not allocate
  const SlotSizes sizes = ExpectedSlots(p);
  const std::array<bool, kSlotCount> staged_slot = StagedSlots(a);
  // Inputs first, so an output that is an input itself (in place) reuses the input's staging.
  for (int slot : kInputSlots) {
    if (!a.ptr[slot]) continue;
    if (!staged_slot[slot]) {
      ptr_[slot] = a.ptr[slot];
      kept_.push_back(Napi::Persistent(a.keep[slot].As<Napi::Object>()));
    } else {
      ptr_[slot] = StageInput(env, kArgNames[slot], a.ptr[slot], static_cast<size_t>(sizes.elems[slot]));
    }
  }
  for (int slot : kOutputSlots) {
    const size_t elems = static_cast<size_t>(sizes.elems[slot]);
    if (!a.ptr[slot]) continue;  // no scaleOut
    if (slot == kOut) result_ = Napi::Persistent(a.keep[slot].As<Napi::Object>());
    if (!staged_slot[slot]) {
      ptr_[slot] = a.ptr[slot];
      kept_.push_back(Napi::Persistent(a.keep[slot].As<Napi::Object>()));
      continue;
    }
    // out === x or out === residual (the parser allows only exact aliasing): compute in place on
    // that input's staging, then copy back. (A shared input is not staged: then out gets its own.)
    float* staged = nullptr;
    if (slot == kOut) {
      for (int in : {int(kX), int(kResidual)}) {
        if (a.ptr[in] == a.ptr[kOut] && ptr_[in] != a.ptr[in]) staged = ptr_[in];
      }
    }
    // A result the addon allocated (a call without out) is named as such, not as options.out.
    const char* name = slot == kOut && a.allocated_out ? "the result array" : kArgNames[slot];
    UnwrittenReservation reserved;
    if (!staged) {
      try {
        reserved = ReserveStaging(elems);
      } catch (const std::bad_alloc&) {
        ThrowStagingError(env, std::string("the staging block for ") + name, static_cast<double>(elems) * sizeof(float));
      }
    }
    ptr_[slot] = staged;  // null until AcquireOutputs when reserved
    outputs_.push_back(Output{name, Napi::Persistent(a.keep[slot].As<Napi::Object>()), slot, staged, elems,
                              BufferBytes(env, a.keep[slot]), std::move(reserved)});
  }
  // A result array allocated for this call is written when it settles: reserved until then (after
  // the staging, whose refusal then counts only other calls' reservations).
  if (a.allocated_out) result_reservation_ = UnwrittenReservation(static_cast<size_t>(sizes.elems[kOut]) * sizeof(float));
}

Status StagedHostCall::AcquireOutputs() {
  for (Output& o : outputs_) {
    if (o.staged) continue;  // in place on an input's staging
    try {
      owned_.push_back(AcquireReserved(o.elems));
    } catch (const std::bad_alloc&) {
      Status s = Status::Error(StatusCode::OutOfMemory, std::string("the staging block for ") + o.name);
      s.bytes = static_cast<double>(o.elems) * sizeof(float);
      return s;
    }
    o.staged = owned_.back().get();
    ptr_[o.slot] = owned_.back().get();
  }
  return Status::Ok();
}

void StagedHostCall::MarkWritten() {
  for (Output& o : outputs_) o.reserved = UnwrittenReservation();
}

Weights StagedHostCall::weights() const { return WeightsFrom(ptr_); }

Tensors StagedHostCall::tensors() const {
  Tensors t;
  t.x = ptr_[kX];
  t.residual = ptr_[kResidual];
  t.y = ptr_[kOut];
  t.scale_out = ptr_[kScaleOut];
  return t;
}

Napi::Value StagedHostCall::Settle(const Napi::Env& env, Napi::Error* error) {
  // Check every output before writing any, so a refusal writes nothing.
  for (const Output& o : outputs_) {
    Napi::Value v = o.target.Value();
    const bool ok = v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array &&
                    v.As<Napi::Float32Array>().ElementLength() == o.elems && BufferBytes(env, v) == o.buffer_bytes;
    if (!ok) {
      *error = ArrayChangedError(env, o.name);
      return env.Undefined();
    }
  }
  for (const Output& o : outputs_) {
    auto ta = o.target.Value().As<Napi::Float32Array>();
    std::memcpy(ta.Data(), o.staged, o.elems * sizeof(float));
  }
  return result_.IsEmpty() ? env.Undefined() : result_.Value();
}

}  // namespace sqex::binding
