#include "binding/convert.h"

#include "binding/errors.h"
#include "binding/result_array.h"

#include <cmath>
#include <limits>
#include <string>

namespace sqex::binding {

void ThrowRangeError(const Napi::Env& env, const std::string& msg) {
  throw Coded(Napi::RangeError::New(env, "squeeze-excite (native): " + msg), "ERR_OUT_OF_RANGE");
}
void ThrowTypeError(const Napi::Env& env, const std::string& msg) {
  throw Coded(Napi::TypeError::New(env, "squeeze-excite (native): " + msg), "ERR_INVALID_ARG_TYPE");
}

namespace {

[[noreturn]] void ThrowRange(const Napi::Env& env, const std::string& msg) { ThrowRangeError(env, msg); }
[[noreturn]] void ThrowType(const Napi::Env& env, const std::string& msg) { ThrowTypeError(env, msg); }

int64_t CfgInt(const Napi::Env& env, const double* cfg, int index, int64_t lo, int64_t hi) {
  double v = cfg[index];
  if (!std::isfinite(v) || std::floor(v) != v || v < static_cast<double>(lo) || v > static_cast<double>(hi)) {
    ThrowRange(env, "cfg[" + std::to_string(index) + "] must be an integer in [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "]; received " + std::to_string(v));
  }
  return static_cast<int64_t>(v);
}

// Whether v is a TypedArray of type `want`, and then its length, data and buffer, in one Node-API
// call (napi_get_typedarray_info fails on anything but a TypedArray, and works for
// SharedArrayBuffer views): node-addon-api's wrappers ask the same in several (NOTES-cpu.md
// item 34). buffer may be null.
bool TypedArrayOf(napi_env env, napi_value v, napi_typedarray_type want, size_t* length, void** data,
                  napi_value* buffer) {
  napi_typedarray_type type;
  return napi_get_typedarray_info(env, v, &type, length, data, buffer, nullptr) == napi_ok && type == want;
}

const char* kSlotNames[kSlotCount] = {"x", "residual", "out", "scaleOut", "w1", "b1", "w2", "b2", "aux"};

}  // namespace

ParsedCfg ParseCfg(const Napi::Env& env, const Napi::Value& value) {
  size_t length = 0;
  void* data = nullptr;
  if (!TypedArrayOf(env, value, napi_float64_array, &length, &data, nullptr)) ThrowType(env, "cfg must be a Float64Array");
  if (length != kCfgLength) {
    ThrowRange(env, "cfg must have " + std::to_string(kCfgLength) + " entries; received " + std::to_string(length));
  }
  const double* c = static_cast<const double*>(data);
  ParsedCfg out;
  OpParams& p = out.params;
  constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;
  p.op = static_cast<Op>(CfgInt(env, c, kOp, 0, 2));
  p.shape.n = CfgInt(env, c, kN, 1, kMaxDim);
  p.shape.c = CfgInt(env, c, kC, 1, kMaxDim);
  p.shape.h = CfgInt(env, c, kH, 1, kMaxDim);
  p.shape.w = CfgInt(env, c, kW, 1, kMaxDim);
  // Element counts stay below 2^53 so they are exact in JS, and below 2^62 bytes in C++.
  double numel = static_cast<double>(p.shape.n) * p.shape.c * p.shape.h * p.shape.w;
  if (numel > 9007199254740991.0) ThrowRange(env, "n*c*h*w exceeds 2^53-1");
  p.layout = static_cast<Layout>(CfgInt(env, c, kLayout, 0, 1));
  p.hidden = CfgInt(env, c, kHidden, 0, kMaxDim);
  p.two_fc = CfgInt(env, c, kTwoFc, 0, 1) == 1;
  p.act = static_cast<Act>(CfgInt(env, c, kAct, 0, 1));
  p.gate = static_cast<Gate>(CfgInt(env, c, kGate, 0, 1));
  p.out_act = static_cast<OutAct>(CfgInt(env, c, kOutAct, 0, 1));
  p.eca_k = static_cast<int>(CfgInt(env, c, kEcaK, 0, 1 << 20));
  p.spatial_k = static_cast<int>(CfgInt(env, c, kSpatialK, 0, 1 << 12));
  // spatialBias may be NaN or ±Inf: a folded BatchNorm bias that PyTorch would propagate. lib/
  // passes a float32's value; a finite double past float's range (only the raw binding can send
  // one) would round to ±Inf or FLT_MAX without a word, so the binding refuses it.
  const double spatial_bias = c[kSpatialBias];
  if (std::isfinite(spatial_bias) && std::fabs(spatial_bias) > static_cast<double>(std::numeric_limits<float>::max())) {
    ThrowRange(env, "spatialBias must be within float32's range, ±3.4028234663852886e38 (NaN and ±Inf allowed)");
  }
  p.spatial_bias = static_cast<float>(spatial_bias);
  p.dtype = static_cast<DType>(CfgInt(env, c, kDType, 0, 2));
  out.device = static_cast<int>(CfgInt(env, c, kDevice, 0, (1 << 16) - 1));  // as DeviceArg: [0, 65535]

  switch (p.op) {
    case Op::SE:
      if (p.hidden < 1) ThrowRange(env, "SE needs hidden >= 1");
      if (!p.two_fc && p.hidden != p.shape.c) ThrowRange(env, "single-FC SE needs hidden == C");
      break;
    case Op::ECA:
      if (p.eca_k < 1 || p.eca_k % 2 == 0) ThrowRange(env, "ECA k must be odd and >= 1");
      break;
    case Op::CBAM:
      if (p.hidden < 1) ThrowRange(env, "CBAM needs hidden >= 1");
      if (p.spatial_k < 1 || p.spatial_k % 2 == 0) ThrowRange(env, "CBAM spatial k must be odd and >= 1");
      p.two_fc = true;
      break;
  }
  return out;
}

SlotSizes ExpectedSlots(const OpParams& p) {
  SlotSizes s;
  const int64_t numel = p.shape.numel();
  const int64_t c = p.shape.c;
  auto allow = [&](Slot slot, int64_t elems, bool required) {
    s.elems[slot] = elems;
    s.allowed[slot] = true;
    s.required[slot] = required;
  };
  allow(kX, numel, true);
  allow(kOut, numel, true);
  switch (p.op) {
    case Op::SE:
      allow(kResidual, numel, false);
      allow(kScaleOut, p.shape.n * c, false);
      allow(kW1, p.hidden * c, true);
      allow(kB1, p.hidden, false);
      if (p.two_fc) {
        allow(kW2, c * p.hidden, true);
        allow(kB2, c, false);
      }
      break;
    case Op::ECA:
      allow(kScaleOut, p.shape.n * c, false);
      allow(kAux, p.eca_k, true);
      break;
    case Op::CBAM:
      allow(kW1, p.hidden * c, true);
      allow(kB1, p.hidden, false);
      allow(kW2, c * p.hidden, true);
      allow(kB2, c, false);
      allow(kAux, int64_t{2} * p.spatial_k * p.spatial_k, true);
      break;
  }
  return s;
}

void* TypedArrayData(const Napi::TypedArray& ta) {
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value buffer;
  if (napi_get_typedarray_info(ta.Env(), ta, &type, &length, &data, &buffer, &offset) != napi_ok) {
    ThrowType(ta.Env(), "expected a TypedArray");
  }
  return data;
}

namespace {
// One operand slot, checked: absent (null/undefined, and allowed so), or a Float32Array of the
// expected length with its data pointer and buffer. Throws for anything else.
struct SlotView {
  bool present = false;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer = nullptr;
};
SlotView CheckSlot(const Napi::Env& env, const Napi::Value& v, uint32_t slot, const SlotSizes& sizes) {
  const char* name = kSlotNames[slot];
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok) ThrowType(env, std::string(name) + " could not be read");
  SlotView sv;
  if (type == napi_null || type == napi_undefined) {
    if (sizes.required[slot]) ThrowType(env, std::string(name) + " is required");
    return sv;
  }
  if (!sizes.allowed[slot]) ThrowType(env, std::string(name) + " is not used by this op and must be null");
  if (!TypedArrayOf(env, v, napi_float32_array, &sv.length, &sv.data, &sv.buffer)) ThrowType(env, std::string(name) + " must be a Float32Array");
  // A detached (transferred) buffer's views have length 0; every operand has >= 1 element.
  if (sv.length == 0) ThrowType(env, std::string(name) + " is detached or empty");
  if (static_cast<int64_t>(sv.length) != sizes.elems[slot]) {
    ThrowRange(env, std::string(name) + " must have " + std::to_string(sizes.elems[slot]) + " elements; received " +
                        std::to_string(sv.length));
  }
  sv.present = true;
  return sv;
}

struct Range {
  uintptr_t begin = 0, end = 0;
  bool present() const { return begin != end; }
  bool overlaps(const Range& o) const { return present() && o.present() && begin < o.end && o.begin < end; }
  bool same(const Range& o) const { return begin == o.begin && end == o.end; }
};
}  // namespace

