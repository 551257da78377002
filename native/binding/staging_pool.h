// Host memory for async-call staging (host_staging.h), reused across calls.
//
// Staging a 25 MB tensor into fresh memory costs far more than the copy: every call maps new
// pages and faults each 4 KiB page in (measured here: an async 8×256×56² SE call blocked its
// caller 16.6 ms, a memcpy of the same bytes takes 1.2 ms). Blocks are therefore kept after use
// and handed to later calls of similar size. (MADV_HUGEPAGE was tried here and dropped: with the
// common "defrag=madvise" setting a fault may stall on synchronous compaction, 5-30x slower. A
// reused block faults only once anyway; result arrays, fresh each call, are advised:
// result_pages.h.)
#pragma once
#include <cstddef>
#include <memory>
#include <new>

namespace sqex::binding {

struct StagingBlockDeleter {
  size_t bytes = 0;
  bool unwritten = false;  // counted in the pool's unwritten bytes until it comes back
  void operator()(float* p) const;  // returns the block to the pool (or frees it)
};
using StagingBlock = std::unique_ptr<float[], StagingBlockDeleter>;

// Thrown by AcquireStaging when the system cannot hold a fresh block beside the memory that calls
// in flight have reserved and not yet written: under overcommit the allocation would succeed and
// the OOM killer would end the process later, as the pages fault in (an attack queued 1000 async
// calls of 16 MiB tensors on a 23 GiB machine; each staged 32 MiB at call time).
struct StagingRefused : std::bad_alloc {
  double available_bytes = 0;  // what the system had available (host_available_memory_bytes)
  double unwritten_bytes = 0;  // reserved by calls in flight, not yet written
  const char* what() const noexcept override { return "not enough memory available for the staging block"; }
};

// At least `elems` floats, uninitialised (possibly a reused block). Thread-safe. `written_now`:
// the caller fills the block at once (an input's copy); else (an output's block, written when the
// call runs) its bytes count as reserved and unwritten until it comes back. A fresh block (no
// cached one fits) must fit in the memory available, less a 128 MiB margin for the rest of the
// process, beside the unwritten bytes of calls in flight, else StagingRefused. Blocks of 1 MiB
// and more are mapped from the system and given back to it when freed. Throws std::bad_alloc when the allocation itself fails.
StagingBlock AcquireStaging(size_t elems, bool written_now);

// The block has been written (its call's work ran): its pages now count in the system's usage,
// so it no longer counts as unwritten (it would be counted twice until the call settles).
void MarkWritten(StagingBlock& block);

// Bytes a call in flight has reserved and not yet written outside the pool (a result array JS
// allocated for it, filled when it settles), counted with the unwritten blocks while it lives.
class UnwrittenReservation {
 public:
  UnwrittenReservation() = default;
  explicit UnwrittenReservation(size_t bytes);
  UnwrittenReservation(UnwrittenReservation&& other) noexcept : bytes_(other.bytes_) { other.bytes_ = 0; }
  UnwrittenReservation& operator=(UnwrittenReservation&& other) noexcept;
  UnwrittenReservation(const UnwrittenReservation&) = delete;
  UnwrittenReservation& operator=(const UnwrittenReservation&) = delete;
  ~UnwrittenReservation();

 private:
  size_t bytes_ = 0;
};

}  // namespace sqex::binding
