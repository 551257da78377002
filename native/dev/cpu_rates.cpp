// Machine rates for the floor column of the CPU bench (bench/cpu.mjs compiles and runs this
// once per bench run, so the floor is measured under the same load as the rows).
//
// Prints one JSON object:
//   copy[t][i]  : bytes/s of a copy (read + write counted) of sizes[i] bytes split over t threads,
//                 each thread copying its slice over and over (the slices stay in its caches when
//                 they fit), best of several repeats
//   read[t][i]  : bytes/s of a read-only sum over sizes[i] bytes split over t threads
//   fma64[t], fma32[t] : multiply-adds/s with t threads (AVX-512 when the CPU has it, else AVX2+FMA,
//                 else the compiler's baseline vectors: the widest the kernels use), 12
//                 independent chains per thread
//   the read sum uses the same widest vectors (512-bit loads reach L1/L2 rates 256-bit ones do not)
// t = 1 .. threads (argv[1], default hardware concurrency). argv[2], optional: more sizes in bytes,
// comma-separated (4 KiB .. 1 GiB each; the bench passes each row's x and weight sizes, so that a
// row's floor uses the rate of its own size, not of the next probed size up).
//
// Build: c++ -O2 -std=c++17 -pthread native/dev/cpu_rates.cpp -o build/cpu_rates
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Runs fn(t, iters) on `threads` threads started together; returns the seconds until all finish.
template <class F>
double timed(int threads, F fn) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> th;
  for (int t = 1; t < threads; ++t)
    th.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      fn(t);
    });
  while (ready.load() != threads - 1) {
  }
  const auto t0 = Clock::now();
  go.store(true, std::memory_order_release);
  fn(0);
  for (auto& x : th) x.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

volatile double g_sink;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SQEX_RATES_X86 1
#endif

typedef double v4d __attribute__((vector_size(32)));
typedef float v8f __attribute__((vector_size(32)));
typedef double v8d __attribute__((vector_size(64)));
typedef float v16f __attribute__((vector_size(64)));

// 12 independent chains of a = a * m + c: enough to cover FMA latency x throughput on current
// cores (4-5 cycles x 2-4 pipes).
// A macro, not a function: the loop must be compiled inside each target region. Twelve named
// accumulators: an array of them ends up in memory, bound by store forwarding.
#define FMA_CHAINS(a, m, c, iters)                                                        \
  {                                                                                        \
    auto a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5], a6 = a[6], a7 = a[7], \
         a8 = a[8], a9 = a[9], a10 = a[10], a11 = a[11];                                   \
    for (long i = 0; i < (iters); ++i) {                                                   \
      a0 = a0 * m + c;                                                                     \
      a1 = a1 * m + c;                                                                     \
      a2 = a2 * m + c;                                                                     \
      a3 = a3 * m + c;                                                                     \
      a4 = a4 * m + c;                                                                     \
      a5 = a5 * m + c;                                                                     \
      a6 = a6 * m + c;                                                                     \
      a7 = a7 * m + c;                                                                     \
      a8 = a8 * m + c;                                                                     \
      a9 = a9 * m + c;                                                                     \
      a10 = a10 * m + c;                                                                   \
      a11 = a11 * m + c;                                                                   \
    }                                                                                      \
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3, a[4] = a4, a[5] = a5, a[6] = a6, a[7] = a7; \
    a[8] = a8, a[9] = a9, a[10] = a10, a[11] = a11;                                        \
  }

