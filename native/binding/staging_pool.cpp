#include "binding/staging_pool.h"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#include "sqex/cpu.h"

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
  // Output blocks and result arrays of calls in flight, reserved and not yet written: the system's
  // available memory does not count them yet.
  size_t unwritten_bytes = 0;
  // The last reading of the available memory, when it was taken, and the bytes allocated fresh
  // since: reading it costs 80-120 us (/proc/meminfo and the cgroup files), more than staging a
  // small tensor, so a fresh block within a quarter of the last reading, taken in the last 100 ms,
  // goes on it.
  int64_t available = -1;
  std::chrono::steady_clock::time_point read_at{};
  size_t fresh_since_read = 0;
};

constexpr auto kAvailableFor = std::chrono::milliseconds(100);

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
    if (unwritten) pl.unwritten_bytes -= bytes;
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

UnwrittenReservation::UnwrittenReservation(size_t bytes) : bytes_(bytes) {
  Pool& pl = pool();
  std::lock_guard<std::mutex> lock(pl.mutex);
  pl.unwritten_bytes += bytes_;
}

UnwrittenReservation& UnwrittenReservation::operator=(UnwrittenReservation&& other) noexcept {
  if (this != &other) {
    UnwrittenReservation gone(std::move(*this));  // released at the end of this scope
    bytes_ = other.bytes_;
    other.bytes_ = 0;
  }
  return *this;
}

UnwrittenReservation::~UnwrittenReservation() {
  if (bytes_ == 0) return;
  Pool& pl = pool();
  std::lock_guard<std::mutex> lock(pl.mutex);
  pl.unwritten_bytes -= bytes_;
}

namespace {
// Whether a fresh block of `bytes` fits beside the unwritten bytes of calls in flight; reads the
// available memory again when the last reading is stale or the block is large beside it. Fills
// *refused when it does not fit. Called without the lock held.
bool FreshBlockFits(size_t bytes, StagingRefused* refused) {
  Pool& pl = pool();
  const auto now = std::chrono::steady_clock::now();
  int64_t available;
  size_t unwritten;
  {
    std::lock_guard<std::mutex> lock(pl.mutex);
    unwritten = pl.unwritten_bytes;
    const bool recent = pl.available >= 0 && now - pl.read_at < kAvailableFor;
    if (recent && double(pl.fresh_since_read + bytes) <= double(pl.available) / 4 && double(bytes + unwritten) <= double(pl.available)) {
      pl.fresh_since_read += bytes;
      return true;
    }
  }
  available = host_available_memory_bytes();
  {
    std::lock_guard<std::mutex> lock(pl.mutex);
    pl.available = available;
    pl.read_at = now;
    pl.fresh_since_read = bytes;
    unwritten = pl.unwritten_bytes;
  }
  if (available < 0 || double(bytes) + double(unwritten) <= double(available)) return true;
  refused->available_bytes = double(available);
  refused->unwritten_bytes = double(unwritten);
  return false;
}

// Gives the cached blocks back to the system (memory may be short).
void DropCache() {
  Pool& pl = pool();
  std::vector<Cached> dropped;
  {
    std::lock_guard<std::mutex> lock(pl.mutex);
    dropped.swap(pl.free);
    pl.cached_bytes = 0;
    pl.available = -1;  // read again next time: the drop changed it
  }
  for (const Cached& c : dropped) Release(c.ptr);
}
}  // namespace

StagingBlock AcquireStaging(size_t elems, bool written_now) {
  const size_t bytes = RoundBytes(elems * sizeof(float) + (elems == 0 ? 1 : 0));
  const bool unwritten = !written_now;
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
      // A cached block's pages are already the process's: it needs no new memory, written or not.
      Cached c = pl.free[best];
      pl.free.erase(pl.free.begin() + static_cast<std::ptrdiff_t>(best));
      pl.cached_bytes -= c.bytes;
      return StagingBlock(c.ptr, StagingBlockDeleter{c.bytes, false});
    }
  }
  StagingRefused refused;
  if (!FreshBlockFits(bytes, &refused)) {
    // The cache may hold what is missing.
    DropCache();
    if (!FreshBlockFits(bytes, &refused)) throw refused;
  }
  float* p = nullptr;
  try {
    p = Allocate(bytes);
  } catch (const std::bad_alloc&) {
    // The cache may hold what is missing: give it back to the system and try once more.
    DropCache();
    p = Allocate(bytes);  // throws std::bad_alloc again if still short
  }
  if (unwritten) {
    std::lock_guard<std::mutex> lock(pl.mutex);
    pl.unwritten_bytes += bytes;
  }
  return StagingBlock(p, StagingBlockDeleter{bytes, unwritten});
}

}  // namespace sqex::binding
