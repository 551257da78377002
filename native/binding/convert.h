// Conversions between JS values and the plain sqex structs. The TS layer has validated
// everything already; these re-checks guard the native code against a broken or bypassed
// lib/ (byte lengths above all), and throw instead of touching memory they cannot prove.
#pragma once
#include <napi.h>

#include <array>
#include <string>

#include "sqex/params.h"

namespace sqex::binding {

// The binding contract's revision, reported by info().contract: bump it with any change to Cfg,
// Slot, the operand tuples or an export's arguments, and BINDING_CONTRACT in
// lib/backend/contract.ts with it. The loader refuses an addon of another revision (a stale
// build), which would read a new lib/'s cfg by the old layout: wrong numbers, no error.
constexpr int kBindingContract = 1;

// Indices into the cfg Float64Array; must match CFG in lib/backend/contract.ts.
enum Cfg : int {
  kOp = 0, kN, kC, kH, kW, kLayout, kHidden, kTwoFc, kAct, kGate, kOutAct,
  kEcaK, kSpatialK, kSpatialBias, kDType, kDevice, kCfgLength
};
// Slots of the HostOperands tuple and of the device (ptr, bytes) array.
enum Slot : int { kX = 0, kResidual, kOut, kScaleOut, kW1, kB1, kW2, kB2, kAux, kSlotCount };

struct ParsedCfg {
  OpParams params;
  int device = 0;
};

ParsedCfg ParseCfg(const Napi::Env& env, const Napi::Value& value);

// Element counts each slot must hold for these params (0 = the slot must be absent).
struct SlotSizes {
  std::array<int64_t, kSlotCount> elems{};     // required element count when present
  std::array<bool, kSlotCount> required{};     // must be present
  std::array<bool, kSlotCount> allowed{};      // may be present
};
SlotSizes ExpectedSlots(const OpParams& p);

// A host operand slot: a Float32Array of exactly the expected length, or null/undefined.
struct HostArrays {
  std::array<float*, kSlotCount> ptr{};
  std::array<Napi::Value, kSlotCount> keep;   // the JS objects
  std::array<bool, kSlotCount> shared{};      // backed by a SharedArrayBuffer (cannot be detached or shrunk)
  bool allocated_out = false;                 // out was null: keep[kOut] is a new result array
};
// allocate_result: a null out slot gets a new result array (result_array.h), which the call
// returns. Every element is read first (an accessor element may run JS), then the result is
// allocated (the registered allocator is JS too), and only then is any pointer taken or length
// checked: no JS runs between taking the pointers and returning, so none can detach what they
// point into.
HostArrays ParseHostOperands(const Napi::Env& env, const Napi::Value& ops, const OpParams& p,
                             bool weights_only = false, bool allocate_result = false);

// First element of a typed array, for ArrayBuffer and SharedArrayBuffer views alike (napi's
// ArrayBuffer accessors refuse a SharedArrayBuffer). Null for a detached view.
void* TypedArrayData(const Napi::TypedArray& ta);

// TypeError / RangeError with code ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE and the
// "squeeze-excite (native): " prefix. lib/ validates first, so these fire only when it is bypassed.
[[noreturn]] void ThrowTypeError(const Napi::Env& env, const std::string& msg);
[[noreturn]] void ThrowRangeError(const Napi::Env& env, const std::string& msg);

Weights WeightsFrom(const std::array<float*, kSlotCount>& ptr);
Tensors TensorsFrom(const HostArrays& a);

// TypeError unless the call has at least n arguments; fn names the export.
void CheckArgCount(const Napi::CallbackInfo& info, size_t n, const char* fn);

uint64_t BigIntToU64(const Napi::Env& env, const Napi::Value& v, const char* what);
Napi::Value U64ToBigInt(const Napi::Env& env, uint64_t v);

}  // namespace sqex::binding
