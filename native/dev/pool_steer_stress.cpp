// Stress of the thread pool's wake-up steering (native/cpu/thread_pool.cpp, NOTES-cpu.md item 74)
// for ThreadSanitizer: three callers run short parallel_fors, often after sleeping long enough
// (60-460 us) that the workers have gone to sleep, so publishing narrows the sleepers' affinity;
// one caller resizes the pool between 1 and 6 threads; some calls run under a SoloScope and some
// nest a parallel_for. Every task must run exactly once, and at the end no thread of the process
// may be left with a narrower affinity than the process started with. Linux only (it reads
// /proc/self/task). Exits 1 otherwise. test/pool-tsan.test.ts builds and runs it.
//   g++ -O1 -g -fsanitize=thread -std=c++17 -pthread -Inative/cpu native/dev/pool_steer_stress.cpp
//       native/cpu/thread_pool.cpp native/cpu/system_limits.cpp -o /tmp/pool_steer_stress
#include <dirent.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "thread_pool.h"

using namespace sqex::cpu;

// This process's threads whose Cpus_allowed_list is not `want` (printed).
static int narrowed_threads(const std::string& want) {
  int bad = 0;
  DIR* d = opendir("/proc/self/task");
  if (!d) return 1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/status");
    std::string line;
    while (std::getline(f, line))
      if (line.rfind("Cpus_allowed_list", 0) == 0 && line.substr(line.find('\t') + 1) != want) {
        std::printf("thread %s: %s\n", e->d_name, line.c_str());
        ++bad;
      }
  }
  closedir(d);
  return bad;
}

static std::string allowed_list() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("Cpus_allowed_list", 0) == 0) return line.substr(line.find('\t') + 1);
  return "";
}

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::atoi(argv[1]) : 3000;
  const std::string want = allowed_list();
  std::atomic<int> bad{0};
  auto caller = [&](int id) {
    std::vector<int> hit(64);
    unsigned seed = unsigned(id) * 7919u + 1u;
    for (int it = 0; it < iters; it++) {
      seed = seed * 1103515245u + 12345u;
      const int n = 1 + int((seed >> 8) % 64);
      for (int i = 0; i < n; i++) hit[i] = 0;
      {
        const SoloScope solo(((seed >> 20) & 7) == 0);
        parallel_for(n, [&](int64_t i) {
          hit[i]++;
          if (i == 0 && it % 13 == 0) parallel_for(3, [](int64_t) {});  // nested: runs inline
        });
      }
      for (int i = 0; i < n; i++)
        if (hit[i] != 1) bad++;
      if ((seed >> 12) % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(60 + (seed >> 16) % 400));
      if (id == 0 && it % 300 == 150) set_pool_size(1 + (it / 300) % 6);
    }
  };
  std::vector<std::thread> callers;
  for (int i = 0; i < 3; i++) callers.emplace_back(caller, i);
  for (auto& t : callers) t.join();
  // A worker steered by the last publish puts its CPU back as it wakes; let the last ones wake.
  parallel_for(64, [](int64_t) {});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const int narrowed = narrowed_threads(want);
  std::printf("steer stress: %d tasks run other than once; %d threads left narrowed (allowed %s)\n", bad.load(),
              narrowed, want.c_str());
  return bad.load() != 0 || narrowed != 0 ? 1 : 0;
}
