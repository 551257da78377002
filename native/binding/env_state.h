// What the binding keeps per Node environment (the main thread and each worker_threads Worker
// load the addon into an env of their own): one napi instance-data slot holds it, set at Init.
#pragma once
#include <napi.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <unordered_map>

namespace sqex::binding {

struct EnvState {
  // setResultAllocator's function (result_array.cpp); empty until lib/ registers one.
  Napi::FunctionReference result_allocator;
  // The global ArrayBuffer constructor as it was when the addon loaded in this env: the result
  // allocation of a binding used without lib/ (result_array.cpp).
  Napi::FunctionReference array_buffer;

  // Device memory that cudaAlloc returned in this env and cudaFree has not freed yet, by address.
  // Only the env's JS thread touches it (cudaAlloc, cudaFree, teardown).
  struct DeviceAllocation {
    int device;
    size_t bytes;  // reported to V8 as external memory while allocated (cuda_exports.cpp)
  };
  std::unordered_map<uintptr_t, DeviceAllocation> device_allocations;

  // Staged host calls (async_worker.cpp), one lane per place they run (the CPU, each CUDA device):
  // at most one call of a lane is on the libuv pool; the rest wait here in call order, not yet
  // queued, so that they neither hold the pool's threads from fs, dns, crypto and zlib nor make a
  // worker's terminate() (or process.exit()) wait for all of them. Lanes run side by side, as the
  // CPU and the devices do. Only the env's JS thread touches these.
  struct HostCallLane {
    std::deque<std::unique_ptr<Napi::AsyncWorker>> waiting;
    bool running = false;
  };
  std::map<int, HostCallLane> host_call_lanes;  // kCpuLane or a CUDA device index
  static constexpr int kCpuLane = -1;

  // Runs at env teardown (napi's instance-data finalizer, after Node has waited for the env's
  // pending thread-pool work). A worker's FinalizationRegistry callbacks never run when it ends,
  // so its tensors' and blocks' device memory would otherwise stay allocated until the process
  // exits: each worker started and ended leaked what it had not disposed. cudaFree waits for the
  // device's pending work first, so a kernel still reading a tensor finishes before it goes.
  // Every lane's waiting calls are gone by then (its running call's completion drops the rest).
  ~EnvState();
};

// Creates the env's state; Init calls it once per env.
void InitEnvState(Napi::Env env);

// The env's state (never null after Init).
EnvState& StateOf(const Napi::Env& env);

}  // namespace sqex::binding