HostArrays ParseHostOperands(const Napi::Env& env, const Napi::Value& ops, const OpParams& p, bool weights_only,
                             bool allocate_result) {
  if (!ops.IsArray()) ThrowType(env, weights_only ? "hostWeights must be an array" : "ops must be an array");
  auto arr = ops.As<Napi::Array>();
  const uint32_t first = weights_only ? kW1 : kX;
  const uint32_t expected_len = kSlotCount - first;
  if (arr.Length() != expected_len) {
    ThrowRange(env, "operand tuple must have " + std::to_string(expected_len) + " entries");
  }
  SlotSizes sizes = ExpectedSlots(p);
  // Pass 1: every element, before any pointer is taken (an accessor element runs JS, which could
  // detach an operand read earlier).
  std::array<Napi::Value, kSlotCount> vals;
  for (uint32_t slot = first; slot < kSlotCount; ++slot) vals[slot] = arr.Get(slot - first);
  // The result, still before any pointer (the allocator is JS); first the operands' checks, so
  // that a call refused for them allocates nothing and runs no allocator (an attack: a huge cfg
  // with a 16-element x asked for a 32 PiB result and said out-of-memory, not x's length). Pass 2
  // checks again: the allocator may have detached or resized an operand.
  bool allocated = false;
  if (allocate_result && !weights_only && (vals[kOut].IsNull() || vals[kOut].IsUndefined())) {
    for (uint32_t slot = first; slot < kSlotCount; ++slot)
      if (slot != kOut) CheckSlot(env, vals[slot], slot, sizes);
    vals[kOut] = NewResultArray(env, static_cast<size_t>(sizes.elems[kOut]));
    allocated = true;
  }
  // Pass 2: checks and pointers; no JS runs from here until the call returns or is queued.
  HostArrays out;
  out.allocated_out = allocated;
  std::array<Range, kSlotCount> range{};
  for (uint32_t slot = first; slot < kSlotCount; ++slot) {
    const Napi::Value& v = vals[slot];
    const char* name = kSlotNames[slot];
    const SlotView sv = CheckSlot(env, v, slot, sizes);
    if (!sv.present) continue;
    // napi_is_arraybuffer is false for a SharedArrayBuffer (Node-API 8 has no direct test for one).
    bool plain = false;
    if (napi_is_arraybuffer(env, sv.buffer, &plain) != napi_ok) ThrowType(env, std::string(name) + " has no buffer");
    out.ptr[slot] = static_cast<float*>(sv.data);
    out.keep[slot] = v;
    out.shared[slot] = !plain;
    const auto b = reinterpret_cast<uintptr_t>(sv.data);
    range[slot] = Range{b, b + sv.length * sizeof(float)};
  }
  // Aliasing, by address (views of one SharedArrayBuffer can be distinct JS buffer objects): y
  // may be x or the residual exactly (in place), nothing may partly overlap what it reads, and
  // scaleOut overlaps nothing.
  if (!weights_only) {
    const Range& y = range[kOut];
    for (int slot : {int(kX), int(kResidual)}) {
      if (y.overlaps(range[slot]) && !y.same(range[slot])) {
        ThrowRange(env, std::string("out must be ") + kSlotNames[slot] + " itself or disjoint from it");
      }
    }
    for (int slot = kX; slot < kSlotCount; ++slot) {
      if (slot != kScaleOut && range[kScaleOut].overlaps(range[slot])) {
        ThrowRange(env, std::string("scaleOut must be disjoint from ") + kSlotNames[slot]);
      }
      if (slot >= kW1 && y.overlaps(range[slot])) ThrowRange(env, std::string("out must be disjoint from ") + kSlotNames[slot]);
    }
  }
  return out;
}

