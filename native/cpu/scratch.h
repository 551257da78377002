// Scratch buffers that outlive a call. Made anew each call (std::vector, value-initialised) they
// were zeroed every time, and with glibc's default thresholds (a process whose frees have not
// raised them) their heap pages were trimmed after each call and faulted in again on the next:
// SE 8x2048x7x7 spent half its time there (NOTES-cpu.md items 64 and 70).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>

namespace sqex {
namespace cpu {

// A buffer that resize never shrinks, and grows without zeroing: every user writes each element
// it reads first. new T[] throws std::bad_alloc, which the callers turn into OutOfMemory.
template <class T>
struct Buffer {
  std::unique_ptr<T[]> p;
  int64_t cap = 0;
  void resize(int64_t n) {
    if (n > cap) {
      p.reset(new T[size_t(n)]);  // not value-initialised
      cap = n;
    }
#ifdef SQEX_POISON_SCRATCH
    // Check builds (the sanitizer build, the harness's `check`): all bits set (NaN in float and
    // double) at every call, so an element read before this call wrote it shows. The buffer is
    // kept, as in the shipped build, so the page-fault tests hold there too.
    if (cap > 0) std::memset(static_cast<void*>(p.get()), 0xff, size_t(cap) * sizeof(T));
#endif
  }
  T* data() const { return p.get(); }
  T& operator[](size_t i) const { return p[i]; }
  int64_t bytes() const { return cap * int64_t(sizeof(T)); }
};

// The scratch of the last call of one kind (Set has bytes()), kept for the next: one set for the
// process, taken by one call at a time (a concurrent call makes its own), kept up to
// kKeptScratchMaxBytes.
constexpr int64_t kKeptScratchMaxBytes = int64_t(32) << 20;

template <class Set>
class KeptScratch {
 public:
  // The kept set, or a new one; null when there is no memory for one.
  static std::unique_ptr<Set> take() {
    std::unique_ptr<Set> set;
    {
      Store& s = store();
      std::lock_guard<std::mutex> lock(s.mutex);
      set = std::move(s.set);
    }
    if (!set) set.reset(new (std::nothrow) Set());
    return set;
  }
  // Keeps `set` for the next call unless it is too large or a larger one is kept already.
  static void keep(std::unique_ptr<Set> set) {
    if (!set || set->bytes() > kKeptScratchMaxBytes) return;
    Store& s = store();
    std::lock_guard<std::mutex> lock(s.mutex);
    if (!s.set || s.set->bytes() < set->bytes()) s.set = std::move(set);
  }

 private:
  struct Store {
    std::mutex mutex;
    std::unique_ptr<Set> set;
  };
  // Never destroyed, as the pool (thread_pool.cpp): an async call still running on a libuv thread
  // while the process exits must not meet a destroyed mutex when it puts its scratch back.
  static Store& store() {
    static Store* s = new Store();
    return *s;
  }
};

// Takes a set for the life of a scope and keeps it for the next call when the scope ends
// (on an error too: the buffers hold nothing a later call reads before writing). False when
// there was no memory for a set.
template <class Set>
class ScratchLease {
 public:
  ScratchLease() : set_(KeptScratch<Set>::take()) {}
  ~ScratchLease() { KeptScratch<Set>::keep(std::move(set_)); }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
  explicit operator bool() const { return set_ != nullptr; }
  Set& operator*() const { return *set_; }
  Set* operator->() const { return set_.get(); }

 private:
  std::unique_ptr<Set> set_;
};

}  // namespace cpu
}  // namespace sqex
