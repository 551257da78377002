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
  void operator()(float* p) const;  // returns the block to the pool (or frees it)
};
using StagingBlock = std::unique_ptr<float[], StagingBlockDeleter>;

// Thrown by AcquireStaging and ReserveStaging when the system cannot hold a fresh block beside the
// memory that calls in flight have reserved and not yet written: under overcommit the allocation
// would succeed and the OOM killer would end the process later, as the pages fault in (an attack
// queued 1000 async calls of 16 MiB tensors on a 23 GiB machine; each staged 32 MiB at call time).
struct StagingRefused : std::bad_alloc {
  double available_bytes = 0;  // what the system had available (host_available_memory_bytes)
  double unwritten_bytes = 0;  // reserved by calls in flight, not yet written
  const char* what() const noexcept override { return "not enough memory available for the staging block"; }
};

class UnwrittenReservation;

// At least `elems` floats, uninitialised (possibly a reused block), for an input the caller fills
// at once. Thread-safe. A fresh block (no cached one fits) must fit in the memory available, less
// a 128 MiB margin for the rest of the process, beside the unwritten bytes of calls in flight,
// else StagingRefused. Blocks of 1 MiB and more are mapped from the system and given back to it
// when freed. Throws std::bad_alloc when the allocation itself fails. A fresh block counts as
// unwritten until *until_filled is released, which the caller does once it has filled the block:
// until its pages are touched, a reading of the available memory by another thread does not see
// them (a review: two Workers staging 256 MiB each both fitted, and the OOM killer ended the
// process).
StagingBlock AcquireStaging(size_t elems, UnwrittenReservation* until_filled);

// An output's block is taken when its call's work starts (AcquireReserved), not when the call is
// made, so that calls waiting their turn (async_worker.h) hold no output memory and a running one
// can reuse a block an earlier call gave back (the one before last: the next call starts before
// the finished one settles and frees its block). At the call, its bytes are checked as a fresh
// block's are (else StagingRefused) and counted as reserved and unwritten until the reservation
// is released, once the work has written the block.
UnwrittenReservation ReserveStaging(size_t elems);
// The block for a reservation of `elems` floats: a cached block or a fresh one, with no check
// (the reservation counted it). Thread-safe. Throws std::bad_alloc when the allocation fails.
StagingBlock AcquireReserved(size_t elems);

// Bytes a call in flight has reserved and not yet written, counted as unwritten while it lives: an
// output block's (ReserveStaging; released once the work has written the block) or a result
// array's that JS allocated for the call (filled when it settles).
class UnwrittenReservation {
 public:
  UnwrittenReservation() = default;
  // Counts `bytes` (no check: a result array JS has allocated already).
  explicit UnwrittenReservation(size_t bytes);
  UnwrittenReservation(UnwrittenReservation&& other) noexcept : bytes_(other.bytes_) { other.bytes_ = 0; }
  UnwrittenReservation& operator=(UnwrittenReservation&& other) noexcept;
  UnwrittenReservation(const UnwrittenReservation&) = delete;
  UnwrittenReservation& operator=(const UnwrittenReservation&) = delete;
  ~UnwrittenReservation();

 private:
  friend UnwrittenReservation ReserveStaging(size_t elems);
  friend StagingBlock AcquireStaging(size_t elems, UnwrittenReservation* until_filled);
  struct Counted {};
  UnwrittenReservation(size_t bytes, Counted) : bytes_(bytes) {}  // already counted
  size_t bytes_ = 0;
};

}  // namespace sqex::binding
