#include "binding/result_pages.h"

#include <cstdint>

#if defined(__linux__)
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14  // Linux 2.6.38; older C library headers lack the name
#endif
#endif

namespace sqex::binding {

#if defined(__linux__)
namespace {

// A small sysfs file's text, NUL-terminated in buf; false when it cannot be read.
bool ReadSmallFile(const char* path, char* buf, size_t cap) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n;
  do {
    n = read(fd, buf, cap - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  return true;
}

// The huge page size to advise in, or 0 where advising changes nothing: THP "always" (the kernel
// already backs large ranges with huge pages) or "never", or no THP in this kernel.
size_t AdvisedHugePageBytes() {
  char buf[128];
  if (!ReadSmallFile("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof buf)) return 0;
  if (std::strstr(buf, "[madvise]") == nullptr) return 0;
  if (!ReadSmallFile("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", buf, sizeof buf)) return 0;
  // Digits by hand: glibc 2.38's headers turn strtoull into __isoc23_strtoull, a symbol past the
  // prebuilds' glibc floor (scripts/elf-floor.js).
  unsigned long long size = 0;
  const char* p = buf;
  for (; *p >= '0' && *p <= '9' && size <= (1ull << 40); ++p) size = size * 10 + static_cast<unsigned>(*p - '0');
  // A power of two from 64 KiB to 16 GiB, or the file is not what this code expects.
  if (p == buf || size < (1ull << 16) || size > (1ull << 34) || (size & (size - 1)) != 0) return 0;
  return static_cast<size_t>(size);
}

}  // namespace
#endif

void AdviseHugePages(void* data, size_t bytes) noexcept {
#if defined(__linux__)
  static const size_t huge = AdvisedHugePageBytes();  // once per process (thread-safe initialisation)
  if (huge == 0 || bytes < huge) return;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data);
  if (begin > UINTPTR_MAX - bytes - huge) return;  // no range this close to the top is user memory
  const uintptr_t mask = ~static_cast<uintptr_t>(huge - 1);
  const uintptr_t lo = (begin + huge - 1) & mask;
  const uintptr_t hi = (begin + bytes) & mask;
  if (hi > lo) (void)madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

}  // namespace sqex::binding
