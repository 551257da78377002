#include "thread_pool.h"

#include "fp_env.h"

#include "system_limits.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

// x86-64 always has SSE2; 32-bit x86 only when the compiler targets it.
#if defined(__x86_64__) || defined(_M_X64) || (defined(__i386__) && defined(__SSE2__)) || \
    (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <immintrin.h>
#define SQEX_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#define SQEX_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define SQEX_CPU_RELAX() ((void)0)
#endif

#if defined(__linux__)
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace sqex {
namespace cpu {
namespace {

using Clock = std::chrono::steady_clock;

// Workers spin this long after a job before sleeping, so back-to-back phases of one op do not
// pay a futex wake-up each; short, so idle spinning does not starve a loaded machine.
// On a loaded machine a worker is often woken onto the caller's core; spinning there it holds the
// caller off the core until its slice ends (~110 us more for one call in ten, per parallel phase,
// beside a busy loop or a compile). So a worker that finds itself on the core the caller last
// published from yields it each time round; on its own core it keeps it (PAUSE), so that it is
// there for the next phase rather than handing the core to the neighbour (yielding everywhere
// cost batch-8 rows their second core beside a busy loop). NOTES-cpu.md item 21.
// The spin is set at run time (set_worker_spin_us; cpu.setWorkerSpin in lib/): longer spins keep
// the workers awake across an app's other work between calls (NOTES-cpu.md item 75).
std::atomic<int64_t> g_spin_us{kDefaultWorkerSpinUs};
constexpr int kCpuCheckSpins = 16;
constexpr int kMaxParticipants = 256;

// The CPU the calling thread runs on, or -1 where that is not known (then workers never yield).
inline int current_cpu() {
#if defined(__linux__)
  return sched_getcpu();  // vDSO (RDPID / RDTSCP on x86): tens of ns
#else
  return -1;
#endif
}

// The CPUs this process may run on: the machine's, fewer when an affinity mask (taskset, a
// cpuset) or a cgroup CPU quota (a container's CPU limit) allows fewer, at least 1. A pool of one
// thread per host CPU in a container limited to 2 would time-slice its own threads against each
// other (a stress test, 2026-11-30, saw 2 threads under `taskset -c 0`).
int available_cpus() {
  unsigned n = std::thread::hardware_concurrency();
  if (n == 0) n = 1;
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int in_mask = CPU_COUNT(&set);
    if (in_mask > 0 && static_cast<unsigned>(in_mask) < n) n = static_cast<unsigned>(in_mask);
  }
  const int quota = cgroup_cpu_limit();
  if (quota > 0 && static_cast<unsigned>(quota) < n) n = static_cast<unsigned>(quota);
#endif
  return static_cast<int>(n);
}

// True while this thread runs pool tasks: a nested parallel_for then runs inline (the caller
// already holds the pool, and std::mutex must not be re-locked by its owner).
thread_local bool t_in_task = false;
thread_local int t_participant = 0;
thread_local bool t_solo = false;  // SoloScope

struct AsParticipant {
  bool saved_in;
  int saved_p;
  explicit AsParticipant(int p) : saved_in(t_in_task), saved_p(t_participant) {
    t_in_task = true;
    t_participant = p;
  }
  ~AsParticipant() {
    t_in_task = saved_in;
    t_participant = saved_p;
  }
};

// One more on `n` for the scope's life (also when a wait throws).
struct Counted {
  std::atomic<int>& n;
  explicit Counted(std::atomic<int>& c) : n(c) { n.fetch_add(1, std::memory_order_relaxed); }
  ~Counted() { n.fetch_sub(1, std::memory_order_relaxed); }
};

// A worker's identity for its waker. asleep and steered_off are guarded by the pool's wake_mutex_.
struct WorkerSlot {
  std::atomic<long> tid{0};  // Linux thread id, 0 until the worker has started
  bool asleep = false;       // in its condition-variable wait
  int steered_off = -1;      // the CPU its waker took out of its affinity, to put back on waking
};

struct alignas(64) Cursor {
  std::atomic<int64_t> next{0};
  int64_t end = 0;
};

// One parallel_for. A worker waking up late (descheduled on a loaded machine) only finds
// exhausted cursors: the caller waits for tasks to finish, never for idle workers to check in.
// The pool owns its Jobs and reuses one once no worker holds it (pins == 0): allocating one per
// parallel_for cost ~1 us a phase, since the worker often dropped the last reference and the free
// went to the caller's malloc arena under its lock (NOTES-cpu.md item 53).
struct Job {
  TaskRef task{nullptr, nullptr};
  int participants = 1;
  int capacity = 0;  // cursors allocated
  std::unique_ptr<Cursor[]> cursors;
  std::atomic<int64_t> remaining{0};
  // Workers that took this job from current_ and have not finished with it. Taken under
  // wake_mutex_ while current_ names the job, released (release order) when done with it; the
  // caller reuses the job only after reading 0 (acquire order), once current_ no longer names it.
  std::atomic<int> pins{0};

  void call(int64_t i) {
    try {
      task.call(task.ctx, i);
    } catch (...) {
      // Kernels do not throw; nothing may escape a worker thread.
    }
  }

  // Participant p: its own range first, then whatever is left in the others'.
  void work(int p) {
    for (int k = 0; k < participants; ++k) {
      Cursor& c = cursors[(p + k) % participants];
      for (;;) {
        const int64_t i = c.next.fetch_add(1, std::memory_order_relaxed);
        if (i >= c.end) break;
        call(i);
        remaining.fetch_sub(1, std::memory_order_acq_rel);
      }
    }
  }
};

class Pool {
 public:
  // The participants an op gets: the target, or fewer once a start of the workers fell short of it
  // (the system refused threads: a process or cgroup thread limit).
  int size() {
    std::lock_guard<std::mutex> g(config_mutex_);
    const int target = target_size_locked();
    return started_for_ == target ? static_cast<int>(threads_.size()) + 1 : target;
  }

  // One per CPU the process may run on now (~20 us: glibc reads sysfs for hardware_concurrency).
  static int default_size() { return std::min(available_cpus(), kMaxParticipants); }

  bool workers_asleep() const {
    const int started = started_.load(std::memory_order_relaxed);
    return started > 0 && asleep_.load(std::memory_order_relaxed) >= started;
  }

  void set_size(int n) {
    std::lock_guard<std::mutex> run(run_mutex_);  // waits for a running job
    std::lock_guard<std::mutex> g(config_mutex_);
    requested_ = n < 0 ? 0 : n;
    // The default again: read anew, so that an affinity or quota changed since counts.
    if (requested_ == 0) default_ = 0;
    stop_workers_locked();
  }

  int run(int64_t count, TaskRef task, int max_participants) {
    if (count <= 0) return 1;
    if (t_in_task || t_solo || count == 1) return run_inline(count, task);
    std::unique_lock<std::mutex> run(run_mutex_, std::try_to_lock);
    if (!run.owns_lock()) return run_inline(count, task);  // pool busy: do it here
    int workers;
    {
      std::lock_guard<std::mutex> g(config_mutex_);
      ensure_workers_locked();
      workers = static_cast<int>(threads_.size());
    }
    int participants = workers + 1;
    if (max_participants > 0) participants = std::min(participants, max_participants);
    if (count < participants) participants = static_cast<int>(count);
    if (participants <= 1) return run_inline(count, task);

    Job* const job = take_job_locked(participants);
    if (!job) return run_inline(count, task);
    job->task = task;
    job->participants = participants;
    job->remaining.store(count, std::memory_order_relaxed);
    for (int p = 0; p < participants; ++p) {
      int64_t lo, hi;
      split_range(count, participants, p, &lo, &hi);
      job->cursors[p].next.store(lo, std::memory_order_relaxed);
      job->cursors[p].end = hi;
    }
    {
      std::lock_guard<std::mutex> g(wake_mutex_);
      current_ = job;
      const int cpu = current_cpu();
      caller_cpu_.store(cpu, std::memory_order_relaxed);
      if (asleep_.load(std::memory_order_relaxed) > 0) steer_sleepers_locked(cpu);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_cv_.notify_all();

    {
      AsParticipant as(0);
      job->work(0);
    }
    int spins = 0;
    while (job->remaining.load(std::memory_order_acquire) != 0) {
      if (++spins < 2048) {
        SQEX_CPU_RELAX();
      } else {
        std::this_thread::yield();
      }
    }
    caller_cpu_.store(current_cpu(), std::memory_order_relaxed);  // for the spin until the next job
    {
      std::lock_guard<std::mutex> g(wake_mutex_);
      if (current_ == job) current_ = nullptr;
    }
    return participants;
  }

 private:
  // Never more than the pool starts (kMaxParticipants): the kernels size per-thread scratch from
  // it (a request of 1024 once sized ECA's for 1024 threads: 1.6 GB for a 512 KB input).
  int target_size_locked() {
    if (requested_ > 0) return std::min(requested_, kMaxParticipants);
    // Read when first needed and at set_size(0), not per op (default_size costs ~20 us).
    if (default_ == 0) default_ = default_size();
    return default_;
  }

  // A Job no worker holds, with cursors for `participants`; null if none could be allocated.
  // With run_mutex_ held. Each worker holds at most one job, so there are at most (the most
  // workers the pool has had) + 1: 257 jobs of 256 cursors, ~4 MiB, at the very worst.
  Job* take_job_locked(int participants) {
    Job* idle = nullptr;
    for (const auto& j : jobs_) {
      if (j->pins.load(std::memory_order_acquire) != 0) continue;
      if (j->capacity >= participants) return j.get();
      idle = j.get();
    }
    try {
      if (!idle) {
        jobs_.push_back(std::unique_ptr<Job>(new Job()));
        idle = jobs_.back().get();
      }
      idle->cursors.reset(new Cursor[participants]);
    } catch (...) {
      return nullptr;
    }
    idle->capacity = participants;
    return idle;
  }

  static int run_inline(int64_t count, TaskRef task) {
    AsParticipant as(0);
    for (int64_t i = 0; i < count; ++i) {
      try {
        task.call(task.ctx, i);
      } catch (...) {
      }
    }
    return 1;
  }

  // A worker that fails to wait (std::system_error) just ends: its share of any later job is
  // taken by the other participants, since nobody waits for a worker to check in.
  void worker_main(int index, uint64_t seen, WorkerSlot* slot) {
    try {
      worker_loop(index, seen, slot);
    } catch (...) {
      // A worker that could not wait has ended: it no longer counts towards "all asleep".
      started_.fetch_sub(1, std::memory_order_relaxed);
    }
    // No waker may touch this thread id once the thread is gone (the id can be reused).
    try {
      std::lock_guard<std::mutex> g(wake_mutex_);
      slot->tid.store(0, std::memory_order_relaxed);
      slot->asleep = false;
    } catch (...) {
      slot->tid.store(0, std::memory_order_relaxed);
    }
  }

  // Before waking sleeping workers (wake_mutex_ held): each one's affinity without the caller's
  // CPU, for the wake-up only. In a VM an idle vCPU looks preempted to the guest's scheduler, which
  // then wakes a worker onto the waker's own CPU, behind the caller: after 100 ms idle the worker
  // first ran 0.8-7.7 ms after the publish (at the end of the caller's time slice), and stayed on
  // the caller's CPU; narrowed, 0.1-0.8 ms, on the other CPU (NOTES-cpu.md item 74). The worker
  // puts the CPU back as it wakes (unsteer_self).
  // At most as many workers as there are other CPUs in a worker's mask are steered (a pool of 32
  // on 2 CPUs all sent to the one other CPU ran a trivial job after 300 us idle in 520-836 us
  // against 56-65; a review), and none in a forked child, whose slots name its parent's threads.
  void steer_sleepers_locked(int cpu) {
#if defined(__linux__)
    if (cpu < 0 || cpu >= CPU_SETSIZE || getpid() != owner_pid_) return;
    int steered = 0;
    for (const auto& slot : slots_) {
      const long tid = slot->tid.load(std::memory_order_relaxed);
      if (!slot->asleep || tid == 0) continue;
      if (slot->steered_off >= 0) {
        ++steered;
        continue;
      }
      cpu_set_t now;
      if (sched_getaffinity(static_cast<pid_t>(tid), sizeof now, &now) != 0 || !CPU_ISSET(cpu, &now) ||
          steered >= CPU_COUNT(&now) - 1)
        continue;
      cpu_set_t narrowed = now;
      CPU_CLR(cpu, &narrowed);
      if (sched_setaffinity(static_cast<pid_t>(tid), sizeof narrowed, &narrowed) != 0) continue;
      slot->steered_off = cpu;
      ++steered;
    }
#else
    (void)cpu;
#endif
  }

  // On waking (wake_mutex_ held): the CPU the waker took out goes back into this thread's
  // affinity, whatever else changed it meanwhile (taskset, a cpuset). Kept for the next wake-up
  // if that fails.
  static void unsteer_self(WorkerSlot* slot) {
#if defined(__linux__)
    cpu_set_t now;
    if (sched_getaffinity(0, sizeof now, &now) != 0) return;
    CPU_SET(slot->steered_off, &now);
    if (sched_setaffinity(0, sizeof now, &now) == 0) slot->steered_off = -1;
#else
    slot->steered_off = -1;
#endif
  }

  void worker_loop(int index, uint64_t seen, WorkerSlot* slot) {
#if defined(__linux__)
    slot->tid.store(static_cast<long>(syscall(SYS_gettid)), std::memory_order_relaxed);
#endif
    // A worker inherits the floating-point state of the thread that started it; it runs only
    // this pool's jobs, under the default state, for its whole life (fp_env.h).
    cpu::DefaultFpEnv fp_env;
    t_in_task = true;
    t_participant = index + 1;
    for (;;) {
      // Spin briefly, then sleep until the generation moves.
      const Clock::time_point start = Clock::now();
      int spins = 0;
      while (generation_.load(std::memory_order_acquire) == seen && !stop_.load(std::memory_order_relaxed)) {
        SQEX_CPU_RELAX();
        if ((++spins % kCpuCheckSpins) != 0) continue;
        const int cpu = current_cpu();
        if (cpu >= 0 && cpu == caller_cpu_.load(std::memory_order_relaxed)) std::this_thread::yield();
        if (Clock::now() - start > std::chrono::microseconds(g_spin_us.load(std::memory_order_relaxed))) {
          std::unique_lock<std::mutex> lk(wake_mutex_);
          {
            const Counted asleep(asleep_);
            slot->asleep = true;
            wake_cv_.wait(lk, [&] {
              return generation_.load(std::memory_order_acquire) != seen || stop_.load(std::memory_order_relaxed);
            });
            slot->asleep = false;
          }
          if (slot->steered_off >= 0) unsteer_self(slot);
          break;
        }
      }
      if (stop_.load(std::memory_order_acquire)) return;
      Job* job;
      {
        std::lock_guard<std::mutex> g(wake_mutex_);
        job = current_;
        if (job) job->pins.fetch_add(1, std::memory_order_relaxed);
        seen = generation_.load(std::memory_order_relaxed);
      }
      if (job) {
        if (index + 1 < job->participants) job->work(index + 1);
        job->pins.fetch_sub(1, std::memory_order_release);
      }
    }
  }

  void ensure_workers_locked() {
    const int target = target_size_locked();
    // Started for this target already, even if the system gave fewer threads than asked: a short
    // pool is kept, not stopped and started again at every op (an attack under a process limit of
    // 16 threads and setThreads(64) saw 466 thread ids in 50 ops).
    if (started_for_ == target) return;
    const int want = target - 1;
    stop_workers_locked();
    const uint64_t seen = generation_.load(std::memory_order_acquire);
    for (int i = 0; i < want; ++i) {
      try {
        slots_.push_back(std::unique_ptr<WorkerSlot>(new WorkerSlot()));
        WorkerSlot* slot = slots_.back().get();
        threads_.emplace_back([this, i, seen, slot] { worker_main(i, seen, slot); });
      } catch (...) {
        if (slots_.size() > threads_.size()) slots_.pop_back();
        break;  // could not start a thread: run with fewer
      }
    }
    started_.store(static_cast<int>(threads_.size()), std::memory_order_relaxed);
    started_for_ = target;
#if defined(__linux__)
    owner_pid_ = getpid();
#endif
  }

  void stop_workers_locked() {
    started_for_ = -1;  // also when none started: setThreads tries a refused start again
    if (threads_.empty()) return;
    {
      std::lock_guard<std::mutex> g(wake_mutex_);
      stop_.store(true, std::memory_order_release);
    }
    wake_cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    slots_.clear();
    started_.store(0, std::memory_order_relaxed);
    stop_.store(false, std::memory_order_release);
  }

  std::mutex run_mutex_;     // held by the one caller driving the pool
  std::mutex config_mutex_;  // guards requested_, default_, started_for_ and threads_
  int requested_ = 0;
  int default_ = 0;        // default_size() as last read (0: not yet)
  int started_for_ = -1;   // the target the running workers were started for (-1: none running)
  std::vector<std::thread> threads_;
  // One per thread in threads_ (their wake-up state); changed with threads_, under config_mutex_
  // and run_mutex_, so a caller holding run_mutex_ reads it unlocked.
  std::vector<std::unique_ptr<WorkerSlot>> slots_;
#if defined(__linux__)
  pid_t owner_pid_ = 0;  // the process that started the workers (slots_ name its threads)
#endif

  std::vector<std::unique_ptr<Job>> jobs_;  // guarded by run_mutex_; never shrinks (pool() is never destroyed)

  std::mutex wake_mutex_;  // guards current_
  std::condition_variable wake_cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  Job* current_ = nullptr;  // the job being run, or null
  // Workers running, and of them those waiting on wake_cv_ (pool_workers_asleep: hints only).
  std::atomic<int> started_{0};
  std::atomic<int> asleep_{0};
  std::atomic<int> caller_cpu_{-1};  // where the last job was published from (current_cpu())
};

// Never destroyed: joining threads from static destructors at process exit (or DLL unload on
// Windows) can deadlock, and the OS reclaims the threads anyway.
Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

int pool_size() { return pool().size(); }
int default_pool_size() { return Pool::default_size(); }
void set_pool_size(int n) { pool().set_size(n); }
int64_t worker_spin_us() { return g_spin_us.load(std::memory_order_relaxed); }
void set_worker_spin_us(int64_t us) {
  g_spin_us.store(us < 0 ? 0 : us > kMaxWorkerSpinUs ? kMaxWorkerSpinUs : us, std::memory_order_relaxed);
}
int parallel_for_ref(int64_t count, TaskRef task, int max_participants) {
  return pool().run(count, task, max_participants);
}
int participant_index() { return t_participant; }
bool pool_workers_asleep() { return pool().workers_asleep(); }
SoloScope::SoloScope(bool on) : saved_(t_solo) { t_solo = saved_ || on; }
SoloScope::~SoloScope() { t_solo = saved_; }

}  // namespace cpu
}  // namespace sqex
