#include "binding/env_state.h"

#include "sqex/cuda_api.h"

namespace sqex::binding {

EnvState::~EnvState() {
  // Not expected (a waiting call implies a running one, whose completion at teardown drops the
  // rest): a call left here is leaked rather than deleted, since deleting it deletes napi
  // references, which this late in teardown Node may already have finalized.
  for (auto& lane : host_call_lanes) {
    for (auto& call : lane.second.waiting) (void)call.release();
  }
  // Not taken back from V8's external-memory count: the isolate goes with the env.
  for (const auto& [address, allocation] : device_allocations) {
    // Nothing can report an error any more (no JS runs in this env); a failed free (a sticky
    // error from an earlier kernel) leaves that block to the process's exit.
    try {
      (void)cuda_free(allocation.device, reinterpret_cast<void*>(address));
    } catch (...) {
      // A failed free's message could not be built (bad_alloc): a destructor must not throw.
    }
  }
}

void InitEnvState(Napi::Env env) {
  if (env.GetInstanceData<EnvState>() != nullptr) return;
  auto* state = new EnvState();
  env.SetInstanceData<EnvState>(state);
  const Napi::Value ctor = env.Global().Get("ArrayBuffer");
  if (ctor.IsFunction()) state->array_buffer = Napi::Persistent(ctor.As<Napi::Function>());
}

EnvState& StateOf(const Napi::Env& env) {
  EnvState* state = env.GetInstanceData<EnvState>();
  if (state == nullptr) {
    // Init sets it before any export can run; made here too rather than dereference null.
    InitEnvState(env);
    state = env.GetInstanceData<EnvState>();
  }
  return *state;
}

}  // namespace sqex::binding
