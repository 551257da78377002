#include "binding/staging_pool.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>


namespace sqex::binding {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
// Cached bytes at most, and blocks at most: a few calls' worth of large tensors.
constexpr size_t kMaxCachedBytes = size_t{512} << 20;
constexpr size_t kMaxCachedBlocks = 16;

struct Cached {
  float* ptr;
  size_t bytes;
};

struct Pool {
  std::mutex mutex;
  std::vector<Cached> free;
  size_t cached_bytes = 0;
};

// Never destroyed: blocks may come back from calls settling during process exit.
Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

size_t RoundBytes(size_t bytes) {
  // Size classes: 4 KiB granules below 2 MiB, whole huge pages above (aligned_alloc needs a
  // multiple of the alignment).
  if (bytes >= kHugePage) return (bytes + kHugePage - 1) / kHugePage * kHugePage;
  return (bytes + 4095) / 4096 * 4096;
}

float* Allocate(size_t bytes) {
  const size_t align = bytes >= kHugePage ? kHugePage : 64;
#if defined(_WIN32)
  void* p = _aligned_malloc(bytes, align);
#else
  void* p = std::aligned_alloc(align, bytes);
#endif
  if (!p) throw std::bad_alloc();
  return static_cast<float*>(p);
}

void Release(float* p) {
#if defined(_WIN32)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

}  // namespace

void StagingBlockDeleter::operator()(float* p) const {
  if (!p) return;
  Pool& pl = pool();
  {
    std::lock_guard<std::mutex> lock(pl.mutex);
    // A destructor must not throw: when the list cannot grow, the block goes back to the system.
    try {
      pl.free.push_back(Cached{p, bytes});
    } catch (...) {
      Release(p);
      return;
    }
    pl.cached_bytes += bytes;
    // Evict the oldest blocks beyond the limits.
    while (pl.cached_bytes > kMaxCachedBytes || pl.free.size() > kMaxCachedBlocks) {
      Release(pl.free.front().ptr);  // here, not after the lock: collecting them could allocate
      pl.cached_bytes -= pl.free.front().bytes;
      pl.free.erase(pl.free.begin());
    }
  }
}

StagingBlock AcquireStaging(size_t elems) {
  const size_t bytes = RoundBytes(elems * sizeof(float) + (elems == 0 ? 1 : 0));
  Pool& pl = pool();
  {
    std::lock_guard<std::mutex> lock(pl.mutex);
    // Smallest cached block that fits without wasting more than half of it.
    size_t best = pl.free.size();
    for (size_t i = 0; i < pl.free.size(); ++i) {
      const size_t b = pl.free[i].bytes;
      if (b >= bytes && b <= 2 * bytes && (best == pl.free.size() || b < pl.free[best].bytes)) best = i;
    }
    if (best != pl.free.size()) {
      Cached c = pl.free[best];
      pl.free.erase(pl.free.begin() + static_cast<std::ptrdiff_t>(best));
      pl.cached_bytes -= c.bytes;
      return StagingBlock(c.ptr, StagingBlockDeleter{c.bytes});
    }
  }
  float* p = nullptr;
  try {
    p = Allocate(bytes);
  } catch (const std::bad_alloc&) {
    // The cache may hold what is missing: give it back to the system and try once more.
    std::vector<Cached> dropped;
    {
      std::lock_guard<std::mutex> lock(pl.mutex);
      dropped.swap(pl.free);
      pl.cached_bytes = 0;
    }
    for (const Cached& c : dropped) Release(c.ptr);
    p = Allocate(bytes);  // throws std::bad_alloc again if still short
  }
  return StagingBlock(p, StagingBlockDeleter{bytes});
}

}  // namespace sqex::binding
