// Two threads issuing SE calls to one CUDA stream, over the emulator (stream_cache.cpp's caches
// are per (device, stream), so their uses must not interleave between threads). Each mode exits 1 on any
// wrong result or error; a write to freed device memory traps in the emulator's cudaFree
// quarantine, and a read of it sees 0xDD bytes (before the fix, `workspace` and `graph` crashed on
// counters read as 0xDDDDDDDD). Found by a helper's attack (2026-12-01); before lock_stream
// (stream_cache.cpp, then runtime.cpp):
//   weights:   both threads pass a device x with host weights (seForward(devX, shape, hostW) from
//              two workers): a kernel read the other thread's weights (3-59 of 500 calls);
//   host:      thread A takes the host-array path (an async host call on the libuv pool), thread B
//              the device path with host weights (a sync call on the main thread): same;
//   workspace: thread A runs at N = 1 while thread B grows N on the same stream, so the workspace
//              is freed and reallocated between A taking it and A's launch (use after free);
//   graph:     an op captured into a graph on a stream, then a larger op on that stream grows the
//              workspace, then the graph is replayed: the replay must not use freed memory;
//   wcgraph:   the same with host weights, where a wider op grows the weight cache.
// Usage: stream_race <mode> [iterations=300]
#include <cuda_runtime.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "sqex/cuda_api.h"

using namespace sqex;

namespace {

constexpr int kC = 32, kHidden = 8;

OpParams se_params(int n) {
  OpParams p;
  p.op = Op::SE;
  p.shape = {n, kC, 2, 2};
  p.hidden = kHidden;
  p.two_fc = true;
  return p;
}

void* device_copy(const std::vector<float>& v) {
  void* p = nullptr;
  if (cudaMalloc(&p, v.size() * sizeof(float)) != cudaSuccess) std::abort();
  cudaMemcpy(p, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice);
  return p;
}

std::vector<float> download(const void* d, size_t n) {
  std::vector<float> h(n);
  cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost);
  return h;
}

bool report(const Status& s) {
  if (s.ok()) return true;
  std::fprintf(stderr, "error: %s\n", s.message.c_str());
  return false;
}

// One caller: its own x, y and weights (host and device copies), and its result alone.
struct Caller {
  std::vector<float> w1, w2, x, expect;
  void *dw1 = nullptr, *dw2 = nullptr, *dx = nullptr, *dy = nullptr;
  bool host_path = false;    // cuda_forward_host (host x, host weights)
  bool host_weights = true;  // else device weights
  int n = 1;
  void* stream = nullptr;

  Caller(float wv, float xv, int samples) : n(samples) {
    w1.assign(kHidden * kC, wv);
    w2.assign(kC * kHidden, wv);
    x.resize(size_t(n) * kC * 4);
    for (size_t i = 0; i < x.size(); ++i) x[i] = xv + 0.001f * float(i % 97);
    dw1 = device_copy(w1);
    dw2 = device_copy(w2);
    dx = device_copy(x);
    dy = device_copy(x);
  }
  // Runs once; *y = the result. False on an error.
  bool run(std::vector<float>* y, int samples = 0) {
    const OpParams p = se_params(samples ? samples : n);
    const size_t elems = size_t(p.shape.numel());
    Weights w;
    if (host_path || host_weights) {
      w.w1 = w1.data();
      w.w2 = w2.data();
    } else {
      w.w1 = static_cast<const float*>(dw1);
      w.w2 = static_cast<const float*>(dw2);
    }
    if (host_path) {
      y->assign(elems, 0.f);
      Tensors t;
      t.x = x.data();
      t.y = y->data();
      return report(cuda_forward_host(p, w, t, 0, stream));
    }
    Tensors t;
    t.x = dx;
    t.y = dy;
    const Status s = host_weights ? cuda_forward_host_weights(p, w, t, 0, stream) : cuda_forward(p, w, t, 0, stream);
    if (!report(s) || !report(cuda_stream_synchronize(0, stream))) return false;
    *y = download(dy, elems);
    return true;
  }
};

// Two callers on one stream, `iters` calls each; counts results that differ from each one's own.
int two_threads(Caller& a, Caller& b, int iters) {
  if (!a.run(&a.expect) || !b.run(&b.expect)) return 1;
  if (a.expect == b.expect) {
    std::fprintf(stderr, "the two callers' results are equal: the check would see nothing\n");
    return 1;
  }
  std::atomic<int> wrong_a{0}, wrong_b{0};
  auto loop = [iters](Caller& c, std::atomic<int>& wrong) {
    std::vector<float> y;
    for (int i = 0; i < iters; ++i)
      if (!c.run(&y) || y != c.expect) ++wrong;
  };
  std::thread ta(loop, std::ref(a), std::ref(wrong_a));
  std::thread tb(loop, std::ref(b), std::ref(wrong_b));
  ta.join();
  tb.join();
  std::printf("%d calls each: %d wrong in thread A, %d in thread B\n", iters, wrong_a.load(), wrong_b.load());
  return wrong_a || wrong_b ? 1 : 0;
}