#ifdef SQEX_RATES_X86
__attribute__((target("avx2,fma"))) void fma64_avx2(long iters, double* out) {
  v4d a[12], m = {0.999999, 0.999999, 0.999999, 0.999999}, c = {1e-7, 1e-7, 1e-7, 1e-7};
  for (int j = 0; j < 12; ++j) a[j] = v4d{1.0 + j, 2.0, 3.0, 4.0};
  FMA_CHAINS(a, m, c, iters);
  double s = 0;
  for (int j = 0; j < 12; ++j) s += a[j][0] + a[j][3];
  *out = s;
}
__attribute__((target("avx2,fma"))) void fma32_avx2(long iters, double* out) {
  const float mm = 0.999999f, cc = 1e-7f;
  v8f a[12], m = {mm, mm, mm, mm, mm, mm, mm, mm}, c = {cc, cc, cc, cc, cc, cc, cc, cc};
  for (int j = 0; j < 12; ++j) a[j] = v8f{1.f + j, 2, 3, 4, 5, 6, 7, 8};
  FMA_CHAINS(a, m, c, iters);
  double s = 0;
  for (int j = 0; j < 12; ++j) s += a[j][0] + a[j][7];
  *out = s;
}
__attribute__((target("avx512f"))) void fma64_avx512(long iters, double* out) {
  const double mm = 0.999999, cc = 1e-7;
  v8d a[12], m = {mm, mm, mm, mm, mm, mm, mm, mm}, c = {cc, cc, cc, cc, cc, cc, cc, cc};
  for (int j = 0; j < 12; ++j) a[j] = v8d{1.0 + j, 2, 3, 4, 5, 6, 7, 8};
  FMA_CHAINS(a, m, c, iters);
  double s = 0;
  for (int j = 0; j < 12; ++j) s += a[j][0] + a[j][7];
  *out = s;
}
__attribute__((target("avx512f"))) void fma32_avx512(long iters, double* out) {
  const float mm = 0.999999f, cc = 1e-7f;
  v16f a[12], m, c;
  for (int l = 0; l < 16; ++l) m[l] = mm, c[l] = cc;
  for (int j = 0; j < 12; ++j)
    for (int l = 0; l < 16; ++l) a[j][l] = float(1 + j + l);
  FMA_CHAINS(a, m, c, iters);
  double s = 0;
  for (int j = 0; j < 12; ++j) s += a[j][0] + a[j][15];
  *out = s;
}
#endif
void fma64_base(long iters, double* out) {
  v4d a[12], m = {0.999999, 0.999999, 0.999999, 0.999999}, c = {1e-7, 1e-7, 1e-7, 1e-7};
  for (int j = 0; j < 12; ++j) a[j] = v4d{1.0 + j, 2.0, 3.0, 4.0};
  FMA_CHAINS(a, m, c, iters);
  double s = 0;
  for (int j = 0; j < 12; ++j) s += a[j][0] + a[j][3];
  *out = s;
}
void fma32_base(long iters, double* out) {
  const float mm = 0.999999f, cc = 1e-7f;
  v8f a[12], m = {mm, mm, mm, mm, mm, mm, mm, mm}, c = {cc, cc, cc, cc, cc, cc, cc, cc};
  for (int j = 0; j < 12; ++j) a[j] = v8f{1.f + j, 2, 3, 4, 5, 6, 7, 8};
  FMA_CHAINS(a, m, c, iters);
  double s = 0;
  for (int j = 0; j < 12; ++j) s += a[j][0] + a[j][7];
  *out = s;
}

// Eight named accumulators (an array of them ends up in memory, bound by store forwarding).
#define READ_SUM_BODY                                                                      \
  v8f a0{}, a1{}, a2{}, a3{}, a4{}, a5{}, a6{}, a7{}, x0, x1, x2, x3, x4, x5, x6, x7;    \
  size_t i = 0;                                                                            \
  for (; i + 64 <= n; i += 64) {                                                           \
    std::memcpy(&x0, p + i, 32);                                                           \
    std::memcpy(&x1, p + i + 8, 32);                                                       \
    std::memcpy(&x2, p + i + 16, 32);                                                      \
    std::memcpy(&x3, p + i + 24, 32);                                                      \
    std::memcpy(&x4, p + i + 32, 32);                                                      \
    std::memcpy(&x5, p + i + 40, 32);                                                      \
    std::memcpy(&x6, p + i + 48, 32);                                                      \
    std::memcpy(&x7, p + i + 56, 32);                                                      \
    a0 += x0;                                                                              \
    a1 += x1;                                                                              \
    a2 += x2;                                                                              \
    a3 += x3;                                                                              \
    a4 += x4;                                                                              \
    a5 += x5;                                                                              \
    a6 += x6;                                                                              \
    a7 += x7;                                                                              \
  }                                                                                        \
  v8f s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));                               \
  double t = 0;                                                                            \
  for (int j = 0; j < 8; ++j) t += s[j];                                                   \
  for (; i < n; ++i) t += p[i];                                                            \
  return t;

#ifdef SQEX_RATES_X86
__attribute__((target("avx2,fma"))) double read_sum_avx2(const float* p, size_t n) { READ_SUM_BODY }
__attribute__((target("avx512f"))) double read_sum_avx512(const float* p, size_t n) {
  v16f a0{}, a1{}, a2{}, a3{}, x0, x1, x2, x3;
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    std::memcpy(&x0, p + i, 64);
    std::memcpy(&x1, p + i + 16, 64);
    std::memcpy(&x2, p + i + 32, 64);
    std::memcpy(&x3, p + i + 48, 64);
    a0 += x0;
    a1 += x1;
    a2 += x2;
    a3 += x3;
  }
  v16f s = (a0 + a1) + (a2 + a3);
  double t = 0;
  for (int j = 0; j < 16; ++j) t += s[j];
  for (; i < n; ++i) t += p[i];
  return t;
}
#endif
double read_sum_base(const float* p, size_t n) { READ_SUM_BODY }

}  // namespace

