#include "system_limits.h"

#include <string>

#if defined(__linux__)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#endif

namespace sqex {
namespace cpu {
namespace {

#if defined(__linux__)
// The first number in `path` ("max" or unreadable: -1), and the second (0 where none) in *second.
long long read_number(const std::string& path, long long* second = nullptr) {
  long long v = -1;
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    char first[32] = {0};
    long long b = 0;
    const int got = std::fscanf(f, "%31s %lld", first, &b);
    std::fclose(f);
    if (got >= 1 && std::strcmp(first, "max") != 0) v = std::atoll(first);
    if (second) *second = got == 2 ? b : 0;
  }
  return v;
}

// A key of memory.stat and the sign it enters a sum with.
struct StatTerm {
  const char* key;
  int sign;
};

// The signed sum of the values of `terms` (ended by a null key) in a "key value" file
// (memory.stat), read once; keys missing count 0; -1 when the file cannot be read.
long long read_stat_sum(const std::string& path, const StatTerm* terms) {
  long long sum = -1;
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    sum = 0;
    char name[64];
    long long value = 0;
    while (std::fscanf(f, "%63s %lld", name, &value) == 2) {
      for (const StatTerm* t = terms; t->key; ++t)
        if (std::strcmp(name, t->key) == 0) sum += t->sign * value;
    }
    std::fclose(f);
  }
  return sum;
}

// The process's cgroup paths (/proc/self/cgroup): v2's ("0::/path") and, for v1, the one of the
// hierarchy holding `v1_controller`. found_v1: whether that hierarchy is listed.
struct CgroupPaths {
  std::string v2, v1;
  bool found_v1 = false;
};

CgroupPaths cgroup_paths(const char* v1_controller) {
  CgroupPaths out;
  if (FILE* f = std::fopen("/proc/self/cgroup", "r")) {
    char line[4096];
    const std::string want = std::string(",") + v1_controller + ",";
    while (std::fgets(line, sizeof line, f)) {
      // "hierarchy-id:controller,list:/path"
      char* a = std::strchr(line, ':');
      char* b = a ? std::strchr(a + 1, ':') : nullptr;
      if (!b) continue;
      std::string controllers(a + 1, b), path(b + 1);
      while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.pop_back();
      if (controllers.empty()) {
        out.v2 = path;
      } else if (("," + controllers + ",").find(want) != std::string::npos) {
        out.v1 = path;
        out.found_v1 = true;
      }
    }
    std::fclose(f);
  }
  return out;
}

// Calls visit(dir) for the process's cgroup under `mount` and each ancestor up to the mount root.
// The limit that binds is the smallest on that path: one set on a nested cgroup (systemd's
// CPUQuota= / MemoryMax=, a container sharing the host's cgroup namespace) is not visible at the
// root. Levels missing under the mount (a container whose mount root is its own cgroup, named by a
// longer host path) read as absent; the mount root is always read.
template <class Visit>
void walk_cgroup(const std::string& mount, std::string rel, Visit visit) {
  for (;;) {
    visit(mount + rel);
    if (rel.empty() || rel == "/") return;
    const size_t slash = rel.find_last_of('/');
    rel = slash == std::string::npos || slash == 0 ? std::string() : rel.substr(0, slash);
  }
}

const char* const kV1CpuMounts[] = {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuacct,cpu"};
const char* const kV1MemoryMounts[] = {"/sys/fs/cgroup/memory"};
#endif

}  // namespace

int cgroup_cpu_limit() {
#if defined(__linux__)
  // cgroup v2 writes "max 100000" or "200000 100000" to cpu.max; v1 has cpu.cfs_quota_us (-1:
  // none) and cpu.cfs_period_us.
  int best = 0;
  auto take = [&](long long quota, long long period) {
    if (quota > 0 && period > 0) {
      const int cpus = static_cast<int>((quota + period - 1) / period);
      if (best == 0 || cpus < best) best = cpus;
    }
  };
  const CgroupPaths paths = cgroup_paths("cpu");
  walk_cgroup("/sys/fs/cgroup", paths.v2, [&](const std::string& dir) {
    long long period = 0;
    const long long quota = read_number(dir + "/cpu.max", &period);
    take(quota, period);
  });
  auto v1 = [&](const std::string& dir) { take(read_number(dir + "/cpu.cfs_quota_us"), read_number(dir + "/cpu.cfs_period_us")); };
  if (paths.found_v1) {
    for (const char* mount : kV1CpuMounts) walk_cgroup(mount, paths.v1, v1);
  } else {
    walk_cgroup("/sys/fs/cgroup/cpu", "", v1);  // no /proc/self/cgroup: the root, as before
  }
  return best;
#else
  return 0;
#endif
}

int64_t available_memory_bytes() {
#if defined(__linux__)
  long long best = -1;
  auto take = [&](long long bytes) {
    if (bytes < 0) bytes = 0;
    if (best < 0 || bytes < best) best = bytes;
  };
  if (std::FILE* f = std::fopen("/proc/meminfo", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f)) {
      long long kib = -1;
      if (std::strncmp(line, "MemAvailable:", 13) == 0) {
        if (std::sscanf(line + 13, "%lld", &kib) == 1 && kib >= 0) take(kib * 1024);
        break;
      }
    }
    std::fclose(f);
  }
  // A cgroup's limit less what it uses. Usage counts the page cache, which the kernel reclaims
  // (writing dirty pages back first) before its OOM killer acts: file pages, active and inactive,
  // count as free (counting only the inactive ones, or only clean ones, refused a 64 MiB call in a
  // 1 GiB cgroup holding an 800 MiB file just written and read twice: a review). Shared memory
  // (tmpfs) is not among them: without swap it is not reclaimed. "No limit" reads as "max" (v2) or
  // a number near 2^63 (v1): both pass as no bound.
  constexpr long long kNoLimit = 1LL << 60;
  // The files of one level: its limit, its usage, and memory.stat's terms whose sum is its file
  // pages (v2's "file" includes tmpfs and shared memory, "shmem"; v1's file LRU lists do not). The
  // usage and memory.stat are read only where there is a limit.
  auto level = [&](const std::string& dir, const char* limit_file, const char* usage_file, const StatTerm* file_terms) {
    const long long limit = read_number(dir + limit_file);
    if (limit < 0 || limit >= kNoLimit) return;
    const long long usage = read_number(dir + usage_file);
    if (usage < 0) return;
    const long long file = read_stat_sum(dir + "/memory.stat", file_terms);
    const long long reclaimable = file <= 0 ? 0 : file > usage ? usage : file;
    take(limit - (usage - reclaimable));
  };
  static const StatTerm kV2File[] = {{"file", 1}, {"shmem", -1}, {nullptr, 0}};
  static const StatTerm kV1File[] = {{"total_active_file", 1}, {"total_inactive_file", 1}, {nullptr, 0}};
  const CgroupPaths paths = cgroup_paths("memory");
  walk_cgroup("/sys/fs/cgroup", paths.v2, [&](const std::string& dir) { level(dir, "/memory.max", "/memory.current", kV2File); });
  if (paths.found_v1) {
    for (const char* mount : kV1MemoryMounts) {
      walk_cgroup(mount, paths.v1, [&](const std::string& dir) { level(dir, "/memory.limit_in_bytes", "/memory.usage_in_bytes", kV1File); });
    }
  }
  return best;
#else
  return -1;
#endif
}

}  // namespace cpu
}  // namespace sqex
