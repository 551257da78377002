// What the system lets this process use: CPUs (a cgroup CPU quota) and memory (MemAvailable and a
// cgroup memory limit). Linux reads /proc and the cgroup files; elsewhere "unknown".
#pragma once
#include <cstdint>

namespace sqex {
namespace cpu {

// A cgroup CPU limit as ceil(quota / period) CPUs, or 0 (none, or not readable).
int cgroup_cpu_limit();

// Bytes the process can still allocate and touch without swapping or meeting the OOM killer, or
// -1 where unknown: the least of the system's MemAvailable (/proc/meminfo) and, on every level of
// the process's memory cgroup up to the root, its limit less its usage (less its file pages, which
// the kernel reclaims before its OOM killer acts). Read on each call (tens of
// microseconds): asked only before allocations that grow without bound under overcommit (CBAM's
// maps, async staging), to refuse with a coded error before the kernel's OOM killer ends the
// process (an allocation under overcommit succeeds, and the pages fault in later).
int64_t available_memory_bytes();

}  // namespace cpu
}  // namespace sqex
