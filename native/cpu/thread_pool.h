// Persistent CPU thread pool shared by every CPU kernel. Created lazily on first use, never a
// thread per call. parallel_for may be called from any thread, concurrently: one caller at a
// time drives the pool, any other caller (or a nested call from inside a task) runs its tasks
// inline on its own thread, so nothing ever waits on a busy pool or deadlocks.
#pragma once
#include <cstdint>
#include <type_traits>
#include <utility>

namespace sqex {
namespace cpu {

// Participants a parallel_for can use right now: the caller plus the workers (the count set, or
// the workers actually started where the system refused some).
int pool_size();
// 0 = one per CPU the process may run on. Blocks until any running parallel_for has finished.
void set_pool_size(int n);
// One per CPU the process may run on, read now (~20 us; set_pool_size(0) reads it for the pool).
int default_pool_size();

// How long a worker spins after a job before it sleeps, in microseconds (clamped to [0,
// kMaxWorkerSpinUs]). Takes effect from each worker's next spin.
constexpr int64_t kDefaultWorkerSpinUs = 50;
constexpr int64_t kMaxWorkerSpinUs = 1000000;
int64_t worker_spin_us();
void set_worker_spin_us(int64_t us);

// Type-erased task: call(ctx, i) runs task i. Must not throw (a throw is caught and dropped).
struct TaskRef {
  void* ctx;
  void (*call)(void* ctx, int64_t i);
};

// Runs tasks [0, count) and returns when all are done. With count == pool_size() (the usual
// case) participant p runs task p: the caller is participant 0 and worker k participant k + 1,
// the same on every call, so consecutive phases over the same partition find their data in
// that core's cache. Idle participants steal what is left.
// At most max_participants threads take part (<= 0: no limit), so a caller that sized
// per-thread scratch from pool_size() stays within it even if the pool is resized meanwhile.
// Returns the number of participants (1 when run inline).
int parallel_for_ref(int64_t count, TaskRef task, int max_participants);

template <class F>
int parallel_for(int64_t count, F&& fn, int max_participants = 0) {
  using Fn = typename std::remove_reference<F>::type;
  TaskRef ref{const_cast<void*>(static_cast<const void*>(&fn)),
              [](void* ctx, int64_t i) { (*static_cast<Fn*>(ctx))(i); }};
  return parallel_for_ref(count, ref, max_participants);
}

// Whether every worker of the pool is asleep (waiting to be woken, not spinning after its last
// job): a hint, read without a lock. Waking one costs the caller a futex wake-up and the worker
// arrives tens of microseconds later (on a VM, where waking an idle vCPU takes the host's help:
// NOTES-cpu.md item 73), longer than a small op takes on the caller's thread alone.
bool pool_workers_asleep();

// forward_cpu runs an op solo (SoloScope) when the workers are asleep, the last op ended over
// 100 us ago and the op's cpu_forward_cost_bytes is under this x 2 / the pool's threads
// (dispatch.cpp; the dev harness changes it).
extern double g_solo_max_cost_bytes;

// While one is alive on a thread, that thread's parallel_for calls run their tasks inline (the
// same tasks, in order, as participant 0), waking no worker. `on` false: no effect.
class SoloScope {
 public:
  explicit SoloScope(bool on);
  ~SoloScope();
  SoloScope(const SoloScope&) = delete;
  SoloScope& operator=(const SoloScope&) = delete;

 private:
  bool saved_;
};

// Inside a task: the index of the participant running it, in [0, participants), distinct
// among the threads of one parallel_for (0 when it runs inline). For per-thread scratch.
int participant_index();

// Contiguous split of [0, total) into `parts` nearly equal pieces; piece i is [lo, hi).
inline void split_range(int64_t total, int64_t parts, int64_t i, int64_t* lo, int64_t* hi) {
  const int64_t q = total / parts, r = total % parts;
  *lo = i * q + (i < r ? i : r);
  *hi = *lo + q + (i < r ? 1 : 0);
}

}  // namespace cpu
}  // namespace sqex