int workspace_growth(int iters) {
  Caller a(0.01f, 1.f, 1), b(0.02f, 1.f, iters + 1);
  a.host_weights = b.host_weights = false;
  if (!a.run(&a.expect)) return 1;
  std::atomic<int> wrong{0};
  std::thread ta([&] {
    std::vector<float> y;
    for (int i = 0; i < 4 * iters; ++i)
      if (!a.run(&y) || y != a.expect) ++wrong;
  });
  std::thread tb([&] {
    std::vector<float> y;
    for (int n = 1; n <= iters + 1; ++n)
      if (!b.run(&y, n)) ++wrong;
  });
  ta.join();
  tb.join();
  std::printf("%d calls at N = 1 beside %d growing ones: %d wrong or failed\n", 4 * iters, iters + 1, wrong.load());
  return wrong ? 1 : 0;
}

// Captures one call of `a` into a graph on a new stream, runs `grow` (a larger call on that stream,
// which grows one of its caches), then replays the graph: 0 when the replay gives a's result.
int replay_after_growth(Caller& a, const char* what, const std::function<bool(cudaStream_t)>& grow) {
  cudaStream_t s = nullptr;
  cudaStreamCreate(&s);
  a.stream = s;
  if (!a.run(&a.expect)) return 1;  // the caches exist before the capture
  const OpParams p = se_params(1);
  Weights w;
  w.w1 = a.host_weights ? a.w1.data() : static_cast<const float*>(a.dw1);
  w.w2 = a.host_weights ? a.w2.data() : static_cast<const float*>(a.dw2);
  Tensors t;
  t.x = a.dx;
  t.y = a.dy;
  cudaGraph_t g = nullptr;
  cudaGraphExec_t ge = nullptr;
  cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  const Status cs = a.host_weights ? cuda_forward_host_weights(p, w, t, 0, s) : cuda_forward(p, w, t, 0, s);
  cudaStreamEndCapture(s, &g);
  if (!report(cs)) return 1;
  cudaGraphInstantiateWithFlags(&ge, g, 0);
  if (!grow(s)) return 1;
  cudaMemset(a.dy, 0, a.x.size() * sizeof(float));
  cudaGraphLaunch(ge, s);
  cudaStreamSynchronize(s);
  const bool ok = download(a.dy, a.x.size()) == a.expect;
  std::printf("graph replayed after the %s grew: %s\n", what, ok ? "same result" : "WRONG result");
  cudaGraphExecDestroy(ge);
  cudaGraphDestroy(g);
  return ok ? 0 : 1;
}

int graph_replay() {
  Caller a(0.01f, 1.f, 1), big(0.02f, 1.f, 64);
  a.host_weights = big.host_weights = false;
  return replay_after_growth(a, "workspace", [&](cudaStream_t s) {
    big.stream = s;
    std::vector<float> y;
    return big.run(&y);  // 64 samples: a larger workspace
  });
}

int weight_cache_graph_replay() {
  Caller a(0.01f, 1.f, 1);
  return replay_after_growth(a, "weight cache", [&](cudaStream_t s) {
    OpParams wide = se_params(1);
    wide.hidden = 4 * kHidden;  // 4x the weights: the cache grows
    std::vector<float> w1(size_t(wide.hidden) * kC, 0.02f), w2(size_t(kC) * wide.hidden, 0.02f);
    Weights ww;
    ww.w1 = w1.data();
    ww.w2 = w2.data();
    Tensors t2;
    t2.x = a.dx;
    t2.y = device_copy(a.x);
    return report(cuda_forward_host_weights(wide, ww, t2, 0, s));
  });
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const int iters = argc > 2 ? std::atoi(argv[2]) : 300;
  if (mode == "weights" || mode == "host") {
    Caller a(0.01f, 1.f, 1), b(-0.5f, 1.f, 1);
    a.host_path = mode == "host";
    return two_threads(a, b, iters);
  }
  if (mode == "workspace") return workspace_growth(iters);
  if (mode == "graph") return graph_replay();
  if (mode == "wcgraph") return weight_cache_graph_replay();
  std::fprintf(stderr, "usage: stream_race weights|host|workspace|graph|wcgraph [iterations]\n");
  return 2;
}
