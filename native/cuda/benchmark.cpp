// cuda_benchmark: an op against a same-size device-to-device copy on a private stream, timed with
// events (rotating input sets past 3x the L2), and the same launches replayed from a CUDA graph.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

#include "internal.h"
#include "sqex/cuda_api.h"

namespace sqex {

namespace {

struct BenchResources {
  int device = 0;
  cudaStream_t stream = nullptr;
  std::vector<void*> bufs;
  std::vector<cudaEvent_t> events;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  ~BenchResources() {
    cudaSetDevice(device);
    // On every return, errors included: the caches are keyed by a handle CUDA may hand out again.
    if (stream) cuda::release_stream_caches(device, stream);
    if (stream) cudaStreamSynchronize(stream);
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    for (auto e : events) cudaEventDestroy(e);
    for (void* b : bufs) cudaFree(b);
    if (stream) cudaStreamDestroy(stream);
    cudaGetLastError();
  }
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

}  // namespace

Status cuda_benchmark(const OpParams& p, const Weights& host_w, int device, int iters,
                      CudaBenchResult* out) {
  Status st = cuda::set_device(device);
  if (!st.ok()) return st;
  if (!(st = cuda::check_weights(p, host_w)).ok()) return st;
  if (iters < 1) iters = 1;
  const cuda::DeviceProps* dp = nullptr;
  if (!(st = cuda::device_props(device, &dp)).ok()) return st;
  BenchResources r;
  r.device = device;
  SQEX_CUDA_TRY(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking), "creating a stream");
  const size_t xb = static_cast<size_t>(p.shape.numel()) * dtype_size(p.dtype);
  const size_t set_bytes = 2 * xb;  // x and y
  int sets = 1;
  if (set_bytes < 3 * static_cast<size_t>(dp->l2_bytes))
    sets = static_cast<int>(std::min<size_t>(64, (3 * static_cast<size_t>(dp->l2_bytes)) / set_bytes + 1));
  // random input (uniform [-2, 2]) as raw storage values; a cheap LCG keeps big shapes fast
  std::vector<unsigned char> host(xb);
  {
    uint64_t state = 0x9E3779B97F4A7C15ull;
    auto next = [&]() -> float {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      return static_cast<float>(static_cast<uint32_t>(state >> 40)) * (4.f / 16777216.f) - 2.f;
    };
    const size_t n = static_cast<size_t>(p.shape.numel());
    if (p.dtype == DType::F32) {
      float* f = reinterpret_cast<float*>(host.data());
      for (size_t i = 0; i < n; ++i) f[i] = next();
    } else {
      uint16_t* h = reinterpret_cast<uint16_t*>(host.data());
      for (size_t i = 0; i < n; ++i) {
        const float v = next();
        uint32_t b;
        std::memcpy(&b, &v, 4);
        if (p.dtype == DType::BF16) {
          h[i] = static_cast<uint16_t>((b + 0x7fff + ((b >> 16) & 1)) >> 16);
        } else {
          // fp32 -> fp16 by truncation is enough for benchmark data; tiny values flush to 0
          const uint32_t sign = (b >> 16) & 0x8000;
          const int32_t exp = static_cast<int32_t>((b >> 23) & 0xff) - 127 + 15;
          h[i] = exp <= 0 ? static_cast<uint16_t>(sign)
                          : static_cast<uint16_t>(sign | (static_cast<uint32_t>(exp) << 10) |
                                                  ((b & 0x7fffff) >> 13));
        }
      }
    }
  }
  std::vector<void*> xs(sets), ys(sets);
  for (int i = 0; i < sets; ++i) {
    void* a = nullptr;
    void* b = nullptr;
    SQEX_CUDA_TRY(cudaMalloc(&a, xb), "allocating benchmark input");
    r.bufs.push_back(a);
    SQEX_CUDA_TRY(cudaMalloc(&b, xb), "allocating benchmark output");
    r.bufs.push_back(b);
    xs[i] = a;
    ys[i] = b;
    SQEX_CUDA_TRY(cudaMemcpy(a, host.data(), xb, cudaMemcpyHostToDevice), "uploading benchmark input");
    SQEX_CUDA_TRY(cudaMemset(b, 0, xb), "clearing benchmark output");
  }
  Weights dw;
  {
    std::unique_lock<std::mutex> issue = cuda::lock_stream(device, r.stream);  // the caches' contract
    if (!(st = cuda::upload_weights(p, host_w, device, r.stream, &dw)).ok()) return st;
  }
  auto op = [&](int i) -> Status {
    Tensors t;
    t.x = xs[i % sets];
    t.y = ys[i % sets];
    return cuda_forward(p, dw, t, device, r.stream);
  };
  auto copy = [&](int i) -> Status {
    SQEX_CUDA_TRY(cudaMemcpyAsync(ys[i % sets], xs[i % sets], xb, cudaMemcpyDeviceToDevice, r.stream),
                  "copying device to device");
    return Status::Ok();
  };
  const int timed = iters;
  r.events.resize(2 * static_cast<size_t>(timed));
  for (auto& e : r.events) SQEX_CUDA_TRY(cudaEventCreate(&e), "creating an event");
  auto time_it = [&](auto&& fn, double* med) -> Status {
    for (int i = 0; i < std::max(3, sets); ++i) {
      Status s2 = fn(i);
      if (!s2.ok()) return s2;
    }
    for (int i = 0; i < timed; ++i) {
      SQEX_CUDA_TRY(cudaEventRecord(r.events[2 * i], r.stream), "recording an event");
      Status s2 = fn(i);
      if (!s2.ok()) return s2;
      SQEX_CUDA_TRY(cudaEventRecord(r.events[2 * i + 1], r.stream), "recording an event");
    }
    SQEX_CUDA_TRY(cudaStreamSynchronize(r.stream), "waiting for the benchmark");
    std::vector<double> us(timed);
    for (int i = 0; i < timed; ++i) {
      float ms = 0;
      SQEX_CUDA_TRY(cudaEventElapsedTime(&ms, r.events[2 * i], r.events[2 * i + 1]), "reading an event");
      us[i] = ms * 1000.0;
    }
    *med = median(us);
    return Status::Ok();
  };
  // interleave: copy, op, copy, op so that clocks/thermal drift hits both alike
  double c1 = 0, o1 = 0, c2 = 0, o2 = 0;
  if (!(st = time_it(copy, &c1)).ok()) return st;
  if (!(st = time_it(op, &o1)).ok()) return st;
  if (!(st = time_it(copy, &c2)).ok()) return st;
  if (!(st = time_it(op, &o2)).ok()) return st;
  out->copy_us = std::min(c1, c2);
  out->op_us = std::min(o1, o2);
  // graph replay of `iters` launches
  SQEX_CUDA_TRY(cudaStreamBeginCapture(r.stream, cudaStreamCaptureModeThreadLocal), "beginning capture");
  for (int i = 0; i < iters; ++i) {
    Status s2 = op(i);
    if (!s2.ok()) {
      cudaGraph_t g = nullptr;
      cudaStreamEndCapture(r.stream, &g);
      if (g) cudaGraphDestroy(g);
      cudaGetLastError();
      return s2;
    }
  }
  SQEX_CUDA_TRY(cudaStreamEndCapture(r.stream, &r.graph), "ending capture");
  // cudaGraphInstantiateWithFlags: the one spelling CUDA 11.4+ and 12+ share (cudaGraphInstantiate
  // changed its signature in CUDA 12).
  SQEX_CUDA_TRY(cudaGraphInstantiateWithFlags(&r.exec, r.graph, 0), "instantiating the graph");
  SQEX_CUDA_TRY(cudaGraphLaunch(r.exec, r.stream), "launching the graph");
  std::vector<double> per;
  for (int rep = 0; rep < 5; ++rep) {
    SQEX_CUDA_TRY(cudaEventRecord(r.events[0], r.stream), "recording an event");
    SQEX_CUDA_TRY(cudaGraphLaunch(r.exec, r.stream), "launching the graph");
    SQEX_CUDA_TRY(cudaEventRecord(r.events[1], r.stream), "recording an event");
    SQEX_CUDA_TRY(cudaEventSynchronize(r.events[1]), "waiting for the graph");
    float ms = 0;
    SQEX_CUDA_TRY(cudaEventElapsedTime(&ms, r.events[0], r.events[1]), "reading an event");
    per.push_back(ms * 1000.0 / iters);
  }
  out->op_graph_us = median(per);
  SQEX_CUDA_TRY(cudaStreamSynchronize(r.stream), "waiting for the benchmark");
  cuda::release_stream_caches(device, r.stream);
  out->rotating_sets = sets;
  out->bytes = static_cast<int64_t>(xb);
  return Status::Ok();
}

}  // namespace sqex
