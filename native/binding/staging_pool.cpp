#include "binding/staging_pool.h"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#if !defined(_WIN32)
#include <sys/mman.h>
#endif

#include "sqex/cpu.h"

namespace sqex::binding {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
// Cached bytes at most, and blocks at most: a few calls' worth of large tensors.
constexpr size_t kMaxCachedBytes = size_t{512} << 20;
constexpr size_t kMaxCachedBlocks = 16;
// Blocks from this size on are mapped from the system and unmapped when freed: from malloc, glibc
// kept blocks under its dynamic mmap threshold (up to 32 MiB) in its heaps after free, so the
// process held them and the available-memory check counted them as used (a review: a 1 GiB cgroup
// refused 2-8 of 55 calls of 4 MiB in each burst after the first, with nothing in flight).
constexpr size_t kMapFrom = size_t{1} << 20;
// Left to the rest of the process (its JS heaps, other threads' allocations) when staging asks
// how much memory is available: with no margin, calls from two threads took the last of a 1 GiB
// cgroup and the OOM killer ended the process (a review, 8 of 9 runs).
constexpr int64_t kMargin = int64_t{128} << 20;

struct Cached {
  float* ptr;
  size_t bytes;
};

struct Pool {
  std::mutex mutex;
  std::vector<Cached> free;
  size_t cached_bytes = 0;
  // Output blocks and result arrays of calls in flight, reserved and not yet written, and input
  // blocks not yet copied into: the system's available memory does not count them yet.
  size_t unwritten_bytes = 0;
  // The last reading of the available memory, when it was taken, and the bytes allocated fresh
  // since: reading it costs 20-120 us (/proc/meminfo and the cgroup files), more than staging a
  // small tensor, so fresh blocks adding up to kUncheckedBytes within 100 ms of the last reading
  // are checked against it less what was allocated since.
  int64_t available = -1;
  std::chrono::steady_clock::time_point read_at{};
  size_t fresh_since_read = 0;
};

constexpr auto kAvailableFor = std::chrono::milliseconds(100);
// At most this much staging is allocated on one reading: memory taken meanwhile by the rest of the
// process or by others is then seen within 4 MiB. The bound was a quarter of the reading, which
// let a CBAM call through after 189 of 229 MiB had been taken within the 100 ms, and the OOM killer
// ended the process (a review, 2026-12-05, of the same rule in CPU CBAM's guard).
constexpr size_t kUncheckedBytes = size_t{4} << 20;

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
#if defined(_WIN32)
  void* p = _aligned_malloc(bytes, bytes >= kHugePage ? kHugePage : 64);
  if (!p) throw std::bad_alloc();
  return static_cast<float*>(p);
#else
  if (bytes >= kMapFrom) {
    // Huge-page aligned from 2 MiB on (bytes is then a multiple of it): map a huge page more and
    // unmap the unaligned head and tail.
    const size_t align = bytes >= kHugePage ? kHugePage : 4096;
    const size_t span = bytes + (align > 4096 ? align : 0);
    void* m = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    const uintptr_t base = reinterpret_cast<uintptr_t>(m);
    const uintptr_t start = (base + align - 1) / align * align;
    if (start > base) munmap(m, start - base);
    const uintptr_t end = start + bytes;
    if (base + span > end) munmap(reinterpret_cast<void*>(end), base + span - end);
    return reinterpret_cast<float*>(start);
  }
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return static_cast<float*>(p);
#endif
}