int main(int argc, char** argv) {
  int max_threads = argc > 1 ? std::atoi(argv[1]) : int(std::thread::hardware_concurrency());
  if (max_threads < 1) max_threads = 1;
  std::vector<size_t> sizes = {size_t(64) << 10, size_t(256) << 10, size_t(1) << 20, size_t(4) << 20,
                               size_t(16) << 20, size_t(64) << 20};
  if (argc > 2) {
    for (const char* p = argv[2]; *p;) {
      if (*p == ',') {  // an empty item
        ++p;
        continue;
      }
      char* end = nullptr;
      const unsigned long long v = std::strtoull(p, &end, 10);
      if (end == p) break;
      // Whole floats only, so that a copy's slices split evenly.
      if (v >= (size_t(4) << 10) && v <= (size_t(1) << 30)) sizes.push_back(size_t(v) / 4 * 4);
      p = *end == ',' ? end + 1 : end;
    }
    std::sort(sizes.begin(), sizes.end());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  }
  const int nsizes = int(sizes.size());
  const size_t max_size = sizes[nsizes - 1];
  std::vector<float> src(max_size / sizeof(float)), dst(max_size / sizeof(float));
  for (size_t i = 0; i < src.size(); ++i) src[i] = float(i % 1000) * 1e-3f;
  std::memset(dst.data(), 0, max_size);

  bool avx2 = false, avx512 = false;
#ifdef SQEX_RATES_X86
  avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  // The kernels' AVX-512 table needs F, DQ, VL and BW (native/cpu/kernels.cpp).
  avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
#endif

#ifndef SQEX_RATES_X86
  const bool avx2_read = false;
  auto read_sum_avx2 = read_sum_base;
  auto read_sum_avx512 = read_sum_base;
#else
  const bool avx2_read = avx2;
#endif
  auto read_sum = [&](const float* p, size_t n) {
    return avx512 ? read_sum_avx512(p, n) : avx2_read ? read_sum_avx2(p, n) : read_sum_base(p, n);
  };
  std::printf("{\"sizes\":[");
  for (int i = 0; i < nsizes; ++i) std::printf("%s%zu", i ? "," : "", sizes[i]);
  std::printf("],\"isa\":\"%s\"", avx512 ? "avx512" : avx2 ? "avx2" : "baseline");
  for (int kind = 0; kind < 2; ++kind) {
    std::printf(",\"%s\":[", kind == 0 ? "copy" : "read");
    for (int t = 1; t <= max_threads; ++t) {
      std::printf("%s[", t > 1 ? "," : "");
      for (int si = 0; si < nsizes; ++si) {
        const size_t bytes = sizes[si];
        // Repeat each slice enough to run ~2 ms, best of 5.
        const int iters = int(std::max<size_t>(2, (size_t(64) << 20) / bytes));
        double best = 1e30;
        for (int rep = 0; rep < 5; ++rep) {
          double sum = 0;
          const double sec = timed(t, [&](int p) {
            const size_t n = bytes / sizeof(float), lo = n * p / t, hi = n * (p + 1) / t;
            double acc = 0;
            for (int it = 0; it < iters; ++it) {
              if (kind == 0)
                std::memcpy(dst.data() + lo, src.data() + lo, (hi - lo) * sizeof(float));
              else
                acc += read_sum(src.data() + lo, hi - lo);
            }
            if (p == 0) sum = acc;
          });
          g_sink = sum + dst[bytes / sizeof(float) / 2];
          best = std::min(best, sec / iters);
        }
        const double moved = kind == 0 ? 2.0 * double(bytes) : double(bytes);
        std::printf("%s%.4g", si ? "," : "", moved / best);
      }
      std::printf("]");
    }
    std::printf("]");
  }
  for (int prec = 0; prec < 2; ++prec) {
    std::printf(",\"%s\":[", prec == 0 ? "fma64" : "fma32");
    const long iters = 200000;
    const double per_iter = 12.0 * (prec == 0 ? 4 : 8) * (avx512 ? 2 : 1);
    for (int t = 1; t <= max_threads; ++t) {
      double best = 1e30;
      for (int rep = 0; rep < 5; ++rep) {
        const double sec = timed(t, [&](int) {
          double out;
#ifdef SQEX_RATES_X86
          if (avx512) {
            prec == 0 ? fma64_avx512(iters, &out) : fma32_avx512(iters, &out);
          } else if (avx2) {
            prec == 0 ? fma64_avx2(iters, &out) : fma32_avx2(iters, &out);
          } else
#endif
          {
            prec == 0 ? fma64_base(iters, &out) : fma32_base(iters, &out);
          }
          g_sink = out;
        });
        best = std::min(best, sec);
      }
      std::printf("%s%.4g", t > 1 ? "," : "", per_iter * iters * t / best);
    }
    std::printf("]");
  }
  std::printf("}\n");
  return 0;
}
