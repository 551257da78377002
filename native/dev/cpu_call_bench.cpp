// Per-call timing of the production CPU ops on one shape (issue 11 parts 2-3): where a small
// call's time goes (perf record on this), one thread against the pool, back-to-back calls
// against calls that follow a memcpy stint (the bench's pattern), and a busy-loop neighbour.
//
// Build (from the repo root):
//   g++ -O3 -g -std=c++17 -pthread -Inative/include -Inative/cpu native/dev/cpu_call_bench.cpp
//       native/cpu/*.cpp -o /tmp/cpu_call_bench
// Run:  /tmp/cpu_call_bench OP NxCxHxW LAYOUT [threads] [reps]
//   OP se|eca|cbam; LAYOUT NCHW|NHWC; threads 0 = default (hardware concurrency).
//   env MODE=loop (default; back to back) | stint (16 memcpys of x, then 16 calls, first dropped:
//   bench/cpu.mjs's pattern; REST_MS=ms: asleep that long before each stint's memcpys, as the bench's
//   rounds rest after onnxruntime's stints) | produced (x rewritten by a memcpy before each call, untimed, as a
//   previous layer would leave it: its last-written lines in the cache, no reuse of the last call's
//   accesses) | gap (this thread busy GAP_US microseconds between calls, default 500, untimed: an
//   app's other work, so that the pool's workers have gone to sleep) | sleep (this thread asleep
//   SLEEP_US between calls, default 500); SOLO_MAX=bytes: the op cost under which a call that finds
//   the workers asleep runs on the calling thread alone (default 4e6; 0: never); SPIN_US=us: the
//   workers' spin after a job before they sleep (default 50); BUSY=1: a busy-loop thread in a child process beside the calls; YOFF=k: y k floats
//   past a 64-byte boundary (default: wherever malloc puts it); STREAM_MIN=bytes: the output size
//   from which the ops store y non-temporally (default 16 MiB; 0: always, a huge value: never);
//   ISA=scalar|sse2|avx2|avx512: that kernel table instead of the best one.
// Prints the median, p10 and p90 in microseconds, the calls' mean, and a digest of y.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"    // the kernel tables
#include "pipeline.h"  // g_stream_min_bytes
#include "sqex/cpu.h"
#include "thread_pool.h"  // g_solo_max_cost_bytes

using namespace sqex;