Weights WeightsFrom(const std::array<float*, kSlotCount>& ptr) {
  Weights w;
  w.w1 = ptr[kW1];
  w.b1 = ptr[kB1];
  w.w2 = ptr[kW2];
  w.b2 = ptr[kB2];
  w.aux = ptr[kAux];
  return w;
}

Tensors TensorsFrom(const HostArrays& a) {
  Tensors t;
  t.x = a.ptr[kX];
  t.residual = a.ptr[kResidual];
  t.y = a.ptr[kOut];
  t.scale_out = a.ptr[kScaleOut];
  return t;
}

void CheckArgCount(const Napi::CallbackInfo& info, size_t n, const char* fn) {
  if (info.Length() < n) {
    ThrowTypeError(info.Env(), std::string(fn) + " expects " + std::to_string(n) + " arguments");
  }
}

uint64_t BigIntToU64(const Napi::Env& env, const Napi::Value& v, const char* what) {
  if (!v.IsBigInt()) ThrowType(env, std::string(what) + " must be a bigint");
  bool lossless = false;
  uint64_t r = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) ThrowRange(env, std::string(what) + " must fit in 64 unsigned bits");
  return r;
}

Napi::Value U64ToBigInt(const Napi::Env& env, uint64_t v) { return Napi::BigInt::New(env, v); }

}  // namespace sqex::binding
