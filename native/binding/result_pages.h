// Transparent huge pages for the result arrays of calls without `out` (result_array.h).
//
// A result of a few MB lands on fresh pages more often than not: glibc maps every block over its
// mmap threshold (at most 32 MiB) afresh, and returns the free top of its heap to the system when a
// garbage collection frees a batch of old results. The kernel then faults in and zeroes each 4 KiB
// page as the op writes y: 12-18 us a page on the dev VM on 2026-12-02 (1.2-3.5 us on earlier
// days). With the result's whole huge pages advised (MADV_HUGEPAGE), one 2 MiB fault replaces 512
// small ones: 0.34-0.39 us per 4 KiB there once the guest had huge pages to hand. Measured
// (native/dev/NOTES-cpu.md item 52): SE 32x256x56x56 without `out` 259-274 -> 23-25 ms (out: ~5),
// compaction stalls on memory fragmented into 4 KiB holes included; a result of 3-5 MiB, which
// holds one or two whole huge pages, 1.2-1.5x faster on fresh memory; under 2 MiB nothing.
//
// Only where the system's THP mode is "madvise": with "always" the kernel does this by itself, and
// "never" is the administrator's choice to keep. The advice changes no byte of the array, only how
// the kernel backs the range, and it is given while the call holds the array. It stays on the
// range after the array is freed: a result under glibc's mmap threshold sits in the heap, whose
// range keeps the flag (a review saw 75 MiB of the heap flagged after 200 calls of 3-8 MB results,
// RSS after a GC 127 against 81-112 MiB without the advice; over 3,000 mixed calls, peak and end
// RSS equal to the build without it). Memory already there is not changed by the flag; what the
// heap later faults into that range comes as huge pages, as glibc's own glibc.malloc.hugetlb=1
// gives for the whole heap. Node has no hook at the array's free to take the advice back.
#pragma once
#include <cstddef>

namespace sqex::binding {

// Advises the whole huge pages inside [data, data + bytes) for transparent huge pages, on Linux where
// the THP mode is "madvise"; elsewhere, or when the range holds no whole huge page, does nothing.
// The huge page size is the kernel's (hpage_pmd_size: 2 MiB on x86-64, 512 MiB on arm64 with 64 KiB
// pages), read once. Never fails: a refused advice leaves the range as it was.
void AdviseHugePages(void* data, size_t bytes) noexcept;

}  // namespace sqex::binding
