#include "binding/convert.h"

#include <cmath>
#include <string>

namespace sqex::binding {
namespace {

[[noreturn]] void ThrowRange(const Napi::Env& env, const std::string& msg) {
  throw Napi::RangeError::New(env, "squeeze-excite (native): " + msg);
}
[[noreturn]] void ThrowType(const Napi::Env& env, const std::string& msg) {
  throw Napi::TypeError::New(env, "squeeze-excite (native): " + msg);
}

int64_t CfgInt(const Napi::Env& env, const double* cfg, int index, int64_t lo, int64_t hi) {
  double v = cfg[index];
  if (!std::isfinite(v) || std::floor(v) != v || v < static_cast<double>(lo) || v > static_cast<double>(hi)) {
    ThrowRange(env, "cfg[" + std::to_string(index) + "] must be an integer in [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "]; received " + std::to_string(v));
  }
  return static_cast<int64_t>(v);
}

const char* kSlotNames[kSlotCount] = {"x", "residual", "out", "scaleOut", "w1", "b1", "w2", "b2", "aux"};

}  // namespace

ParsedCfg ParseCfg(const Napi::Env& env, const Napi::Value& value) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    ThrowType(env, "cfg must be a Float64Array");
  }
  auto arr = value.As<Napi::Float64Array>();
  if (arr.ElementLength() != kCfgLength) {
    ThrowRange(env, "cfg must have " + std::to_string(kCfgLength) + " entries; received " +
                        std::to_string(arr.ElementLength()));
  }
  const double* c = arr.Data();
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
  p.spatial_bias = static_cast<float>(c[kSpatialBias]);
  if (!std::isfinite(c[kSpatialBias])) ThrowRange(env, "cfg spatialBias must be finite");
  p.dtype = static_cast<DType>(CfgInt(env, c, kDType, 0, 2));
  out.device = static_cast<int>(CfgInt(env, c, kDevice, 0, 1 << 16));

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

HostArrays ParseHostOperands(const Napi::Env& env, const Napi::Value& ops, const OpParams& p, bool weights_only) {
  if (!ops.IsArray()) ThrowType(env, weights_only ? "hostWeights must be an array" : "ops must be an array");
  auto arr = ops.As<Napi::Array>();
  const uint32_t first = weights_only ? kW1 : kX;
  const uint32_t expected_len = kSlotCount - first;
  if (arr.Length() != expected_len) {
    ThrowRange(env, "operand tuple must have " + std::to_string(expected_len) + " entries");
  }
  SlotSizes sizes = ExpectedSlots(p);
  HostArrays out;
  for (uint32_t slot = first; slot < kSlotCount; ++slot) {
    Napi::Value v = arr.Get(slot - first);
    const std::string name = kSlotNames[slot];
    if (v.IsNull() || v.IsUndefined()) {
      if (sizes.required[slot]) ThrowType(env, name + " is required");
      continue;
    }
    if (!sizes.allowed[slot]) ThrowType(env, name + " is not used by this op and must be null");
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      ThrowType(env, name + " must be a Float32Array");
    }
    auto ta = v.As<Napi::Float32Array>();
    if (static_cast<int64_t>(ta.ElementLength()) != sizes.elems[slot]) {
      ThrowRange(env, name + " must have " + std::to_string(sizes.elems[slot]) + " elements; received " +
                          std::to_string(ta.ElementLength()));
    }
    if (ta.ArrayBuffer().ByteLength() == 0 && sizes.elems[slot] > 0) ThrowType(env, name + " is detached");
    out.ptr[slot] = ta.Data();
    out.keep[slot] = v;
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

Napi::Error ErrorFromStatus(const Napi::Env& env, const Status& s) {
  switch (s.code) {
    case StatusCode::InvalidArgument:
      return Napi::RangeError::New(env, s.message);
    case StatusCode::Unsupported: {
      auto e = Napi::Error::New(env, s.message);
      e.Set("code", Napi::String::New(env, "ERR_SQEX_UNSUPPORTED"));
      return e;
    }
    case StatusCode::Cuda: {
      auto e = Napi::Error::New(env, s.message);
      e.Set("code", Napi::String::New(env, "ERR_SQEX_CUDA"));
      e.Set("cudaError", Napi::Number::New(env, s.cuda_error));
      e.Set("cudaErrorName", Napi::String::New(env, s.cuda_name));
      return e;
    }
    default: {
      auto e = Napi::Error::New(env, s.message.empty() ? "internal error" : s.message);
      e.Set("code", Napi::String::New(env, "ERR_SQEX_INTERNAL"));
      return e;
    }
  }
}

void ThrowStatus(const Napi::Env& env, const Status& s) { throw ErrorFromStatus(env, s); }

uint64_t BigIntToU64(const Napi::Env& env, const Napi::Value& v, const char* what) {
  if (!v.IsBigInt()) ThrowType(env, std::string(what) + " must be a bigint");
  bool lossless = false;
  uint64_t r = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) ThrowRange(env, std::string(what) + " must fit in 64 unsigned bits");
  return r;
}

Napi::Value U64ToBigInt(const Napi::Env& env, uint64_t v) { return Napi::BigInt::New(env, v); }

}  // namespace sqex::binding
