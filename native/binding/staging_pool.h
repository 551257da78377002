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

namespace sqex::binding {

struct StagingBlockDeleter {
  size_t bytes = 0;
  void operator()(float* p) const;  // returns the block to the pool (or frees it)
};
using StagingBlock = std::unique_ptr<float[], StagingBlockDeleter>;

// At least `elems` floats, uninitialised (possibly a reused block). Thread-safe. Throws
// std::bad_alloc when memory is exhausted.
StagingBlock AcquireStaging(size_t elems);

}  // namespace sqex::binding
