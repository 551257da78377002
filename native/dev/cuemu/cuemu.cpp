// cuemu runtime: fibers per block, one OS thread per block, and the CUDA runtime API calls
// that native/cuda and the harness make, all synchronous on host memory. See cuemu.h.
#include "cuemu.h"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define CUEMU_ASAN 1
#endif

#if !defined(__x86_64__)
#error "cuemu's context switch is written for x86-64"
#endif

// Saves the callee-saved registers on the current stack, stores its pointer in *from, and
// resumes the stack `to` (which was left by the same routine, or prepared by make_stack).
extern "C" void cuemu_switch(void** from, void* to);
asm(R"(
.text
.globl cuemu_switch
.type cuemu_switch,@function
cuemu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size cuemu_switch,.-cuemu_switch
)");

namespace cuemu {
namespace {

enum class State { Ready, Barrier, Warp, Done };

struct Fiber {
  void* sp = nullptr;
  State state = State::Ready;
  ThreadCtx c{};
  unsigned lin = 0;  // linear thread index in the block: warp lin / 32, lane lin % 32
  unsigned char* stack = nullptr;  // in the worker's StackArena
  size_t stack_bytes = 0;
};

struct WarpSync {
  int arrived = 0;
  int live = 0;
  unsigned gen = 0;
  unsigned char slots[2][32][16];
  unsigned in[2] = {0, 0};  // lanes that arrived at the generation using slots[i]
};

struct Block {
  std::vector<Fiber> fibers;
  std::vector<WarpSync> warps;
  void* sched_sp = nullptr;
  int live = 0;
  int arrived = 0;
  unsigned gen = 0;
  int acc = 0;
  int result[2] = {0, 0};
  int op = 0;
  unsigned char* smem = nullptr;
  const std::function<void()>* body = nullptr;
#if CUEMU_ASAN
  const void* sched_stack_bottom = nullptr;
  size_t sched_stack_size = 0;
#endif
};

thread_local Block* t_block = nullptr;
thread_local Fiber* t_fiber = nullptr;

size_t stack_bytes() {
#if CUEMU_ASAN
  return size_t(512) << 10;
#else
  return size_t(128) << 10;
#endif
}

// Completes the block barrier: keeps its reduction for the generation it closes (read by the
// waiters after they resume, while the next barrier may already be filling) and wakes them.
void release_barrier(Block& b) {
  b.result[b.gen & 1] = b.acc;
  b.arrived = 0;
  ++b.gen;
  for (auto& o : b.fibers)
    if (o.state == State::Barrier) o.state = State::Ready;
}

// Completes warp wi's rendezvous and wakes its lanes.
void release_warp(Block& b, unsigned wi) {
  WarpSync& w = b.warps[wi];
  w.arrived = 0;
  ++w.gen;
  w.in[w.gen & 1] = 0;  // its last readers (two generations back) have all arrived at this one
  for (size_t i = size_t(wi) * 32; i < size_t(wi) * 32 + 32 && i < b.fibers.size(); ++i)
    if (b.fibers[i].state == State::Warp) b.fibers[i].state = State::Ready;
}

void to_scheduler() {
  Fiber* f = t_fiber;
  Block* b = t_block;
#if CUEMU_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(f->state == State::Done ? nullptr : &fake, b->sched_stack_bottom,
                                 b->sched_stack_size);
#endif
  cuemu_switch(&f->sp, b->sched_sp);
#if CUEMU_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

[[noreturn]] void fiber_entry() {
#if CUEMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &t_block->sched_stack_bottom, &t_block->sched_stack_size);
#endif
  (*t_block->body)();
  Fiber* f = t_fiber;
  Block* b = t_block;
  f->state = State::Done;
  --b->live;
  WarpSync& w = b->warps[f->lin / 32];
  --w.live;
  // An exited thread no longer holds back a barrier or a warp rendezvous.
  if (b->arrived > 0 && b->arrived >= b->live) release_barrier(*b);
  if (w.arrived > 0 && w.arrived >= w.live) release_warp(*b, f->lin / 32);
  to_scheduler();
  trap("a finished fiber was resumed");
}

// Fiber stacks come from one mapping per worker (a guard page per stack would cost a mapping
// each, and vm.max_map_count is ~65k: 528 blocks x 256 threads exceed it), so an overflow is
// caught by a canary at each stack's bottom, checked when the block ends.
constexpr uint64_t kCanary = 0x6375656d75537461ull;
constexpr int kCanaryWords = 512;  // 4 KB: a frame larger than that could still skip it

struct StackArena {
  unsigned char* base = nullptr;
  size_t each = 0;
  int count = 0;
  ~StackArena() {
    if (base) munmap(base, each * count);
  }
  void ensure(int n) {
    if (n <= count) return;
    if (base) munmap(base, each * count);
    each = stack_bytes();
    void* m = mmap(nullptr, each * n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) trap("mmap of the fiber stacks");
    base = static_cast<unsigned char*>(m);
    count = n;
  }
};

// Arenas outlive the launch's worker threads: a later launch's workers take them back, so the
// stack pages its fibers touch stay mapped. A fresh mapping per worker per launch cost a small op
// ~400 page faults a block, about half of its time in the addon's GPU suites (build_addon.sh).
// At most kPooledArenas are kept; more (a launch of more blocks) are unmapped after it.
constexpr size_t kPooledArenas = 32;
std::mutex& g_arena_mutex = *new std::mutex;
std::vector<StackArena*>& g_arenas = *new std::vector<StackArena*>;
StackArena* take_arena() {
  std::lock_guard<std::mutex> lock(g_arena_mutex);
  if (g_arenas.empty()) return new StackArena;
  StackArena* a = g_arenas.back();
  g_arenas.pop_back();
  return a;
}
void give_arena(StackArena* a) {
  {
    std::lock_guard<std::mutex> lock(g_arena_mutex);
    if (g_arenas.size() < kPooledArenas) {
      g_arenas.push_back(a);
      return;
    }
  }
  delete a;
}

void prepare_stack(Fiber& f, unsigned char* stack, size_t bytes) {
#if CUEMU_ASAN
  // A finished fiber never unwinds: its frames' redzones stay poisoned until cleared here.
  __asan_unpoison_memory_region(stack, bytes);
#endif
  f.stack = stack;
  f.stack_bytes = bytes;
  for (int i = 0; i < kCanaryWords; ++i) reinterpret_cast<uint64_t*>(stack)[i] = kCanary;
  uintptr_t top = reinterpret_cast<uintptr_t>(f.stack + f.stack_bytes) & ~uintptr_t(15);
  uint64_t* slot = reinterpret_cast<uint64_t*>(top - 16);
  slot[0] = reinterpret_cast<uint64_t>(&fiber_entry);  // cuemu_switch's `ret` lands here
  uint64_t* sp = slot - 6;                               // rbp rbx r12 r13 r14 r15
  for (int i = 0; i < 6; ++i) sp[i] = 0;
  sp -= 1;                                               // mxcsr + x87 control word
  uint32_t csr[2];
  asm volatile("stmxcsr %0" : "=m"(csr[0]));
  asm volatile("fnstcw %0" : "=m"(csr[1]));
  std::memcpy(sp, csr, 8);
  f.sp = sp;
}

void check_canary(const Fiber& f) {
  for (int i = 0; i < kCanaryWords; ++i)
    if (reinterpret_cast<const uint64_t*>(f.stack)[i] != kCanary) trap("a fiber overflowed its stack");
}

enum class Order { Forward, Reverse, Shuffle };
Order order_from_env() {
  const char* o = std::getenv("CUEMU_ORDER");
  if (!o || !*o || !std::strcmp(o, "forward")) return Order::Forward;
  if (!std::strcmp(o, "reverse")) return Order::Reverse;
  if (!std::strcmp(o, "shuffle")) return Order::Shuffle;
  std::fprintf(stderr, "cuemu: CUEMU_ORDER must be forward, reverse or shuffle, not %s\n", o);
  std::exit(2);
}

// Runs one block to completion on the calling OS thread.
void run_block(Block& b, std::vector<Fiber>& pool, StackArena& arena, dim3 grid, dim3 block, uint3 bid,
               Order order, std::mt19937& rng) {
  const int n = static_cast<int>(block.x * block.y * block.z);
  if (static_cast<int>(pool.size()) < n) pool.resize(n);
  arena.ensure(n);
  b.fibers.swap(pool);
  b.warps.assign((n + 31) / 32, WarpSync{});
  for (int i = 0; i < n; ++i) {
    Fiber& f = b.fibers[i];
    f.state = State::Ready;
    f.lin = static_cast<unsigned>(i);
    f.c.thread_idx = uint3{static_cast<unsigned>(i % block.x), static_cast<unsigned>(i / block.x % block.y),
                           static_cast<unsigned>(i / (block.x * block.y))};
    f.c.block_idx = bid;
    f.c.block_dim = block;
    f.c.grid_dim = grid;
    prepare_stack(f, arena.base + arena.each * i, arena.each);
    ++b.warps[i / 32].live;
  }
  b.live = n;
  b.arrived = 0;
  b.acc = 0;
  b.gen = 0;
  std::vector<int> idx(n);
  for (int i = 0; i < n; ++i) idx[i] = order == Order::Reverse ? n - 1 - i : i;
  t_block = &b;
  int done = 0;
  while (done < n) {
    if (order == Order::Shuffle) std::shuffle(idx.begin(), idx.end(), rng);
    bool ran = false;
    for (int k = 0; k < n; ++k) {
      Fiber& f = b.fibers[idx[k]];
      if (f.state != State::Ready) continue;
      ran = true;
      t_fiber = &f;
#if CUEMU_ASAN
      void* fake = nullptr;
      __sanitizer_start_switch_fiber(&fake, f.stack, f.stack_bytes);
#endif
      cuemu_switch(&b.sched_sp, f.sp);
#if CUEMU_ASAN
      __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
      if (f.state == State::Done) ++done;
    }
    if (!ran && done < n) trap("deadlock: every live thread of a block waits at a barrier none can reach");
  }
  t_block = nullptr;
  t_fiber = nullptr;
  for (int i = 0; i < n; ++i) check_canary(b.fibers[i]);
  b.fibers.swap(pool);
}

std::atomic<long long> g_launches{0};

}  // namespace

const ThreadCtx& ctx() {
  if (!t_fiber) trap("threadIdx outside a kernel");
  return t_fiber->c;
}

int block_barrier(int op, int pred) {
  Block* b = t_block;
  Fiber* f = t_fiber;
  const unsigned g = b->gen;
  if (b->arrived == 0) {
    b->op = op;
    b->acc = op == 2 ? 1 : 0;
  } else if (b->op != op) {
    trap("threads of a block wait at different kinds of __syncthreads");
  }
  if (op == 1) b->acc |= pred != 0;
  if (op == 2) b->acc &= pred != 0;
  if (op == 3) b->acc += pred != 0;
  if (++b->arrived >= b->live) {
    release_barrier(*b);
  } else {
    f->state = State::Barrier;
    to_scheduler();
  }
  return b->result[g & 1];
}

void warp_exchange(const void* in, void* out, size_t bytes, int src) {
  Block* b = t_block;
  Fiber* f = t_fiber;
  const unsigned lane = f->lin & 31, wi = f->lin / 32;
  WarpSync& w = b->warps[wi];
  const unsigned g = w.gen;
  std::memcpy(w.slots[g & 1][lane], in, bytes);
  w.in[g & 1] |= 1u << lane;
  if (++w.arrived >= w.live) {
    release_warp(*b, wi);
  } else {
    f->state = State::Warp;
    to_scheduler();
  }
  // A lane that exited before this exchange gave no value. (One that gave it and has run to its
  // end since, before this fiber resumed, did: the last shuffle of a kernel.)
  if (wi * 32 + (src & 31) < b->fibers.size() && (src & 31) != static_cast<int>(lane) &&
      !((w.in[g & 1] >> (src & 31)) & 1u))
    trap("a shuffle reads a lane that has exited (undefined on a GPU)");
  std::memcpy(out, w.slots[g & 1][src & 31], bytes);
}

void spin_yield() {
  if (!t_fiber) return;
  // Give the other fibers of this block a turn, then the other blocks' OS threads.
  to_scheduler();
  sched_yield();
}

unsigned char* dynamic_smem() {
  if (!t_block) trap("dynamic shared memory outside a kernel");
  return t_block->smem;
}

// clock64(): a 62.5 MHz clock, so that the kernels' ~4 s spin-wait trap (2^33 cycles) fires
// only after ~137 s here, where hundreds of emulated blocks share two cores.
long long clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
             .count() /
         16;
}

