#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <immintrin.h>
#define SQEX_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#define SQEX_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define SQEX_CPU_RELAX() ((void)0)
#endif

namespace sqex {
namespace cpu {
namespace {

// Workers spin this long after a job before sleeping, so back-to-back phases of one op (and
// back-to-back ops) do not pay a futex wake-up each.
constexpr auto kSpin = std::chrono::microseconds(200);
constexpr int kMaxParticipants = 256;

// True while this thread runs pool tasks: a nested parallel_for then runs inline (the caller
// already holds the pool, and std::mutex must not be re-locked by its owner).
thread_local bool t_in_task = false;
thread_local int t_participant = 0;

struct AsParticipant {
  int saved;
  explicit AsParticipant(int p) : saved(t_participant) { t_participant = p; }
  ~AsParticipant() { t_participant = saved; }
};

struct InTask {
  bool saved;
  InTask() : saved(t_in_task) { t_in_task = true; }
  ~InTask() { t_in_task = saved; }
};

struct alignas(64) Cursor {
  std::atomic<int64_t> next{0};
  int64_t end = 0;
};

class Pool {
 public:
  int size() {
    std::lock_guard<std::mutex> g(config_mutex_);
    return target_size_locked();
  }

  void set_size(int n) {
    std::lock_guard<std::mutex> run(run_mutex_);  // waits for a running job
    std::lock_guard<std::mutex> g(config_mutex_);
    requested_ = n < 0 ? 0 : n;
    stop_workers_locked();
  }

  int run(int64_t count, TaskRef task, int max_participants) {
    if (count <= 0) return 1;
    if (t_in_task) return run_inline(count, task);
    std::unique_lock<std::mutex> run(run_mutex_, std::try_to_lock);
    if (!run.owns_lock() || count == 1) return run_inline(count, task);
    int workers;
    {
      std::lock_guard<std::mutex> g(config_mutex_);
      ensure_workers_locked();
      workers = static_cast<int>(threads_.size());
    }
    if (workers == 0) return run_inline(count, task);

    int participants = workers + 1;
    if (max_participants > 0) participants = std::min(participants, max_participants);
    if (count < participants) participants = int(count);
    if (participants <= 1) return run_inline(count, task);
    task_ = task;
    failed_.store(false, std::memory_order_relaxed);
    for (int p = 0; p < participants; ++p) {
      int64_t lo, hi;
      split_range(count, participants, p, &lo, &hi);
      cursors_[p].next.store(lo, std::memory_order_relaxed);
      cursors_[p].end = hi;
    }
    participants_ = participants;
    workers_busy_.store(workers, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> g(wake_mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_cv_.notify_all();

    {
      InTask in_task;
      AsParticipant as(0);
      work(0);
    }
    // Wait for every worker to leave the job before its state can be reused.
    int spins = 0;
    while (workers_busy_.load(std::memory_order_acquire) != 0) {
      if (++spins < 4096) {
        SQEX_CPU_RELAX();
      } else {
        std::this_thread::yield();
      }
    }
    return participants;
  }

 private:
  int target_size_locked() const {
    if (requested_ > 0) return requested_;
    unsigned hc = std::thread::hardware_concurrency();
    return hc == 0 ? 1 : static_cast<int>(hc);
  }

  static int run_inline(int64_t count, TaskRef task) {
    AsParticipant as(0);
    for (int64_t i = 0; i < count; ++i) call_guarded(task, i);
    return 1;
  }

  static bool call_guarded(TaskRef task, int64_t i) {
    try {
      task.call(task.ctx, i);
      return true;
    } catch (...) {
      return false;
    }
  }

  // Participant p: its own range first, then whatever is left in the others'.
  void work(int p) {
    const int n = participants_;
    for (int k = 0; k < n; ++k) {
      Cursor& c = cursors_[(p + k) % n];
      for (;;) {
        int64_t i = c.next.fetch_add(1, std::memory_order_relaxed);
        if (i >= c.end) break;
        if (!call_guarded(task_, i)) failed_.store(true, std::memory_order_relaxed);
      }
    }
  }

  void worker_main(int index, uint64_t seen) {
    t_in_task = true;
    for (;;) {
      // Spin briefly, then sleep until the generation moves.
      auto start = std::chrono::steady_clock::now();
      int spins = 0;
      while (generation_.load(std::memory_order_acquire) == seen && !stop_.load(std::memory_order_relaxed)) {
        SQEX_CPU_RELAX();
        if ((++spins & 255) == 0 && std::chrono::steady_clock::now() - start > kSpin) {
          std::unique_lock<std::mutex> lk(wake_mutex_);
          wake_cv_.wait(lk, [&] {
            return generation_.load(std::memory_order_acquire) != seen || stop_.load(std::memory_order_relaxed);
          });
          break;
        }
      }
      if (stop_.load(std::memory_order_acquire)) return;
      seen = generation_.load(std::memory_order_acquire);
      if (index + 1 < participants_) {
        t_participant = index + 1;
        work(index + 1);
        t_participant = 0;
      }
      workers_busy_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  void ensure_workers_locked() {
    const int want = std::min(target_size_locked(), kMaxParticipants) - 1;
    if (static_cast<int>(threads_.size()) == want) return;
    stop_workers_locked();
    const uint64_t seen = generation_.load(std::memory_order_acquire);
    for (int i = 0; i < want; ++i) {
      try {
        threads_.emplace_back([this, i, seen] { worker_main(i, seen); });
      } catch (...) {
        break;  // could not start a thread: run with fewer
      }
    }
  }

  void stop_workers_locked() {
    if (threads_.empty()) return;
    {
      std::lock_guard<std::mutex> g(wake_mutex_);
      stop_.store(true, std::memory_order_release);
    }
    wake_cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    stop_.store(false, std::memory_order_release);
  }

  std::mutex run_mutex_;     // held by the one caller driving the pool
  std::mutex config_mutex_;  // guards requested_ and threads_
  int requested_ = 0;
  std::vector<std::thread> threads_;

  std::mutex wake_mutex_;
  std::condition_variable wake_cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};

  TaskRef task_{nullptr, nullptr};
  int participants_ = 1;
  Cursor cursors_[kMaxParticipants];
  std::atomic<int> workers_busy_{0};
  std::atomic<bool> failed_{false};
};

// Never destroyed: joining threads from static destructors at process exit (or DLL unload on
// Windows) can deadlock, and the OS reclaims the threads anyway.
Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

int pool_size() { return pool().size(); }
void set_pool_size(int n) { pool().set_size(n); }
int parallel_for_ref(int64_t count, TaskRef task, int max_participants) {
  return pool().run(count, task, max_participants);
}
int participant_index() { return t_participant; }

}  // namespace cpu
}  // namespace sqex
