// Transparent huge pages for the result arrays of calls without `out` (result_array.h).
//
// A result of a few MB lands on fresh pages more often than not: glibc maps every block over its
// mmap threshold (at most 32 MiB) afresh, and returns the free top of its heap to the system when a
// garbage collection frees a batch of old results. The kernel then faults in and zeroes each 4 KiB
// page as the op writes y: 17-18 us a page on the dev VM on 2026-12-02 (1.2-3.5 us on earlier
// days), so SE 32x256x56x56 without `out` took 50x its time with it. With the result's whole huge
// pages advised (MADV_HUGEPAGE), one 2 MiB fault replaces 512 small ones: 0.34-0.39 us per 4 KiB
// there, and the same call 5x its `out` time, compaction stalls on fragmented memory included
// (native/dev/NOTES-cpu.md item 52).
//
// Only where the system's THP mode is "madvise": with "always" the kernel does this by itself, and
// "never" is the administrator's choice to keep. The advice changes no byte of the array, only how
// the kernel backs the range: memory the call holds (the ArrayBuffer is alive for the whole call).
#pragma once
#include <cstddef>

namespace sqex::binding {

// Advises the whole huge pages inside [data, data + bytes) for transparent huge pages, on Linux where
// the THP mode is "madvise"; elsewhere, or when the range holds no whole huge page, does nothing.
// The huge page size is the kernel's (hpage_pmd_size: 2 MiB on x86-64, 512 MiB on arm64 with 64 KiB
// pages), read once. Never fails: a refused advice leaves the range as it was.
void AdviseHugePages(void* data, size_t bytes) noexcept;

}  // namespace sqex::binding