void trap(const char* where) {
  std::fprintf(stderr, "cuemu: trap: %s\n", where);
  std::fflush(stderr);
  std::abort();
}

std::mutex& g_attr_mutex = *new std::mutex;
std::map<const void*, int>& g_smem_optin = *new std::map<const void*, int>;

void set_max_dynamic_smem(const void* kern, int bytes) {
  std::lock_guard<std::mutex> lock(g_attr_mutex);
  g_smem_optin[kern] = bytes;
}

std::recursive_mutex& stream_mutex() {
  static std::recursive_mutex& m = *new std::recursive_mutex;
  return m;
}

void launch(const void* kern, dim3 grid, dim3 block, size_t smem, cudaStream_t stream, std::function<void()> body) {
  std::lock_guard<std::recursive_mutex> stream_lock(stream_mutex());
  if (record(stream, [=] { launch(kern, grid, block, smem, nullptr, body); })) return;
  const long long nblocks = static_cast<long long>(grid.x) * grid.y * grid.z;
  const int nthreads = static_cast<int>(block.x * block.y * block.z);
  if (nblocks <= 0 || nthreads <= 0 || nthreads > 1024) trap("bad launch configuration");
  {
    std::lock_guard<std::mutex> lock(g_attr_mutex);
    auto it = g_smem_optin.find(kern);
    const long limit = it == g_smem_optin.end() ? 48 * 1024 : it->second;
    if (static_cast<long>(smem) > limit) trap("dynamic shared memory over the kernel's limit (cudaFuncSetAttribute)");
  }
  int occ = 0;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, kern, nthreads, smem);
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  if (nblocks > static_cast<long long>(occ) * prop.multiProcessorCount)
    trap("grid larger than the device holds at once (a persistent grid would deadlock on a GPU)");
  ++g_launches;
  if (std::getenv("CUEMU_PLAN_ONLY")) return;  // with CUEMU_PLAN: list the tile plans, run nothing
  const Order order = order_from_env();
  // One OS thread per block: persistent kernels need every block of the grid running at once.
  std::atomic<long long> next{0};
  auto worker = [&](unsigned seed) {
    std::vector<Fiber> pool;
    StackArena& arena = *take_arena();
    std::mt19937 rng(seed);
    Block b;
    b.body = &body;
    b.smem = static_cast<unsigned char*>(std::malloc(smem ? smem : 1));
    for (long long i; (i = next.fetch_add(1)) < nblocks;) {
      std::memset(b.smem, 0xA5, smem);  // garbage, as on a GPU: a read before a write shows
      const uint3 bid{static_cast<unsigned>(i % grid.x), static_cast<unsigned>(i / grid.x % grid.y),
                      static_cast<unsigned>(i / (static_cast<long long>(grid.x) * grid.y))};
      run_block(b, pool, arena, grid, block, bid, order, rng);
    }
    std::free(b.smem);
    give_arena(&arena);
  };
  // The kernels run on fiber stacks, so a worker's own stack can be small (hundreds of them).
  const long long nworkers = std::min<long long>(nblocks, 1024);
  struct Arg {
    decltype(worker)* fn;
    unsigned seed;
  };
  std::vector<Arg> args(nworkers);
  std::vector<pthread_t> ts(nworkers);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, size_t(1) << 20);
  for (long long t = 1; t < nworkers; ++t) {
    args[t] = Arg{&worker, static_cast<unsigned>(t * 7919 + g_launches)};
    if (pthread_create(&ts[t], &attr, [](void* p) -> void* {
          Arg* a = static_cast<Arg*>(p);
          (*a->fn)(a->seed);
          return nullptr;
        }, &args[t]) != 0)
      trap("pthread_create");
  }
  pthread_attr_destroy(&attr);
  worker(static_cast<unsigned>(g_launches));
  for (long long t = 1; t < nworkers; ++t) pthread_join(ts[t], nullptr);
}

}  // namespace cuemu
