// Async calls: the work on the libuv thread pool, its Status settling a promise on the calling
// thread. The work and the settle step must own or keep alive everything they touch: see
// host_staging.h.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>

#include "sqex/params.h"

namespace sqex::binding {

class StagedHostCall;

// What runs on the calling thread when the work succeeded: writes results back (async host
// calls) and gives the value the promise resolves with, or sets *error to reject it instead.
using Settle = std::function<Napi::Value(const Napi::Env&, Napi::Error*)>;

// A promise settled with work()'s Status: rejected with its error, or resolved with settle's
// value (undefined without settle).
Napi::Promise Queue(const Napi::Env& env, std::function<Status()> work, Settle settle = nullptr);

// An async host call: operands staged (host_staging.h), the work on the pool, results written
// back on this thread when it settles. lane: where the work runs (EnvState::kCpuLane, or a CUDA
// device index). One host call of an env's lane runs on the pool at a time, the lane's others
// waiting in call order (EnvState::host_call_lanes); different lanes run side by side.
Napi::Promise QueueStaged(const Napi::Env& env, std::shared_ptr<StagedHostCall> call, int lane,
                          std::function<Status(const Weights&, const Tensors&)> work);

}  // namespace sqex::binding