void Release(float* p, size_t bytes) {
#if defined(_WIN32)
  (void)bytes;
  _aligned_free(p);
#else
  if (bytes >= kMapFrom) {
    munmap(p, bytes);
    return;
  }
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
      Release(p, bytes);
      return;
    }
    pl.cached_bytes += bytes;
    // Evict the oldest blocks beyond the limits.
    while (pl.cached_bytes > kMaxCachedBytes || pl.free.size() > kMaxCachedBlocks) {
      Release(pl.free.front().ptr, pl.free.front().bytes);  // here, not after the lock: collecting them could allocate
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
// Whether a fresh block of `bytes` fits in the memory available, less the margin, beside the
// unwritten bytes of calls in flight (and, on a cached reading, the blocks allocated since it).
// On success the block is counted at once, under the same lock as the check (fresh_since_read,
// and unwritten_bytes when `unwritten`: an output's reservation), so that two threads cannot both
// take the last of it; ReturnUnallocated undoes an input block's count when its allocation fails.
// On refusal fills *refused.
bool ReserveFresh(size_t bytes, bool unwritten, StagingRefused* refused) {
  Pool& pl = pool();
  const auto now = std::chrono::steady_clock::now();
  auto fits = [&](int64_t available, size_t since) {
    return available < 0 || double(bytes) + double(since) + double(pl.unwritten_bytes) + double(kMargin) <= double(available);
  };
  auto take = [&] {
    pl.fresh_since_read += bytes;
    if (unwritten) pl.unwritten_bytes += bytes;
  };
  {
    std::lock_guard<std::mutex> lock(pl.mutex);
    const bool recent = pl.available >= 0 && now - pl.read_at < kAvailableFor;
    if (recent && pl.fresh_since_read + bytes <= kUncheckedBytes && fits(pl.available, pl.fresh_since_read)) {
      take();
      return true;
    }
  }
  const int64_t available = host_available_memory_bytes();
  std::lock_guard<std::mutex> lock(pl.mutex);
  pl.available = available;
  pl.read_at = now;
  pl.fresh_since_read = 0;
  if (fits(available, 0)) {
    take();
    return true;
  }
  refused->available_bytes = double(available);
  refused->unwritten_bytes = double(pl.unwritten_bytes);
  return false;
}

void ReturnUnallocated(size_t bytes) {
  Pool& pl = pool();
  std::lock_guard<std::mutex> lock(pl.mutex);
  pl.fresh_since_read = pl.fresh_since_read > bytes ? pl.fresh_since_read - bytes : 0;
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
  for (const Cached& c : dropped) Release(c.ptr, c.bytes);
}

// A cached block of at least `bytes`, the smallest that fits without wasting more than half of
// it, taken from the cache; null when none fits.
StagingBlock TakeCached(size_t bytes) {
  Pool& pl = pool();
  std::lock_guard<std::mutex> lock(pl.mutex);
  size_t best = pl.free.size();
  for (size_t i = 0; i < pl.free.size(); ++i) {
    const size_t b = pl.free[i].bytes;
    if (b >= bytes && b <= 2 * bytes && (best == pl.free.size() || b < pl.free[best].bytes)) best = i;
  }
  if (best == pl.free.size()) return StagingBlock(nullptr, StagingBlockDeleter{});
  Cached c = pl.free[best];
  pl.free.erase(pl.free.begin() + static_cast<std::ptrdiff_t>(best));
  pl.cached_bytes -= c.bytes;
  return StagingBlock(c.ptr, StagingBlockDeleter{c.bytes});
}

// Counts a fresh block of `bytes` (ReserveFresh), dropping the cache and checking again when it
// does not fit; throws StagingRefused when it still does not.
void ReserveFreshOrThrow(size_t bytes, bool unwritten) {
  StagingRefused refused;
  if (!ReserveFresh(bytes, unwritten, &refused)) {
    // The cache may hold what is missing.
    DropCache();
    if (!ReserveFresh(bytes, unwritten, &refused)) throw refused;
  }
}

// A fresh block of `bytes`, already counted; on failure the count is undone when `counted_here`.
StagingBlock AllocateFresh(size_t bytes, bool counted_here) {
  float* p = nullptr;
  try {
    try {
      p = Allocate(bytes);
    } catch (const std::bad_alloc&) {
      // The cache may hold what is missing: give it back to the system and try once more.
      DropCache();
      p = Allocate(bytes);  // throws std::bad_alloc again if still short
    }
  } catch (...) {
    if (counted_here) ReturnUnallocated(bytes);
    throw;
  }
  return StagingBlock(p, StagingBlockDeleter{bytes});
}

size_t BlockBytes(size_t elems) { return RoundBytes(elems * sizeof(float) + (elems == 0 ? 1 : 0)); }
}  // namespace

StagingBlock AcquireStaging(size_t elems, UnwrittenReservation* until_filled) {
  const size_t bytes = BlockBytes(elems);
  // A cached block's pages are already the process's: it needs no new memory.
  if (StagingBlock cached = TakeCached(bytes)) return cached;
  ReserveFreshOrThrow(bytes, /*unwritten=*/true);
  UnwrittenReservation counted(bytes, UnwrittenReservation::Counted{});  // released if the allocation fails
  StagingBlock block = AllocateFresh(bytes, /*counted_here=*/true);
  *until_filled = std::move(counted);
  return block;
}

UnwrittenReservation ReserveStaging(size_t elems) {
  const size_t bytes = BlockBytes(elems);
  ReserveFreshOrThrow(bytes, /*unwritten=*/true);
  return UnwrittenReservation(bytes, UnwrittenReservation::Counted{});
}

StagingBlock AcquireReserved(size_t elems) {
  const size_t bytes = BlockBytes(elems);
  if (StagingBlock cached = TakeCached(bytes)) return cached;
  return AllocateFresh(bytes, /*counted_here=*/false);
}

}  // namespace sqex::binding
