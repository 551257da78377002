// Plain parameter and status types shared by the CPU kernels, the CUDA kernels and the
// N-API binding. No napi and no CUDA types here: every backend includes this header.
#pragma once
#include <cstdint>
#include <string>
#include <utility>

namespace sqex {

// The integer values are part of the binding contract (lib/backend/contract.ts).
enum class Op : int { SE = 0, ECA = 1, CBAM = 2 };
enum class Layout : int { NCHW = 0, NHWC = 1 };
enum class Act : int { ReLU = 0, SiLU = 1 };
enum class Gate : int { Sigmoid = 0, HardSigmoid = 1 };
enum class OutAct : int { None = 0, ReLU = 1 };
enum class DType : int { F32 = 0, F16 = 1, BF16 = 2 };

inline size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }

// Always the logical N, C, H, W, whatever the memory layout.
struct Shape4 {
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t hw() const { return h * w; }
  int64_t numel() const { return n * c * h * w; }
};

// One op call, fully validated by the TS layer and re-checked by the binding.
struct OpParams {
  Op op = Op::SE;
  Shape4 shape;
  Layout layout = Layout::NCHW;
  // SE and CBAM: rows of w1. SE single-FC (w2 == nullptr): hidden == c, no activation.
  int64_t hidden = 0;
  bool two_fc = true;           // SE only; CBAM always has two FCs
  Act act = Act::ReLU;          // between the FCs
  Gate gate = Gate::Sigmoid;    // channel gate (SE, ECA, CBAM) and spatial gate (CBAM)
  OutAct out_act = OutAct::None;  // SE only, applied after the residual add
  int eca_k = 0;                // ECA: odd 1-D kernel length
  int spatial_k = 0;            // CBAM: odd spatial kernel size
  float spatial_bias = 0.f;     // CBAM: folded BatchNorm bias of the spatial conv
  DType dtype = DType::F32;     // storage type of x, residual and y (weights are always fp32)
};

// Weights, always fp32. Host pointers for the CPU, device pointers for CUDA.
// Optional tensors are nullptr when absent.
struct Weights {
  const float* w1 = nullptr;  // SE/CBAM [hidden, C]
  const float* b1 = nullptr;  // [hidden]
  const float* w2 = nullptr;  // [C, hidden]
  const float* b2 = nullptr;  // [C]
  const float* aux = nullptr; // ECA: conv weight [k]; CBAM: spatial weight [2, k, k] (mean map, max map)
};

// Activations. x, residual and y hold `dtype` elements in `layout`; y may equal x.
// scale_out receives the channel gate values s as fp32 [N, C] (SE and ECA).
struct Tensors {
  const void* x = nullptr;
  const void* residual = nullptr;
  void* y = nullptr;
  float* scale_out = nullptr;
};

enum class StatusCode : int {
  Ok = 0,
  InvalidArgument = 1,  // becomes a RangeError in JS
  Unsupported = 2,      // e.g. CUDA not compiled in, dtype not supported on the CPU
  Cuda = 3,             // a CUDA runtime error; cuda_error holds its numeric code
  Internal = 4,
  OutOfMemory = 5,      // a host allocation failed (scratch, staging): ERR_SQEX_OUT_OF_MEMORY
};

struct Status {
  StatusCode code = StatusCode::Ok;
  int cuda_error = 0;       // cudaError_t value when code == Cuda
  std::string cuda_name;    // e.g. "cudaErrorMemoryAllocation"
  std::string message;      // human text; for CUDA errors includes cudaGetErrorString
  double bytes = 0;         // OutOfMemory: the allocation that failed, when known (else 0)
  bool ok() const { return code == StatusCode::Ok; }
  static Status Ok() { return Status{}; }
  static Status Error(StatusCode c, std::string msg) {
    Status s;
    s.code = c;
    s.message = std::move(msg);
    return s;
  }
};

}  // namespace sqex
