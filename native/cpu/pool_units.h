// The split path's NHWC pooling units (se.cpp, cbam.cpp): a block of nb samples, each sample's
// rows in pool_chunks(hw, c) chunks (common.h), each chunk's channels in `blocks` blocks. A unit
// sums its rows in order, from zero, into its part of the (sample, chunk) row of partials; the
// thread count sets only the channel blocks and how units are grouped into tasks, neither of
// which changes a channel's order of addition.
#pragma once
#include <algorithm>
#include <cstdint>

#include "common.h"
#include "thread_pool.h"

namespace sqex {
namespace cpu {

struct PoolUnits {
  int64_t hw, cc, chunks, blocks, units;
  int tasks;

  // max_tasks: what the phase would split into (tasks_for); threads: the pool's (1: no blocks).
  PoolUnits(int64_t nb, int64_t hw_, int64_t cc_, int max_tasks, int threads)
      : hw(hw_), cc(cc_), chunks(pool_chunks(hw_, cc_)) {
    blocks = threads > 1 ? pool_channel_blocks(cc, (max_tasks + nb * chunks - 1) / (nb * chunks)) : 1;
    units = nb * chunks * blocks;
    tasks = int(std::min<int64_t>(max_tasks, units));
  }

  struct Unit {
    int64_t row;     // (sample, chunk): the row of partials, n * chunks + chunk
    int64_t n;       // the sample in the block
    int64_t r0, r1;  // pixel rows of the sample
    int64_t c0, c1;  // channels
  };

  Unit at(int64_t u) const {
    Unit x;
    x.row = u / blocks;
    x.n = x.row / chunks;
    split_range(hw, chunks, x.row % chunks, &x.r0, &x.r1);
    pool_channel_block(cc, blocks, u % blocks, &x.c0, &x.c1);
    return x;
  }

  // Units [u0, u1) of task i, and the bytes of x they span (for the kernels' choice of loop).
  void task(int64_t i, int64_t sample_bytes, int64_t* u0, int64_t* u1, int64_t* span) const {
    split_range(units, tasks, i, u0, u1);
    *span = (*u1 - *u0) * sample_bytes / (chunks * blocks);
  }
};

}  // namespace cpu
}  // namespace sqex