static double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static void fill(std::vector<float>& v, size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  v.resize(n);
  for (auto& e : v) e = d(g);
}

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s se|eca|cbam NxCxHxW NCHW|NHWC [threads] [reps]\n", argv[0]);
    return 2;
  }
  const std::string op = argv[1];
  long n, c, h, w;
  if (std::sscanf(argv[2], "%ldx%ldx%ldx%ld", &n, &c, &h, &w) != 4) return 2;
  const bool nhwc = std::string(argv[3]) == "NHWC";
  if (argc > 4) cpu_set_thread_count(std::atoi(argv[4]));
  const int reps = argc > 5 ? std::atoi(argv[5]) : 3000;
  const char* mode_env = std::getenv("MODE");
  const bool stint = mode_env && std::string(mode_env) == "stint";
  const bool produced = mode_env && std::string(mode_env) == "produced";
  const bool gap = mode_env && std::string(mode_env) == "gap";
  const bool sleep_mode = mode_env && std::string(mode_env) == "sleep";
  const double gap_s = (std::getenv("GAP_US") ? std::atof(std::getenv("GAP_US")) : 500) * 1e-6;
  const int sleep_us = std::getenv("SLEEP_US") ? std::atoi(std::getenv("SLEEP_US")) : 500;
  if (const char* sm = std::getenv("SOLO_MAX")) sqex::cpu::g_solo_max_cost_bytes = std::atof(sm);
  if (const char* sp = std::getenv("SPIN_US")) sqex::cpu::set_worker_spin_us(std::atoll(sp));

  OpParams p;
  p.op = op == "eca" ? Op::ECA : op == "cbam" ? Op::CBAM : Op::SE;
  p.shape = {n, c, h, w};
  p.layout = nhwc ? Layout::NHWC : Layout::NCHW;
  // SE-ResNet reduction 16 (EfficientNet's 96 -> 4 and 240 -> 10 as in bench/cpu.mjs).
  const long hidden = c == 96 ? 4 : c == 240 ? 10 : std::max(8L, c / 16);
  p.hidden = p.op == Op::ECA ? 0 : hidden;
  p.two_fc = true;
  p.eca_k = 5;
  p.spatial_k = 7;
  p.spatial_bias = 0.05f;
  const size_t numel = size_t(n * c * h * w);
  std::vector<float> x, ybuf(numel + 16), dst(numel), w1, b1, w2, b2, aux;
  // y: where a plain malloc put it, or YOFF floats past a 64-byte boundary (YOFF=0: aligned;
  // YOFF=4: 16 bytes off a line, as glibc's mmapped chunks, i.e. Node's arrays of 32 MB and more).
  float* yp = ybuf.data();
  if (const char* sm = std::getenv("STREAM_MIN")) sqex::cpu::g_stream_min_bytes = std::atoll(sm);
  if (const char* isa = std::getenv("ISA")) {
    const std::string want = isa;
    const sqex::cpu::Kernels* k = want == "scalar" ? sqex::cpu::kernels_scalar()
                                  : want == "sse2" ? sqex::cpu::kernels_sse2()
                                  : want == "avx2" ? sqex::cpu::kernels_avx2()
                                  : want == "avx512" ? sqex::cpu::kernels_avx512()
                                  : nullptr;
    if (!k) {
      std::fprintf(stderr, "ISA=%s: not one of scalar, sse2, avx2, avx512 on this CPU\n", isa);
      return 2;
    }
    sqex::cpu::force_kernels(k);
  }
  if (const char* yoff = std::getenv("YOFF")) {
    const uintptr_t a = (reinterpret_cast<uintptr_t>(yp) + 63) & ~uintptr_t(63);
    yp = reinterpret_cast<float*>(a) + std::atoi(yoff) % 16;
  }
  fill(x, numel, -1, 1, 1);
  fill(w1, size_t(hidden * c), -0.1f, 0.1f, 2);
  fill(b1, size_t(hidden), -0.1f, 0.1f, 3);
  fill(w2, size_t(c * hidden), -0.1f, 0.1f, 4);
  fill(b2, size_t(c), -0.1f, 0.1f, 5);
  fill(aux, 98, -0.2f, 0.2f, 6);
  Weights wt;
  if (p.op != Op::ECA) {
    wt.w1 = w1.data();
    wt.b1 = b1.data();
    wt.w2 = w2.data();
    wt.b2 = b2.data();
  }
  if (p.op != Op::SE) wt.aux = aux.data();
  Tensors t;
  t.x = x.data();
  t.y = yp;

  pid_t busy = -1;
  if (std::getenv("BUSY")) {
    busy = fork();
    if (busy == 0) {
      volatile unsigned long k = 0;
      for (;;) k = k + 1;
    }
    usleep(200000);
  }

  std::vector<double> times;
  times.reserve(size_t(reps));
  auto call = [&] {
    Status s = forward_cpu(p, wt, t);
    if (!s.ok()) {
      std::fprintf(stderr, "error: %s\n", s.message.c_str());
      std::exit(1);
    }
  };
  for (int i = 0; i < 200; ++i) call();
  if (stint) {
    const int rest_ms = std::getenv("REST_MS") ? std::atoi(std::getenv("REST_MS")) : 0;
    while (int(times.size()) < reps) {
      if (rest_ms > 0) usleep(static_cast<useconds_t>(rest_ms) * 1000);
      for (int k = 0; k < 16; ++k) std::memcpy(dst.data(), x.data(), numel * sizeof(float));
      for (int k = 0; k < 16; ++k) {
        const double a = now_s();
        call();
        const double d = now_s() - a;
        if (k > 0) times.push_back(d);
      }
    }
  } else if (gap || sleep_mode) {
    for (int i = 0; i < reps; ++i) {
      if (gap) {
        const double g0 = now_s();
        while (now_s() - g0 < gap_s) {
        }
      } else {
        usleep(static_cast<useconds_t>(sleep_us));
      }
      const double a = now_s();
      call();
      times.push_back(now_s() - a);
    }
  } else if (produced) {
    std::memcpy(dst.data(), x.data(), numel * sizeof(float));
    for (int i = 0; i < reps; ++i) {
      std::memcpy(x.data(), dst.data(), numel * sizeof(float));
      const double a = now_s();
      call();
      times.push_back(now_s() - a);
    }
  } else {
    for (int i = 0; i < reps; ++i) {
      const double a = now_s();
      call();
      times.push_back(now_s() - a);
    }
  }
  if (busy > 0) {
    kill(busy, SIGKILL);
    waitpid(busy, nullptr, 0);
  }
  double mean = 0;
  for (double d : times) mean += d;
  mean /= double(times.size());
  std::sort(times.begin(), times.end());
  const size_t m = times.size();
  // FNV-1a of y's bytes after the last call (x is the same each call): equal digests across two
  // builds mean bit-identical outputs, NaN payloads included.
  uint64_t digest = 1469598103934665603ull;
  const unsigned char* yb = reinterpret_cast<const unsigned char*>(yp);
  for (size_t i = 0; i < numel * sizeof(float); ++i) digest = (digest ^ yb[i]) * 1099511628211ull;
  std::printf("%s %s %s threads=%d %s%s median %.1f us  p10 %.1f  p90 %.1f  mean %.1f  y %016llx\n", op.c_str(), argv[2],
              nhwc ? "NHWC" : "NCHW", cpu_thread_count(), stint ? "stint" : produced ? "produced" : gap ? "gap" : sleep_mode ? "sleep" : "loop", busy > 0 ? " busy" : "",
              times[m / 2] * 1e6, times[m / 10] * 1e6, times[m * 9 / 10] * 1e6, mean * 1e6, (unsigned long long)digest);
  return 0;
}
