/* glibc functions newer than the 2.28 floor that the static libstdc++ references, implemented
 * here because they have no older version to bind to (see glibc_compat.S for the rest).
 *
 * arc4random (glibc 2.36): referenced by std::random_device in libstdc++.a (pulled in with its
 * string instantiations); the addon itself never makes a random_device. Same contract: 32
 * uniformly random bits, never fails.
 */
#include <features.h> /* defines __GLIBC__ */
#if defined(__linux__) && defined(__GLIBC__)
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

__attribute__((visibility("hidden"))) uint32_t __wrap_arc4random(void) {
  uint32_t v = 0;
  /* getentropy (glibc 2.25) fails only without the getrandom syscall (Linux < 3.17). */
  if (getentropy(&v, sizeof v) == 0) return v;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n;
    do {
      n = read(fd, &v, sizeof v);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n == (ssize_t)sizeof v) return v;
  }
  /* No entropy source at all: a clock-seeded mix (splitmix32) rather than a crash. */
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint32_t z = (uint32_t)ts.tv_nsec ^ (uint32_t)(uintptr_t)&v ^ (uint32_t)ts.tv_sec * 0x9e3779b9u;
  z = (z ^ (z >> 16)) * 0x85ebca6bu;
  z = (z ^ (z >> 13)) * 0xc2b2ae35u;
  return z ^ (z >> 16);
}
#endif
